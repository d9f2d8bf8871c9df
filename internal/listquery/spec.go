package listquery

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DefaultLimit and MaxLimit bound a page (the API contract's list conventions).
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Filter restricts a list to rows whose field equals its value, or one of
// its values when it has several. Values hold the Go type of the field's
// Type (Normalize converts close relatives such as named string types, other
// integer sizes and uuid.UUID); NULL never matches.
type Filter struct {
	Field  string
	Values []any
}

// Equal is the filter field = v.
func Equal(field string, v any) Filter { return Filter{Field: field, Values: []any{v}} }

// OneOf is the filter field IN (vs...).
func OneOf[T any](field string, vs ...T) Filter {
	values := make([]any, len(vs))
	for i, v := range vs {
		values[i] = v
	}
	return Filter{Field: field, Values: values}
}

// SortKey orders a list by one field.
type SortKey struct {
	Field string
	Desc  bool
}

// Cursor is a verified position in a list: the values of the last row of the
// previous page, one per key of Spec.Order (tiebreak last); nil is NULL.
type Cursor struct {
	Values []any
}

// Spec describes one page of a list.
type Spec struct {
	Filters []Filter  // all must hold
	Sort    []SortKey // nil: the tiebreak descending
	Limit   int       // rows per page; 0 is DefaultLimit, and MaxLimit caps it
	After   *Cursor   // the page starts after this position; nil: the first page

	// extra is the caller-handled query parameters (Options.Reserved) in
	// canonical form, bound into cursors like the filters.
	extra string
}

// PageSize is the number of rows a page holds.
func (s Spec) PageSize() int {
	switch {
	case s.Limit <= 0:
		return DefaultLimit
	case s.Limit > MaxLimit:
		return MaxLimit
	}
	return s.Limit
}

// Order is the full order of the list: the sort keys, or the default, then
// the tiebreak. Keys after the tiebreak cannot change the order and are
// dropped.
func (s Spec) Order(f Fields) []SortKey {
	if len(s.Sort) == 0 {
		return []SortKey{{Field: f.tiebreak, Desc: true}}
	}
	keys := slices.Clone(s.Sort)
	if i := slices.IndexFunc(keys, func(k SortKey) bool { return k.Field == f.tiebreak }); i >= 0 {
		return keys[:i+1]
	}
	return append(keys, SortKey{Field: f.tiebreak, Desc: keys[len(keys)-1].Desc})
}

// Normalize checks a spec against its allow-list and returns a copy whose
// values have their fields' Go types. Parse's specs pass already; an error
// means the caller built a spec wrongly, a fault of ours, not the client's.
func (s Spec) Normalize(f Fields) (Spec, error) {
	if err := f.built(); err != nil {
		return Spec{}, err
	}
	out := s
	out.Filters = make([]Filter, len(s.Filters))
	for i, fl := range s.Filters {
		d, ok := f.byName[fl.Field]
		if !ok || len(fl.Values) == 0 {
			return Spec{}, fmt.Errorf("list %s: filter on %q is not a field with values", f.list, fl.Field)
		}
		values := make([]any, len(fl.Values))
		for j, v := range fl.Values {
			c, err := canonical(d, v)
			if err == nil && c == nil {
				err = errors.New("is NULL")
			}
			if err != nil {
				return Spec{}, fmt.Errorf("list %s: filter on %q: value %v %w", f.list, fl.Field, v, err)
			}
			values[j] = c
		}
		out.Filters[i] = Filter{Field: fl.Field, Values: values}
	}
	for i, k := range s.Sort {
		if _, ok := f.byName[k.Field]; !ok {
			return Spec{}, fmt.Errorf("list %s: sort by unknown field %q", f.list, k.Field)
		}
		if slices.ContainsFunc(s.Sort[:i], func(o SortKey) bool { return o.Field == k.Field }) {
			return Spec{}, fmt.Errorf("list %s: sort by %q twice", f.list, k.Field)
		}
	}
	if s.After != nil {
		after, err := cursorValues(s.After.Values, s.Order(f), f)
		if err != nil {
			return Spec{}, fmt.Errorf("list %s: cursor: %w", f.list, err)
		}
		out.After = &Cursor{Values: after}
	}
	return out, nil
}

// cursorValues checks and converts a cursor's values against the order.
func cursorValues(values []any, order []SortKey, f Fields) ([]any, error) {
	if len(values) != len(order) {
		return nil, fmt.Errorf("%d values for %d sort keys", len(values), len(order))
	}
	out := make([]any, len(values))
	for i, k := range order {
		d := f.byName[k.Field]
		c, err := canonical(d, values[i])
		if err == nil && c == nil && !d.Nullable {
			err = errors.New("is NULL")
		}
		if err != nil {
			return nil, fmt.Errorf("%q: %w", k.Field, err)
		}
		out[i] = c
	}
	return out, nil
}

// Fault says what the client got wrong, and so how it is answered.
type Fault uint8

// The faults.
const (
	BadQuery  Fault = iota + 1 // ?limit=, ?sort= or a filter: 400 invalid_query
	BadCursor                  // ?cursor=: 400 invalid_cursor
)

// FieldError names one offending query parameter.
type FieldError struct {
	Field   string
	Message string
}

// Error is a client's mistake in a list's query string. Every other error
// of the package is the caller's: a fault of ours.
type Error struct {
	Fault   Fault
	Message string
	Fields  []FieldError
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Message)
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "; %s %s", f.Field, f.Message)
	}
	return b.String()
}
