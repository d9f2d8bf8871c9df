package listquery

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

const (
	maxValues   = 100  // values of one "one of" filter: bounds the SQL
	maxValueLen = 1024 // bytes of one filter value: bounds what a filter drags into SQL
	maxErrors   = 10   // field errors reported: bounds the answer to a hostile query
)

// Options are what the list's caller, not the client, decides.
type Options struct {
	// Codec verifies ?cursor=. Without one, any cursor is refused.
	Codec *Codec

	// Filters are imposed by the caller: a parent id from the path, say.
	// They may use any field of the allow-list. Cursors are bound to every
	// filter, so one project's cursor is refused in another project's list.
	Filters []Filter

	// Sort is the order when the client gives no ?sort=; nil is the
	// tiebreak descending. Limit is the page size when the client gives no
	// ?limit=; 0 is DefaultLimit.
	Sort  []SortKey
	Limit int

	// Reserved are query parameters the caller handles itself (for example
	// "since" and "until"). Parse ignores them, except that their values are
	// bound into cursors like filters.
	Reserved []string
}

// Parse reads a list's query string: ?limit= (1 to MaxLimit), ?cursor=
// (from a previous page; empty means the first page), ?sort=a,-b (fields the
// allow-list marks sortable, "-" for descending), and any other parameter as
// a filter ?field=value, repeated for "one of".
//
// Every problem of the query string is reported at once in one *Error of
// Fault BadQuery, one FieldError per offending parameter; a cursor that is
// not genuine, or was made for another list, sort or filter, is an *Error of
// Fault BadCursor on "cursor". Any other error is the caller's (bad Options).
func Parse(values url.Values, f Fields, opts Options) (Spec, error) {
	if err := f.built(); err != nil {
		return Spec{}, err
	}
	p := parser{fields: f}
	s := Spec{Filters: slices.Clone(opts.Filters), Sort: opts.Sort, Limit: opts.Limit}
	var token string
	extra := url.Values{}
	for _, key := range slices.Sorted(maps.Keys(values)) {
		vals := values[key]
		switch {
		case key == "limit":
			if n, ok := p.limit(vals); ok {
				s.Limit = n
			}
		case key == "cursor":
			token, _ = p.once(key, vals)
		case key == "sort":
			if keys, ok := p.sort(vals); ok {
				s.Sort = keys
			}
		case slices.Contains(opts.Reserved, key):
			extra[key] = vals
		default:
			if fl, ok := p.filter(key, vals); ok {
				s.Filters = append(s.Filters, fl)
			}
		}
	}
	if len(p.errs) > 0 {
		return Spec{}, &Error{Fault: BadQuery, Message: "the query string does not fit this list", Fields: p.errs}
	}
	s.extra = extra.Encode()
	s, err := s.Normalize(f) // only opts can fail here: our fault
	if err != nil || token == "" {
		return s, err
	}
	if opts.Codec == nil {
		return Spec{}, cursorError("this list does not take cursors")
	}
	if s.After, err = opts.Codec.Decode(token, s, f); err != nil {
		return Spec{}, err
	}
	return s, nil
}

// parser collects every error of a query string so that a client can fix
// them all at once.
type parser struct {
	fields Fields
	errs   []FieldError
}

func (p *parser) fail(param, msg string) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, FieldError{Field: param, Message: msg})
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
		if len(v) > maxValueLen {
			p.fail(key, fmt.Sprintf("must be at most %d bytes", maxValueLen))
			return Filter{}, false
		}
		x, err := parseValue(d, v)
		if err != nil {
			p.fail(key, err.Error())
			return Filter{}, false
		}
		out.Values[i] = x
	}
	return out, true
}
