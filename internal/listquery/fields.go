// Package listquery is the one list engine behind the core's core/spec and
// the SDK's sdk/query, so that a list answers the same on a core route and on
// a plugin route: the allow-list of fields, parsing a list's query string
// (?limit=, ?sort=, ?cursor=, filters), the value types, keyset cursors and
// the translation to parameterised SQL (text and arguments; no driver).
// Each face turns an *Error into its own error type (kernel.Error, sdk.Error)
// by its Fault.
//
// Order. A list is ordered by its sort keys, then by its tiebreak field (a
// unique, non-null column, normally id) in the direction of the last key, so
// the order is total and a one-direction sort stays one-direction (one index,
// a row comparison). With no sort, the order is the tiebreak descending:
// newest first when ids are UUIDv7. NULLs sort last in both directions.
//
// Pages. Pagination is by keyset: the SQL fetches one row more than the page
// to learn whether a next page exists, and a cursor carries the last row's
// sort-key values; the next page starts strictly after them. Cursors are
// MACed (Codec) and bound to the list, order, filters and reserved
// parameters that made them.
package listquery

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Type is the type of a field's values. It decides how a query value is
// parsed and which Go type carries it once parsed: a string for String, Enum,
// UUID (canonical lower-case form) and Date ("2006-01-02"), a time.Time in
// UTC for Time, an int64 for Int and a bool for Bool.
type Type uint8

// The field types.
const (
	String Type = iota + 1 // UTF-8 text without NUL bytes (PostgreSQL refuses both)
	UUID                   // any form github.com/google/uuid parses
	Time                   // RFC 3339, for example 2025-01-31T09:00:00Z
	Date                   // a calendar date, 2025-01-31
	Int                    // a whole number that fits a bigint
	Bool                   // "true" or "false"
	Enum                   // one of Field.Values
)

func (t Type) valid() bool { return t >= String && t <= Enum }

// Field is one API field of a list: the column behind it and what clients may
// do with it. Filter and Sort gate client input only; the caller may filter
// or sort by any field of the allow-list (Options.Filters, Options.Sort), say
// by a parent id taken from the path.
type Field struct {
	// Column is the SQL column, optionally qualified ("t.status"): the only
	// way a name reaches SQL. It must be a plain lower-case identifier.
	Column string
	Type   Type
	Values []string // the allowed values of an Enum
	Filter bool     // clients may filter: ?field=value, repeated for "one of"
	Sort   bool     // clients may sort: ?sort=field or ?sort=-field

	// Nullable marks a column that may hold NULL. NULLs sort last in both
	// directions and the keyset conditions account for them; a nullable
	// column not marked so makes pagination skip its NULL rows.
	Nullable bool
}

// Fields is the allow-list of one list. Build it with NewFields.
type Fields struct {
	list     string
	tiebreak string
	byName   map[string]Field
	resource *Resource // nil: not filtered by policy (WithResource)
}

// controlKeys are the query parameters Parse interprets itself.
var controlKeys = []string{"limit", "cursor", "sort"}

var (
	columnPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)
	namePattern   = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
)

// NewFields returns the allow-list of the list named list (bound into its
// cursors, so one list's cursor is refused by another). The field named
// tiebreak must be unique and non-null, normally "id": it ends every order.
// An error means the allow-list itself is malformed; the faces panic on it,
// as allow-lists are fixed by code, not by input.
func NewFields(list, tiebreak string, fields map[string]Field) (Fields, error) {
	if list == "" {
		return Fields{}, errors.New("NewFields needs a list name")
	}
	for name, f := range fields {
		if err := f.check(name); err != nil {
			return Fields{}, fmt.Errorf("list %s: %w", list, err)
		}
	}
	if t, ok := fields[tiebreak]; !ok || t.Nullable {
		return Fields{}, fmt.Errorf("list %s: tiebreak %q must be a non-null field", list, tiebreak)
	}
	return Fields{list: list, tiebreak: tiebreak, byName: maps.Clone(fields)}, nil
}

func (f Field) check(name string) error {
	switch {
	case !namePattern.MatchString(name) || slices.Contains(controlKeys, name):
		return fmt.Errorf("%q cannot name a field", name)
	case !columnPattern.MatchString(f.Column):
		return fmt.Errorf("field %q: column %q is not a plain lower-case identifier", name, f.Column)
	case !f.Type.valid():
		return fmt.Errorf("field %q has no valid type", name)
	case (f.Type == Enum) != (len(f.Values) > 0):
		return fmt.Errorf("field %q: Values belong to, and are required by, an Enum", name)
	}
	return nil
}

// Lookup returns the field an API name stands for.
func (f Fields) Lookup(name string) (Field, bool) {
	d, ok := f.byName[name]
	return d, ok
}

// List names the list the allow-list belongs to.
func (f Fields) List() string { return f.list }

// Tiebreak is the API name of the unique field that ends every order.
func (f Fields) Tiebreak() string { return f.tiebreak }

// built reports whether f came from NewFields, and if not, says so.
func (f Fields) built() error {
	if f.byName == nil {
		return errors.New("listquery: Fields not made by NewFields")
	}
	return nil
}

// names lists, sorted, the fields for which keep holds, for error messages
// that let a client correct itself.
func (f Fields) names(keep func(Field) bool) string {
	var out []string
	for name, d := range f.byName {
		if keep(d) {
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func filterable(f Field) bool { return f.Filter }
func sortable(f Field) bool   { return f.Sort }
