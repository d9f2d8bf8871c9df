package query

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Type is the type of a field's values. It decides how a query value is
// parsed and which Go type carries it in a Spec: a string for String, Enum,
// UUID (canonical lower-case form) and Date ("2006-01-02"), a time.Time in
// UTC for Time, an int64 for Int.
type Type uint8

// The field types.
const (
	String Type = iota + 1 // UTF-8 text without NUL bytes (PostgreSQL refuses both)
	UUID                   // any form github.com/google/uuid parses
	Time                   // RFC 3339, for example 2025-01-31T09:00:00Z
	Date                   // a calendar date, 2025-01-31
	Int                    // a whole number that fits a bigint
	Enum                   // one of Field.Values
)

func (t Type) valid() bool { return t >= String && t <= Enum }

// Field is one API field of a list: the column behind it and what clients
// may do with it. Filter and Sort gate client input only; the handler may
// scope a list by any field (Options.Scope), say a parent id from the path.
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

// Fields is the allow-list of one list. Build it with NewFields, once, as a
// package-level value.
type Fields struct {
	list     string
	tiebreak string
	byName   map[string]Field
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
//
// It panics on a malformed allow-list, as regexp.MustCompile does: an
// allow-list is fixed by the code, never by input.
func NewFields(list, tiebreak string, fields map[string]Field) Fields {
	if list == "" {
		panic("query: NewFields needs a list name")
	}
	for name, f := range fields {
		if err := f.check(name); err != nil {
			panic(fmt.Sprintf("query: list %s: %v", list, err))
		}
	}
	if t, ok := fields[tiebreak]; !ok || t.Nullable {
		panic(fmt.Sprintf("query: list %s: tiebreak %q must be a non-null field", list, tiebreak))
	}
	return Fields{list: list, tiebreak: tiebreak, byName: maps.Clone(fields)}
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
