package query

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/atriumhq/atrium/sdk"
)

// DefaultLimit and MaxLimit bound a page (the API contract's list
// conventions).
const (
	DefaultLimit = 50
	MaxLimit     = 200
)

const (
	maxValues = 100 // values of one "one of" filter: bounds the SQL
	maxErrors = 10  // field errors reported: bounds the answer to a hostile query
)

// SortKey orders a list by one field.
type SortKey struct {
	Field string
	Desc  bool
}

// Filter restricts a list to rows whose field equals its value, or one of
// its values when it has several. NULL never matches.
type Filter struct {
	Field  string
	Values []any
}

// Equal is the filter field = v.
func Equal(field string, v any) Filter { return Filter{Field: field, Values: []any{v}} }

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

// Order is the full order of the list: the sort keys, then the tiebreak in
// the direction of the last key. Keys after the tiebreak cannot change the
// order and are dropped.
func (s Spec) Order() []SortKey {
	if len(s.Sort) == 0 {
		return []SortKey{{Field: s.fields.tiebreak, Desc: true}}
	}
	keys := slices.Clone(s.Sort)
	if i := slices.IndexFunc(keys, func(k SortKey) bool { return k.Field == s.fields.tiebreak }); i >= 0 {
		return keys[:i+1]
	}
	return append(keys, SortKey{Field: s.fields.tiebreak, Desc: keys[len(keys)-1].Desc})
}

// Parse reads a list's query string (c.QueryValues()): ?limit=, ?cursor=,
// ?sort= and any other parameter as a filter. Every problem is reported at
// once in one error of sdk.KindInvalidQuery (400 invalid_query), one
// FieldError per offending parameter; a cursor that is malformed or was made
// for another list, sort or filter set is an sdk.KindInvalidCursor error
// (400 invalid_cursor) on "cursor". These are the answers the core's own
// lists give.
func Parse(values url.Values, f Fields, opts Options) (Spec, error) {
	if f.byName == nil {
		return Spec{}, sdk.Internal(nil, "query: Parse needs Fields from NewFields")
	}
	p := parser{fields: f}
	s := Spec{fields: f, Sort: opts.Sort, Limit: opts.Limit}
	if s.Limit <= 0 || s.Limit > MaxLimit {
		s.Limit = DefaultLimit
	}
	var token string
	for _, key := range slices.Sorted(maps.Keys(values)) {
		vals := values[key]
		switch key {
		case "limit":
			if n, ok := p.limit(vals); ok {
				s.Limit = n
			}
		case "cursor":
			token, _ = p.once(key, vals)
		case "sort":
			if keys, ok := p.sort(vals); ok {
				s.Sort = keys
			}
		default:
			if fl, ok := p.filter(key, vals); ok {
				s.Filters = append(s.Filters, fl)
			}
		}
	}
	if len(p.errs) > 0 {
		return Spec{}, &sdk.Error{Kind: sdk.KindInvalidQuery, Message: "the query string does not fit this list", Fields: p.errs}
	}
	scope, err := checkFilters(opts.Scope, f)
	if err != nil {
		return Spec{}, err
	}
	if err := checkSort(opts.Sort, f); err != nil {
		return Spec{}, err
	}
	s.Filters = append(scope, s.Filters...)
	if token != "" {
		if s.After, err = decodeCursor(token, s); err != nil {
			return Spec{}, err
		}
	}
	return s, nil
}

// checkFilters converts the handler's scope filters to their fields' types;
// an error is the handler's bug, not the client's.
func checkFilters(filters []Filter, f Fields) ([]Filter, error) {
	out := make([]Filter, len(filters))
	for i, fl := range filters {
		d, ok := f.byName[fl.Field]
		if !ok || len(fl.Values) == 0 {
			return nil, sdk.Internal(nil, "query: list %s: scope filter on %q is not a field with values", f.list, fl.Field)
		}
		out[i] = Filter{Field: fl.Field, Values: make([]any, len(fl.Values))}
		for j, v := range fl.Values {
			c, err := canonical(d, v)
			if err == nil && c == nil {
				err = errors.New("is NULL")
			}
			if err != nil {
				return nil, sdk.Internal(err, "query: list %s: scope filter on %q", f.list, fl.Field)
			}
			out[i].Values[j] = c
		}
	}
	return out, nil
}

func checkSort(keys []SortKey, f Fields) error {
	for i, k := range keys {
		if _, ok := f.byName[k.Field]; !ok || slices.ContainsFunc(keys[:i], func(o SortKey) bool { return o.Field == k.Field }) {
			return sdk.Internal(nil, "query: list %s: default sort by %q is unknown or repeated", f.list, k.Field)
		}
	}
	return nil
}

// parser collects every error of a query string, so that a client fixes
// them all at once.
type parser struct {
	fields Fields
	errs   []sdk.FieldError
}

func (p *parser) fail(param, msg string) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, sdk.FieldError{Field: param, Message: msg})
	}
}

// once returns the value of a parameter that may be given only once.
func (p *parser) once(key string, vals []string) (string, bool) {
	if len(vals) != 1 {
		p.fail(key, "must be given once")
		return "", false
	}
	return vals[0], true
}

func (p *parser) limit(vals []string) (int, bool) {
	v, ok := p.once("limit", vals)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxLimit {
		p.fail("limit", fmt.Sprintf("must be a whole number from 1 to %d", MaxLimit))
		return 0, false
	}
	return n, true
}

func (p *parser) sort(vals []string) ([]SortKey, bool) {
	v, ok := p.once("sort", vals)
	if !ok {
		return nil, false
	}
	var keys []SortKey
	for item := range strings.SplitSeq(v, ",") {
		name, desc := strings.CutPrefix(item, "-")
		if d, known := p.fields.byName[name]; !known || !d.Sort {
			p.fail("sort", fmt.Sprintf("cannot sort by %q; sortable fields: %s", name, p.fields.names(sortable)))
			return nil, false
		}
		if slices.ContainsFunc(keys, func(k SortKey) bool { return k.Field == name }) {
			p.fail("sort", fmt.Sprintf("%q is given twice", name))
			return nil, false
		}
		keys = append(keys, SortKey{Field: name, Desc: desc})
	}
	return keys, true
}

func (p *parser) filter(key string, vals []string) (Filter, bool) {
	d, known := p.fields.byName[key]
	switch {
	case !known || !d.Filter:
		p.fail(key, "is not a filter of this list; filters: "+p.fields.names(filterable))
		return Filter{}, false
	case len(vals) == 0:
		p.fail(key, "needs a value")
		return Filter{}, false
	case len(vals) > maxValues:
		p.fail(key, fmt.Sprintf("takes at most %d values", maxValues))
		return Filter{}, false
	}
	out := Filter{Field: key, Values: make([]any, len(vals))}
	for i, v := range vals {
		x, err := parseValue(d, v)
		if err != nil {
			p.fail(key, err.Error())
			return Filter{}, false
		}
		out.Values[i] = x
	}
	return out, true
}
