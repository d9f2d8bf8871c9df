package api

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/internal/strictjson"
)

var (
	validateOnce sync.Once
	validate     *validator.Validate
)

// validatorInstance reports fields by their JSON names, as clients know them.
func validatorInstance() *validator.Validate {
	validateOnce.Do(func() {
		validate = validator.New(validator.WithRequiredStructEnabled())
		validate.RegisterTagNameFunc(func(f reflect.StructField) string {
			return jsonName(f)
		})
	})
	return validate
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return f.Name
	}
	return name
}

// DecodeJSON reads exactly one JSON value from r's body into dst with the
// decoder the SDK's Context.Bind uses (strictjson), so core and plugin
// routes refuse a body alike, then validates dst's `validate` tags. Every
// failure is a kernel error naming the field, so nothing is written.
func DecodeJSON(r *http.Request, dst any) error {
	if err := strictjson.Decode(r.Header.Get("Content-Type"), r.Body, dst); err != nil {
		return decodeError(err)
	}
	return Validate(dst)
}

func decodeError(err error) error {
	var e *strictjson.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Fault {
	case strictjson.Malformed:
		return &kernel.Error{Kind: kernel.KindBadRequest, Code: kernel.ErrMalformedJSON.Code, Message: e.Message}
	case strictjson.Invalid:
		return kernel.Invalid(kernel.FieldError{Field: e.Field, Message: e.Message})
	case strictjson.Unsupported:
		return kernel.E(kernel.KindUnsupported, "%s", e.Message)
	case strictjson.TooLarge:
		return bodyTooLarge(e.Limit)
	}
	return err
}

// Validate checks v's `validate` tags and reports failures as field errors.
func Validate(v any) error {
	err := validatorInstance().Struct(v)
	var verrs validator.ValidationErrors
	if err == nil || !errors.As(err, &verrs) {
		return nil
	}
	fields := make([]kernel.FieldError, 0, len(verrs))
	for _, fe := range verrs {
		fields = append(fields, kernel.FieldError{Field: fieldPath(fe.Namespace()), Message: fieldMessage(fe)})
	}
	return kernel.Invalid(fields...)
}

// fieldPath drops the root struct's name: "createTenant.admin.email" -> "admin.email".
func fieldPath(ns string) string {
	_, rest, ok := strings.Cut(ns, ".")
	if !ok {
		return ns
	}
	return rest
}

func fieldMessage(fe validator.FieldError) string {
	unit := ""
	if fe.Kind() == reflect.String {
		unit = " characters"
	} else if fe.Kind() == reflect.Slice || fe.Kind() == reflect.Map {
		unit = " items"
	}
	switch fe.Tag() {
	case "required":
		return "is required"
	case "email":
		return "must be a valid email address"
	case "uuid", "uuid4", "uuid7":
		return "must be a UUID"
	case "min":
		return "must be at least " + fe.Param() + unit
	case "max":
		return "must be at most " + fe.Param() + unit
	case "len":
		return "must be exactly " + fe.Param() + unit
	case "oneof":
		return "must be one of: " + strings.ReplaceAll(fe.Param(), " ", ", ")
	case "url", "http_url":
		return "must be a URL"
	}
	return "fails the " + fe.Tag() + " rule"
}
