package sdk

import (
	"errors"

	"github.com/atriumhq/atrium/internal/strictjson"
)

// Bind decodes the JSON request body into v strictly, with the decoder of
// the core's own routes and so with their answers: a Content-Type that is
// not JSON is a KindUnsupported error (415); a body that is not one JSON
// value of the right shape (empty, malformed, trailing data, not an object)
// is a KindMalformedJSON error (400 malformed_json); an unknown field or a
// value of the wrong type is an Invalid error naming the field (422
// validation_failed).
func (c *Context) Bind(v any) error {
	return bindJSON(c.Header("Content-Type"), c.req.GetBody(), v)
}

func bindJSON(contentType string, body []byte, v any) error {
	err := strictjson.DecodeBytes(contentType, body, v)
	if err == nil {
		return nil
	}
	var e *strictjson.Error
	if !errors.As(err, &e) {
		return Internal(err, "bind")
	}
	switch e.Fault {
	case strictjson.Malformed:
		return &Error{Kind: KindMalformedJSON, Message: e.Message}
	case strictjson.Invalid:
		return Invalid(FieldError{Field: e.Field, Message: e.Message})
	case strictjson.Unsupported:
		return &Error{Kind: KindUnsupported, Message: e.Message}
	}
	return TooLarge("%s", e.Message)
}
