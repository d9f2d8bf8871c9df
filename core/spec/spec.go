// Package spec holds query specifications: the filters, sort and page of a
// list, checked against the list's allow-list of fields. Domain code builds a
// Spec directly or parses one from a list endpoint's query string (Parse);
// infrastructure translates it to parameterised SQL in one place
// (core/postgres.SpecSQL), so no client input ever becomes SQL text.
//
// Order. A list is ordered by its sort keys and then by its tiebreak field,
// which takes the direction of the last key, so the order is total and a
// one-direction sort stays one-direction (one index, a row comparison). With
// no sort given, the order is the tiebreak descending: ids are UUIDv7, so
// that is newest first, the API's habit. NULLs sort last whichever the
// direction: a task without a due date comes after the dated ones both ways.
//
// Pages. Pagination is by keyset: a Cursor carries the last row's sort-key
// values, and the next page starts strictly after them. Cursors are signed
// (Codec) and bound to the list, sort and filters that made them.
package spec

import (
	"errors"
	"fmt"
	"slices"
)

// DefaultLimit and MaxLimit bound a page (the API contract's list conventions).
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

// Op is a filter operator.
type Op uint8

// The filter operators.
const (
	Eq Op = iota + 1 // the field equals the one value
	In               // the field equals one of the values
)

// Filter restricts a list to rows whose field matches. Values hold the Go
// type of the field's Type (Normalize converts close relatives such as named
// string types and other integer sizes); NULL never matches.
type Filter struct {
	Field  string
	Op     Op
	Values []any
}

// Equal is the filter field = v.
func Equal(field string, v any) Filter { return Filter{Field: field, Op: Eq, Values: []any{v}} }

// OneOf is the filter field IN (vs...).
func OneOf[T any](field string, vs ...T) Filter {
	values := make([]any, len(vs))
	for i, v := range vs {
		values[i] = v
	}
	return Filter{Field: field, Op: In, Values: values}
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
	Sort    []SortKey // nil: the default order (see the package comment)
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
// means domain code built a spec wrongly, a fault of ours, not the client's.
func (s Spec) Normalize(f Fields) (Spec, error) {
	out := s
	out.Filters = make([]Filter, len(s.Filters))
	for i, fl := range s.Filters {
		d, ok := f.byName[fl.Field]
		switch {
		case !ok:
			return Spec{}, fmt.Errorf("spec: %s: filter on unknown field %q", f.resource, fl.Field)
		case fl.Op == Eq && len(fl.Values) != 1, fl.Op == In && len(fl.Values) == 0, fl.Op != Eq && fl.Op != In:
			return Spec{}, fmt.Errorf("spec: %s: filter on %q: operator %d with %d values", f.resource, fl.Field, fl.Op, len(fl.Values))
		}
		values := make([]any, len(fl.Values))
		for j, v := range fl.Values {
			c, err := canonical(d, v)
			if err == nil && c == nil {
				err = errors.New("is NULL")
			}
			if err != nil {
				return Spec{}, fmt.Errorf("spec: %s: filter on %q: value %v %w", f.resource, fl.Field, v, err)
			}
			values[j] = c
		}
		out.Filters[i] = Filter{Field: fl.Field, Op: fl.Op, Values: values}
	}
	for i, k := range s.Sort {
		if _, ok := f.byName[k.Field]; !ok {
			return Spec{}, fmt.Errorf("spec: %s: sort by unknown field %q", f.resource, k.Field)
		}
		if slices.ContainsFunc(s.Sort[:i], func(o SortKey) bool { return o.Field == k.Field }) {
			return Spec{}, fmt.Errorf("spec: %s: sort by %q twice", f.resource, k.Field)
		}
	}
	if s.After != nil {
		after, err := cursorValues(s.After.Values, s.Order(f), f)
		if err != nil {
			return Spec{}, fmt.Errorf("spec: %s: cursor: %w", f.resource, err)
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
