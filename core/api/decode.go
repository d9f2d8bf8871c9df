package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/go-playground/validator/v10"

	"github.com/atriumhq/atrium/core/kernel"
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

// DecodeJSON reads exactly one JSON value from r's body into dst, refusing
// unknown fields and trailing data, then validates dst's `validate` tags.
// Every failure is a kernel error naming the field, so nothing is written.
func DecodeJSON(r *http.Request, dst any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return kernel.E(kernel.KindUnsupported, "the request body must be application/json")
		}
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeError(err)
		}
		return malformed("the request body must hold a single JSON value")
	}
	return Validate(dst)
}

func decodeError(err error) error {
	var (
		syntax   *json.SyntaxError
		typ      *json.UnmarshalTypeError
		tooLarge *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooLarge):
		return bodyTooLarge(tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return malformed("the request body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return malformed("the request body ends in the middle of a JSON value")
	case errors.As(err, &syntax):
		return malformed(fmt.Sprintf("malformed JSON at byte %d: %s", syntax.Offset, syntax.Error()))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return malformed("the request body must be a JSON object, not " + typ.Value)
		}
		return kernel.Invalid(kernel.FieldError{Field: field, Message: "must be " + jsonType(typ.Type) + ", not " + typ.Value})
	}
	// encoding/json has no typed error for unknown fields; its message is stable.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return kernel.Invalid(kernel.FieldError{Field: strings.Trim(name, `"`), Message: "unknown field"})
	}
	return malformed(err.Error())
}

func malformed(msg string) error {
	return &kernel.Error{Kind: kernel.KindBadRequest, Code: kernel.ErrMalformedJSON.Code, Message: msg}
}

func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
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
