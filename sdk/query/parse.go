package query

import (
	"crypto/sha256"
	"errors"
	"net/url"

	"github.com/atriumhq/atrium/internal/listquery"
	"github.com/atriumhq/atrium/sdk"
)

// DefaultLimit and MaxLimit bound a page (the API contract's list
// conventions).
const (
	DefaultLimit = listquery.DefaultLimit
	MaxLimit     = listquery.MaxLimit
)

// The list engine's types (the core's lists use the same).
type (
	// Type is the type of a field's values. It decides how a query value is
	// parsed and which Go type carries it in a Spec: a string for String,
	// Enum, UUID (canonical lower-case form) and Date ("2006-01-02"), a
	// time.Time in UTC for Time, an int64 for Int and a bool for Bool.
	Type = listquery.Type
	// Field is one API field of a list: the column behind it (a plain
	// lower-case identifier, optionally qualified: "t.status"), its Type,
	// the Values of an Enum, whether clients may Filter and Sort by it, and
	// whether it is Nullable. Filter and Sort gate client input only.
	Field = listquery.Field
	// Fields is the allow-list of one list. Build it with NewFields, once,
	// as a package-level value.
	Fields = listquery.Fields
	// SortKey orders a list by one field.
	SortKey = listquery.SortKey
	// Filter restricts a list to rows whose field equals its value, or one
	// of its values when it has several. NULL never matches.
	Filter = listquery.Filter
	// Resource declares what a list's rows are to the tenant's policy: the
	// resource Type and read Action of a resource-level decision on one
	// row, and the fields holding its ID, Owner ("" for none) and policy
	// Attributes (attribute name -> field). See WithResource.
	Resource = listquery.Resource
	// Clause is a Spec in SQL: Where (the filters AND the cursor's keyset
	// condition; TRUE when there is neither), OrderLimit ("ORDER BY ...
	// LIMIT $n", one row more than the page) and the placeholders' Args.
	Clause = listquery.Clause
)

// The field types.
const (
	String = listquery.String // UTF-8 text without NUL bytes
	UUID   = listquery.UUID   // any form github.com/google/uuid parses
	Time   = listquery.Time   // RFC 3339, for example 2025-01-31T09:00:00Z
	Date   = listquery.Date   // a calendar date, 2025-01-31
	Int    = listquery.Int    // a whole number that fits a bigint
	Bool   = listquery.Bool   // "true" or "false"
	Enum   = listquery.Enum   // one of Field.Values
)

// codec checksums plugins' cursors. Its key is public, so a cursor is
// checked, not signed: see the package comment.
var codec = func() *listquery.Codec {
	key := sha256.Sum256([]byte("atrium/sdk/query cursor"))
	c, err := listquery.NewCodec(key[:])
	if err != nil {
		panic(err)
	}
	return c
}()

// NewFields returns the allow-list of the list named list (bound into its
// cursors, so one list's cursor is refused by another). The field named
// tiebreak must be unique and non-null, normally "id": it ends every order.
//
// It panics on a malformed allow-list, as regexp.MustCompile does: an
// allow-list is fixed by the code, never by input.
func NewFields(list, tiebreak string, fields map[string]Field) Fields {
	f, err := listquery.NewFields(list, tiebreak, fields)
	if err != nil {
		panic("query: " + err.Error())
	}
	return f
}

// WithResource returns f filtered by the tenant's policy: SQL then adds to
// Where a placeholder for which the host puts the policy's condition on the
// rows, so that the list holds only what a resource-level decision on each
// row would allow (with pages still full: the host fetches past rows the
// policy hides when it must decide them one by one). List every attribute
// the handlers pass in resource-level decisions (sdk.Resource.Attributes);
// one left out is absent from the list's rows to the policy. Select every
// mapped column by its plain name in the list's statement.
//
//	var ProjectFields = query.WithResource(query.NewFields("projects", "id", fields), query.Resource{
//		Type: "project", Action: "projects.project.read", ID: "id", Owner: "owner_id",
//		Attributes: map[string]string{"status": "status", "owner_id": "owner_id", "name": "name"},
//	})
//
// It panics on a malformed declaration, as NewFields does.
func WithResource(f Fields, r Resource) Fields {
	out, err := f.WithResource(r)
	if err != nil {
		panic("query: " + err.Error())
	}
	return out
}

// Equal is the filter field = v.
func Equal(field string, v any) Filter { return listquery.Equal(field, v) }

// Options are what the handler, not the client, decides about a list.
type Options struct {
	// Sort is the order when the client gives no ?sort=; empty means the
	// tiebreak descending (newest first when ids are UUIDv7).
	Sort []SortKey
	// Limit is the page size when the client gives no ?limit=; 0 means
	// DefaultLimit.
	Limit int
	// Scope filters are imposed by the handler (a parent id from the path)
	// and may use any field of the allow-list. Cursors are bound to them, so
	// one project's cursor is refused in another project's list.
	Scope []Filter
}

// Spec is one checked page of a list: build it with Parse.
type Spec struct {
	Filters []Filter  // all must hold; Values have their fields' Go types
	Sort    []SortKey // the order asked for, before the tiebreak
	Limit   int       // rows per page
	// After holds the cursor's position, one value per key of Order (nil
	// is NULL); nil for the first page.
	After []any

	fields Fields
}

// Parse reads a list's query string (c.QueryValues()): ?limit=, ?cursor=,
// ?sort= and any other parameter as a filter. Every problem is reported at
// once in one error of sdk.KindInvalidQuery (400 invalid_query), one
// FieldError per offending parameter; a cursor that is malformed or was made
// for another list, sort or filter set is an sdk.KindInvalidCursor error
// (400 invalid_cursor) on "cursor". These are the answers the core's own
// lists give: both run the same engine.
func Parse(values url.Values, f Fields, opts Options) (Spec, error) {
	limit := opts.Limit
	if limit < 0 || limit > MaxLimit {
		limit = 0
	}
	s, err := listquery.Parse(values, f, listquery.Options{Codec: codec, Filters: opts.Scope, Sort: opts.Sort, Limit: limit})
	if err != nil {
		return Spec{}, clientError(err)
	}
	out := Spec{Filters: s.Filters, Sort: s.Sort, Limit: s.PageSize(), fields: f}
	if s.After != nil {
		out.After = s.After.Values
	}
	return out, nil
}

// Order is the full order of the list: the sort keys, then the tiebreak in
// the direction of the last key. Keys after the tiebreak cannot change the
// order and are dropped.
func (s Spec) Order() []SortKey { return s.engine().Order(s.fields) }

// Cursor returns the cursor of the page after the row whose sort-key values
// last holds, keyed by field name: every field of s.Order(), tiebreak
// included. Values may be what the plugin scanned: strings, integers, bools,
// time.Time, fmt.Stringers such as uuid.UUID, and pointers to them (nil is
// NULL).
func (s Spec) Cursor(last map[string]any) (string, error) {
	if err := s.parsed(); err != nil {
		return "", err
	}
	return codec.Next(s.engine(), s.fields, last)
}

// Paginate trims rows, fetched with the one extra row SQL asks for, to one
// page and returns the cursor of the next page, "" when there is none. key
// gives a row's sort-key values, as for Spec.Cursor.
func Paginate[T any](s Spec, rows []T, key func(T) map[string]any) ([]T, string, error) {
	if err := s.parsed(); err != nil {
		return nil, "", err
	}
	return listquery.Paginate(codec, s.engine(), s.fields, rows, key)
}

// SQL translates s into SQL. Names come only from the allow-list, quoted;
// every value is a placeholder numbered from argOffset+1, so the clause can
// follow a query that already has argOffset parameters:
//
//	c, err := query.SQL(spec, 1) // $1 is already taken by the query
//	rows, err := c.DB().Query(ctx, "SELECT ... FROM tasks WHERE owner = $1 AND "+
//		c.Where+" "+c.OrderLimit, append([]any{owner}, c.Args...)...)
//
// Order: each key ASC or DESC, NULLS LAST on nullable columns in both
// directions, then the tiebreak. Non-null columns get no NULLS clause, so a
// plain B-tree index serves them.
func SQL(s Spec, argOffset int) (Clause, error) {
	if err := s.parsed(); err != nil {
		return Clause{}, err
	}
	return listquery.SQL(s.engine(), s.fields, "", argOffset)
}

func (s Spec) parsed() error {
	if s.Limit < 1 {
		return errors.New("query: needs a Spec from Parse")
	}
	return nil
}

// engine is s as the list engine holds it.
func (s Spec) engine() listquery.Spec {
	e := listquery.Spec{Filters: s.Filters, Sort: s.Sort, Limit: s.Limit}
	if s.After != nil {
		e.After = &listquery.Cursor{Values: s.After}
	}
	return e
}

// clientError turns the engine's errors into the SDK's: the client's
// mistakes into 400 invalid_query or invalid_cursor, anything else (bad
// Fields or Options) into the handler's own fault.
func clientError(err error) error {
	var e *listquery.Error
	if !errors.As(err, &e) {
		return sdk.Internal(err, "query")
	}
	kind := sdk.KindInvalidQuery
	if e.Fault == listquery.BadCursor {
		kind = sdk.KindInvalidCursor
	}
	fields := make([]sdk.FieldError, len(e.Fields))
	for i, f := range e.Fields {
		fields[i] = sdk.FieldError{Field: f.Field, Message: f.Message}
	}
	return &sdk.Error{Kind: kind, Message: e.Message, Fields: fields}
}
