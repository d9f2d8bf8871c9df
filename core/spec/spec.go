// Package spec holds query specifications for the core's lists: the filters,
// sort and page of a list, checked against the list's allow-list of fields.
// Domain code builds a Spec directly or parses one from a list endpoint's
// query string (Parse); infrastructure translates it to parameterised SQL in
// one place (core/postgres.SpecSQL), so no client input ever becomes SQL text.
//
// It is the core's face of the one list engine, internal/listquery, which
// sdk/query fronts for plugins: the same query string gets the same answer
// on a core list and on a plugin list. The engine's comment describes the
// order and the keyset pages; here its client errors become kernel errors
// (400 invalid_query, 400 invalid_cursor) and cursors are signed with a
// deployment secret (LazyCodec).
package spec

import (
	"errors"
	"net/url"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/internal/listquery"
)

// DefaultLimit and MaxLimit bound a page (the API contract's list conventions).
const (
	DefaultLimit = listquery.DefaultLimit
	MaxLimit     = listquery.MaxLimit
)

// The engine's types, under the names the core uses.
type (
	Type    = listquery.Type
	Field   = listquery.Field
	Fields  = listquery.Fields
	Filter  = listquery.Filter
	SortKey = listquery.SortKey
	Cursor  = listquery.Cursor
	Spec    = listquery.Spec
	Options = listquery.Options
	Codec   = listquery.Codec
)

// The field types: see listquery.Type.
const (
	String = listquery.String
	UUID   = listquery.UUID
	Time   = listquery.Time
	Date   = listquery.Date
	Int    = listquery.Int
	Bool   = listquery.Bool
	Enum   = listquery.Enum
)

// Sentinels for errors.Is: every error Parse blames on the client is a
// KindBadRequest with one of these codes and names the query parameter.
var (
	ErrInvalidQuery  = kernel.ErrInvalidQuery
	ErrInvalidCursor = kernel.ErrInvalidCursor
)

// NewFields returns the allow-list of resource's lists (see
// listquery.NewFields). It panics on a malformed allow-list, as
// regexp.MustCompile does: allow-lists are package-level values fixed by the
// code, not by input.
func NewFields(resource, tiebreak string, fields map[string]Field) Fields {
	f, err := listquery.NewFields(resource, tiebreak, fields)
	if err != nil {
		panic("spec: " + err.Error())
	}
	return f
}

// NewCodec returns a Codec signing with key, which needs at least 32 bytes.
func NewCodec(key []byte) (*Codec, error) { return listquery.NewCodec(key) }

// Equal is the filter field = v.
func Equal(field string, v any) Filter { return listquery.Equal(field, v) }

// OneOf is the filter field IN (vs...).
func OneOf[T any](field string, vs ...T) Filter { return listquery.OneOf(field, vs...) }

// Parse reads a list's query string (see listquery.Parse). Anything off the
// allow-list or of the wrong type is an ErrInvalidQuery naming each offending
// parameter; a cursor that is not genuine, or was made for another list, sort
// or filter, is an ErrInvalidCursor. Any other error is the caller's.
func Parse(values url.Values, f Fields, opts Options) (Spec, error) {
	s, err := listquery.Parse(values, f, opts)
	return s, clientError(err)
}

// Paginate trims rows, fetched with one row more than s.PageSize() (as SpecSQL
// asks), to one page, and returns the cursor of the next page: "" when there
// is none. values gives a row's sort-key values, keyed by field name.
func Paginate[T any](c *Codec, s Spec, f Fields, rows []T, values func(T) map[string]any) ([]T, string, error) {
	return listquery.Paginate(c, s, f, rows, values)
}

// clientError turns the engine's client errors into the core's.
func clientError(err error) error {
	var e *listquery.Error
	if !errors.As(err, &e) {
		return err
	}
	code := ErrInvalidQuery.Code
	if e.Fault == listquery.BadCursor {
		code = ErrInvalidCursor.Code
	}
	fields := make([]kernel.FieldError, len(e.Fields))
	for i, f := range e.Fields {
		fields[i] = kernel.FieldError{Field: f.Field, Message: f.Message}
	}
	return &kernel.Error{Kind: kernel.KindBadRequest, Code: code, Message: e.Message, Fields: fields}
}
