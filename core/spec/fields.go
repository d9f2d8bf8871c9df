package spec

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Type is the type of a field's values. It decides how a query value is
// parsed and which Go type carries it once parsed: a string for String and
// Enum, a uuid.UUID for UUID, a time.Time (UTC) for Time, an int64 for Int and
// a bool for Bool.
type Type uint8

// The field types.
const (
	String Type = iota + 1 // UTF-8 text without NUL bytes (PostgreSQL rejects both)
	UUID                   // any form uuid.Parse accepts
	Time                   // RFC 3339, for example 2025-01-31T09:00:00Z
	Int                    // a bigint column
	Bool                   // "true" or "false"
	Enum                   // one of Field.Values
)

// Field is one API field of a list: the column behind it and what clients may
// do with it. Filter and Sort gate client input (Parse) only; domain code may
// filter or sort by any field of the allow-list, for example by a parent id
// taken from the path.
type Field struct {
	Column string   // the SQL column: the only way a name reaches SQL
	Type   Type     // how values are parsed and carried
	Values []string // the allowed values of an Enum
	Filter bool     // clients may filter: ?field=value (repeat the key for "one of")
	Sort   bool     // clients may sort: ?sort=field or ?sort=-field

	// Nullable marks a column that may hold NULL. NULLs sort last in both
	// directions and keyset conditions take them into account; a column
	// wrongly marked non-null makes pagination skip its NULL rows.
	Nullable bool
}

// Fields is the allow-list of one resource's lists. Build it with NewFields.
type Fields struct {
	resource string
	tiebreak string
	byName   map[string]Field
}

// controlKeys are the query parameters Parse interprets itself.
var controlKeys = []string{"limit", "cursor", "sort"}

// NewFields returns the allow-list of resource's lists. The field named
// tiebreak must be unique and non-null (normally "id", a UUIDv7): it ends
// every sort so that the order is total and pages never overlap or skip.
// resource is bound into cursors so one list's cursor is refused by another.
//
// It panics on a malformed allow-list, as regexp.MustCompile does: allow-lists
// are package-level values fixed by the code, not by input.
func NewFields(resource, tiebreak string, fields map[string]Field) Fields {
	if resource == "" {
		panic("spec: NewFields needs a resource name")
	}
	for name, f := range fields {
		if err := f.check(name); err != nil {
			panic(fmt.Sprintf("spec: %s: %v", resource, err))
		}
	}
	if t, ok := fields[tiebreak]; !ok || t.Nullable {
		panic(fmt.Sprintf("spec: %s: tiebreak %q must be a non-null field of the list", resource, tiebreak))
	}
	return Fields{resource: resource, tiebreak: tiebreak, byName: maps.Clone(fields)}
}

func (f Field) check(name string) error {
	switch {
	case name == "" || slices.Contains(controlKeys, name):
		return fmt.Errorf("%q cannot name a field", name)
	case f.Column == "":
		return fmt.Errorf("field %q has no column", name)
	case f.Type < String || f.Type > Enum:
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

// Resource names the list the allow-list belongs to.
func (f Fields) Resource() string { return f.resource }

// Tiebreak is the API name of the unique field that ends every sort.
func (f Fields) Tiebreak() string { return f.tiebreak }

// names lists, sorted, the fields clients may use in the way keep says; error
// messages show them so a client can correct itself.
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
