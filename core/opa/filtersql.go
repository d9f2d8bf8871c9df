package opa

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/internal/listquery"
)

// The translator turns partial results into SQL that holds for a row
// exactly when the decision on that row's resource would allow. The row's
// resource is what the list's columns hold: a NULL attribute is absent, a
// NULL id or owner is "" (as a resource-level decision without one sees
// it), an attribute the list does not map is absent.
//
// Every expression it emits is two-valued (never NULL), so NOT is the
// complement, and names reach SQL only as checked identifiers, values only
// as placeholders. An expression it cannot translate exactly makes its
// conjunction untranslatable; that conjunction is then left to the per-row
// decision, and the SQL keeps only what narrows the rows without dropping
// any the policy allows:
//
//	visible = base allows and not (deny₁ or deny₂ ...)
//	        = not deny₁ and not deny₂ ...        (an untranslatable denyᵢ: left out)
//	visible = grantable and (allow₁ or ...) and not (deny ...)
//	                                            (an untranslatable allowⱼ: TRUE)
type translator struct {
	cols   access.ListColumns
	offset int
	params []any
}

func newTranslator(cols access.ListColumns, argOffset int) *translator {
	return &translator{cols: cols, offset: argOffset}
}

var errUntranslatable = errors.New("no SQL form")

// visible returns the SQL of the rows the policy lets the subject read and
// whether some of it fell back to deciding each row. An error is a column
// the list declared wrongly.
func (t *translator) visible(action string, b baseResult, p *partialResult) (string, bool, error) {
	if err := t.checkColumns(); err != nil {
		return "", false, err
	}
	switch {
	case len(b.deny) > 0:
		return "FALSE", false, nil
	case !p.whole:
		return "TRUE", true, nil
	}
	var parts []string
	fallback := false
	if !b.allow {
		if !b.grantable || !grantableAction(action) || len(p.allow) == 0 {
			return "FALSE", false, nil
		}
		var any []string
		always := false
		for _, body := range p.allow {
			sql, err := t.body(body)
			if errors.Is(err, errUntranslatable) {
				always, fallback = true, true // TRUE here; each row decides
				break
			}
			if sql == "TRUE" {
				always = true
				break
			}
			if sql != "FALSE" {
				any = append(any, sql)
			}
		}
		switch {
		case always:
			t.params = nil
		case len(any) == 0:
			return "FALSE", false, nil
		default:
			parts = append(parts, "("+strings.Join(any, " OR ")+")")
		}
	}
	for _, body := range p.deny {
		sql, err := t.body(body)
		if errors.Is(err, errUntranslatable) {
			fallback = true
			continue
		}
		switch sql {
		case "TRUE":
			t.params = nil
			return "FALSE", false, nil
		case "FALSE":
			continue
		}
		parts = append(parts, "NOT ("+sql+")")
	}
	if len(parts) == 0 {
		return "TRUE", fallback, nil
	}
	return strings.Join(parts, " AND "), fallback, nil
}

var columnPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$`)

func (t *translator) checkColumns() error {
	check := func(c *access.Column) error {
		if c != nil && !columnPattern.MatchString(c.Name) {
			return fmt.Errorf("list filter: column %q is not a plain lower-case identifier", c.Name)
		}
		return nil
	}
	if err := errors.Join(check(t.cols.ID), check(t.cols.Owner)); err != nil {
		return err
	}
	for _, c := range t.cols.Attributes {
		if err := check(&c); err != nil {
			return err
		}
	}
	return nil
}

// body translates a conjunction; "TRUE" when it always holds, "FALSE" when
// never. The placeholders of a conjunction that is not used are dropped.
func (t *translator) body(b ast.Body) (sql string, err error) {
	mark := len(t.params)
	defer func() {
		if err != nil || sql == "TRUE" || sql == "FALSE" {
			t.params = t.params[:mark]
		}
	}()
	uses := varUses(b)
	var parts []string
	for _, e := range b {
		sql, err := t.expr(e, uses)
		if err != nil {
			return "", err
		}
		switch sql {
		case "TRUE":
			continue
		case "FALSE":
			return "FALSE", nil
		}
		parts = append(parts, sql)
	}
	if len(parts) == 0 {
		return "TRUE", nil
	}
	return strings.Join(parts, " AND "), nil
}

func varUses(b ast.Body) map[ast.Var]int {
	uses := map[ast.Var]int{}
	ast.WalkVars(b, func(v ast.Var) bool { uses[v]++; return false })
	return uses
}

func (t *translator) expr(e *ast.Expr, uses map[ast.Var]int) (string, error) {
	if len(e.With) > 0 {
		return "", errUntranslatable
	}
	sql, err := t.positive(e, uses)
	if err != nil || !e.Negated {
		return sql, err
	}
	switch sql {
	case "TRUE":
		return "FALSE", nil
	case "FALSE":
		return "TRUE", nil
	}
	return "NOT (" + sql + ")", nil
}

// positive translates e as if it were not negated.
func (t *translator) positive(e *ast.Expr, uses map[ast.Var]int) (string, error) {
	switch x := e.Terms.(type) {
	case *ast.Term: // a value alone: true when defined and not false
		f, ok := t.field(x)
		if !ok {
			return "", errUntranslatable
		}
		return t.truthy(f), nil
	case []*ast.Term:
		if len(x) != 3 {
			return "", errUntranslatable
		}
		op, a, b := x[0].String(), x[1], x[2]
		switch op {
		case "eq", "equal", "internal.atrium_equal":
			return t.equality(a, b, uses)
		case "neq":
			return t.compare(op, a, b)
		case "lt", "gt", "lte", "gte":
			return t.compare(op, a, b)
		case "internal.member_2":
			return t.member(a, b)
		}
	}
	return "", errUntranslatable
}

// field is a reference to the resource as the list's row holds it.
type field struct {
	col    *access.Column // nil: not in the list
	idLike bool           // id or owner_id: "" when not in the list or NULL
	named  bool           // col.Name is an attribute's name (ListColumns.Named)
}

// sql is the column as SQL: a checked identifier, or a named attribute
// quoted whole.
func (f field) sql() string {
	if f.named {
		return `"` + strings.ReplaceAll(f.col.Name, `"`, `""`) + `"`
	}
	return quoteColumn(f.col.Name)
}

var (
	resourceID    = ast.MustParseRef("input.resource.id")
	resourceOwner = ast.MustParseRef("input.resource.owner_id")
	resourceAttrs = ast.MustParseRef("input.resource.attributes")
)

func (t *translator) field(term *ast.Term) (field, bool) {
	ref, ok := term.Value.(ast.Ref)
	if !ok {
		return field{}, false
	}
	switch {
	case ref.Equal(resourceID):
		return field{col: t.cols.ID, idLike: true}, true
	case ref.Equal(resourceOwner):
		return field{col: t.cols.Owner, idLike: true}, true
	case len(ref) == len(resourceAttrs)+1 && ref.HasPrefix(resourceAttrs):
		key, ok := ref[len(ref)-1].Value.(ast.String)
		if !ok {
			return field{}, false
		}
		if c, found := t.cols.Attributes[string(key)]; found {
			return field{col: &c}, true
		}
		if t.cols.Named {
			return field{col: &access.Column{Name: string(key), Type: listquery.String, Nullable: true}, named: true}, true
		}
		return field{}, true // absent
	}
	return field{}, false
}

func (t *translator) arg(v any) string {
	t.params = append(t.params, v)
	return "$" + strconv.Itoa(t.offset+len(t.params))
}

func quoteColumn(name string) string { return `"` + strings.ReplaceAll(name, ".", `"."`) + `"` }

// kind is the Rego type a column's values have in the resource.
func kind(tp listquery.Type) string {
	switch tp {
	case listquery.Int:
		return "number"
	case listquery.Bool:
		return "boolean"
	}
	return "string"
}

// truthy: the value alone as an expression, true when defined and not false.
func (t *translator) truthy(f field) string {
	switch {
	case f.idLike:
		return "TRUE" // "" when missing: defined
	case f.col == nil:
		return "FALSE"
	case f.col.Type == listquery.Bool:
		return f.sql() + " IS TRUE"
	}
	return t.defined(f)
}

// defined: the field has a value.
func (t *translator) defined(f field) string {
	switch {
	case f.idLike:
		return "TRUE"
	case f.col == nil:
		return "FALSE"
	case !f.col.Nullable:
		return "TRUE"
	}
	return f.sql() + " IS NOT NULL"
}

// equality translates a = b, b = a, or v = field with v used only here.
func (t *translator) equality(a, b *ast.Term, uses map[ast.Var]int) (string, error) {
	if _, ok := a.Value.(ast.Ref); !ok {
		a, b = b, a
	}
	if v, ok := b.Value.(ast.Var); ok && uses[v] == 1 {
		if f, ok := t.field(a); ok {
			return t.defined(f), nil
		}
		if ast.IsConstant(a.Value) {
			return "TRUE", nil
		}
		return "", errUntranslatable
	}
	f, ok := t.field(a)
	if !ok || !ast.IsScalar(b.Value) {
		return "", errUntranslatable
	}
	return t.equals(f, b.Value)
}

// equals: the field is defined and equal to the scalar c.
func (t *translator) equals(f field, c ast.Value) (string, error) {
	s, isString := c.(ast.String)
	switch {
	case f.col == nil && f.idLike:
		return boolSQL(isString && s == ""), nil
	case f.col == nil:
		return "FALSE", nil
	case f.idLike && isString && s == "":
		if f.col.Nullable {
			return f.sql() + " IS NULL", nil
		}
		return "FALSE", nil
	case ast.ValueName(c) != kind(f.col.Type):
		return "FALSE", nil
	}
	v, ok, err := t.value(f.col, c)
	if err != nil || !ok {
		return boolSQL(ok), err
	}
	return twoValued(f.col, f.sql()+" = "+v), nil
}

// value is c as a placeholder of the column's type; ok false when no value
// of the column can equal c (then it is never equal).
func (t *translator) value(col *access.Column, c ast.Value) (string, bool, error) {
	switch col.Type {
	case listquery.String:
		s := string(c.(ast.String))
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return "", false, nil // PostgreSQL text holds neither
		}
		return t.arg(s) + "::text", true, nil
	case listquery.Enum:
		return t.arg(string(c.(ast.String))) + "::text", true, nil
	case listquery.UUID:
		s := string(c.(ast.String))
		u, err := uuid.Parse(s)
		if err != nil || u.String() != s {
			return "", false, nil // the resource's ids are canonical
		}
		return t.arg(s) + "::uuid", true, nil
	case listquery.Date:
		s := string(c.(ast.String))
		d, err := time.Parse(time.DateOnly, s)
		if err != nil || d.Format(time.DateOnly) != s {
			return "", false, nil
		}
		return t.arg(s) + "::date", true, nil
	case listquery.Int:
		return t.arg(c.(ast.Number).String()) + "::numeric", true, nil
	case listquery.Bool:
		return t.arg(bool(c.(ast.Boolean))), true, nil
	}
	return "", false, errUntranslatable // Time: its text form is the plugin's
}

// twoValued makes a comparison on a nullable column FALSE where NULL.
func twoValued(col *access.Column, cmp string) string {
	if col.Nullable {
		return "(" + cmp + ") IS TRUE"
	}
	return cmp
}

func boolSQL(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

var flipped = map[string]string{"lt": "gt", "gt": "lt", "lte": "gte", "gte": "lte", "neq": "neq"}

var operators = map[string]string{"lt": "<", "gt": ">", "lte": "<=", "gte": ">="}

// compare translates a != b and the orderings, the field on either side.
func (t *translator) compare(op string, a, b *ast.Term) (string, error) {
	f, ok := t.field(a)
	if !ok {
		if f, ok = t.field(b); !ok {
			return "", errUntranslatable
		}
		b, op = a, flipped[op]
	}
	if !ast.IsScalar(b.Value) {
		return "", errUntranslatable
	}
	if op == "neq" {
		eq, err := t.equals(f, b.Value)
		if err != nil {
			return "", err
		}
		// Defined and not equal. equals is two-valued, defined not NULL.
		def := t.defined(f)
		switch {
		case eq == "FALSE":
			return def, nil
		case def == "TRUE":
			return "NOT (" + eq + ")", nil
		}
		return def + " AND NOT (" + eq + ")", nil
	}
	if f.col == nil {
		if f.idLike {
			return "", errUntranslatable // "" against a constant: rare, left to the rows
		}
		return "FALSE", nil // absent: undefined
	}
	// Orderings only where SQL orders as Rego does: integers, and text
	// compared byte by byte.
	var v string
	switch {
	case f.col.Type == listquery.Int && ast.ValueName(b.Value) == "number":
		v = t.arg(b.Value.(ast.Number).String()) + "::numeric"
		return twoValued(f.col, f.sql()+" "+operators[op]+" "+v), nil
	case f.col.Type == listquery.String && ast.ValueName(b.Value) == "string":
		s := string(b.Value.(ast.String))
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return "", errUntranslatable
		}
		v = t.arg(s) + `::text COLLATE "C"`
		return twoValued(f.col, f.sql()+` COLLATE "C" `+operators[op]+" "+v), nil
	}
	return "", errUntranslatable
}

// maxMembers bounds a collection translated as a disjunction.
const maxMembers = 100

// member translates field in collection.
func (t *translator) member(a, b *ast.Term) (string, error) {
	f, ok := t.field(a)
	if !ok {
		return "", errUntranslatable
	}
	var elems []ast.Value
	switch c := b.Value.(type) {
	case *ast.Array:
		c.Foreach(func(e *ast.Term) { elems = append(elems, e.Value) })
	case ast.Set:
		c.Foreach(func(e *ast.Term) { elems = append(elems, e.Value) })
	case ast.Object:
		c.Foreach(func(_, v *ast.Term) { elems = append(elems, v.Value) })
	default:
		return "", errUntranslatable
	}
	if len(elems) > maxMembers {
		return "", errUntranslatable
	}
	var any []string
	for _, v := range elems {
		if !ast.IsScalar(v) {
			return "", errUntranslatable
		}
		sql, err := t.equals(f, v)
		if err != nil {
			return "", err
		}
		switch sql {
		case "TRUE":
			return "TRUE", nil
		case "FALSE":
			continue
		}
		any = append(any, sql)
	}
	switch len(any) {
	case 0:
		return "FALSE", nil
	case 1:
		return any[0], nil
	}
	return "(" + strings.Join(any, " OR ") + ")", nil
}
