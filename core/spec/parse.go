package spec

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/atriumhq/atrium/core/kernel"
)

// Sentinels for errors.Is: every error Parse blames on the client is a
// KindBadRequest with one of these codes and names the query parameter.
var (
	ErrInvalidQuery  = kernel.ErrInvalidQuery
	ErrInvalidCursor = kernel.ErrInvalidCursor
)

const (
	maxValues = 100 // values of one "one of" filter: bounds the SQL
	maxErrors = 10  // field errors reported: bounds the response to a hostile query
)

// Options tell Parse what the list's handler adds to the query string.
type Options struct {
	// Codec verifies ?cursor=. Without one, any cursor is refused.
	Codec *Codec

	// Filters are imposed by the caller, not the client: a parent id from
	// the path, say. They may use any field of the allow-list. Give them
	// here rather than adding them afterwards: cursors are bound to every
	// filter, and Parse verifies the cursor.
	Filters []Filter

	// Reserved are query parameters the caller handles itself (for example
	// "since" and "until"). Parse ignores them, except that their values are
	// bound into cursors like filters.
	Reserved []string
}

// Parse reads a list's query string: ?limit= (1 to MaxLimit, DefaultLimit
// when absent), ?cursor= (from a previous page; empty means the first page),
// ?sort=a,-b (fields the allow-list marks sortable, "-" for descending), and
// any other parameter as a filter ?field=value, repeated for "one of".
//
// Anything off the allow-list or of the wrong type is an ErrInvalidQuery
// naming each offending parameter; a cursor that is not genuine, or was made
// for another list, sort or filter, is an ErrInvalidCursor.
func Parse(values url.Values, f Fields, opts Options) (Spec, error) {
	p := parser{fields: f}
	s := Spec{Filters: slices.Clone(opts.Filters)}
	var token string
	extra := url.Values{}
	for _, key := range slices.Sorted(maps.Keys(values)) {
		vals := values[key]
		switch {
		case key == "limit":
			s.Limit = p.limit(vals)
		case key == "cursor":
			token, _ = p.once(key, vals)
		case key == "sort":
			s.Sort = p.sort(vals)
		case slices.Contains(opts.Reserved, key):
			extra[key] = vals
		default:
			if fl, ok := p.filter(key, vals); ok {
				s.Filters = append(s.Filters, fl)
			}
		}
	}
	if len(p.errs) > 0 {
		return Spec{}, &kernel.Error{
			Kind: kernel.KindBadRequest, Code: ErrInvalidQuery.Code,
			Message: "the query string does not fit this list", Fields: p.errs,
		}
	}
	s.extra = extra.Encode()
	s, err := s.Normalize(f) // only opts.Filters can fail here: our fault
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
	errs   []kernel.FieldError
}

func (p *parser) fail(param, msg string) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, kernel.FieldError{Field: param, Message: msg})
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

func (p *parser) limit(vals []string) int {
	v, ok := p.once("limit", vals)
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxLimit {
		p.fail("limit", fmt.Sprintf("must be a whole number from 1 to %d", MaxLimit))
		return 0
	}
	return n
}

func (p *parser) sort(vals []string) []SortKey {
	v, ok := p.once("sort", vals)
	if !ok {
		return nil
	}
	var keys []SortKey
	for item := range strings.SplitSeq(v, ",") {
		name, desc := strings.CutPrefix(item, "-")
		if d, known := p.fields.byName[name]; !known || !d.Sort {
			p.fail("sort", fmt.Sprintf("cannot sort by %q; sortable fields: %s", name, p.fields.names(sortable)))
			return nil
		}
		if slices.ContainsFunc(keys, func(k SortKey) bool { return k.Field == name }) {
			p.fail("sort", fmt.Sprintf("%q is given twice", name))
			return nil
		}
		keys = append(keys, SortKey{Field: name, Desc: desc})
	}
	return keys
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
	values := make([]any, len(vals))
	for i, v := range vals {
		x, err := parseValue(d, v)
		if err != nil {
			p.fail(key, err.Error())
			return Filter{}, false
		}
		values[i] = x
	}
	if len(values) == 1 {
		return Filter{Field: key, Op: Eq, Values: values}, true
	}
	return Filter{Field: key, Op: In, Values: values}, true
}
