package opa

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/policies"
)

// semantics uses what the rewrite changes, each in the ways policies do:
// comprehensions (nested), functions (patterns, else, repeated arguments),
// partial sets and objects (composite keys), some, every, with, negation,
// patterns and comparisons of values, constants and references.
const semantics = `package tenant.semantics

perms := [p | some p in input.subject.permissions; startswith(p, "projects.")]
roles := {r | some r in input.subject.roles}
by_context[c] := names if {
	some name in input.subject.permissions
	c := split(name, ".")[0]
	names := {n | some n in input.subject.permissions; startswith(n, c)}
}
pairs contains [a, b] if { some a in perms; some b in perms; a < b }
keyed[[c, n]] := true if { some p in perms; [c, _, n] := split(p, ".") }
first_two := [x, y] if [x, y, _] := split(input.action, ".")
owner if input.resource.owner_id == input.subject.id
f(x) := {"v": x, "w": [x, x]}
f2([a, b]) := a + b
same(a, a) := true
same(a, b) := false if a != b
size(x) := "big" if x > 10
else := "small"
twice(a, a) := "first" if a > 1
else := "else"
twice_results := [twice(2, 2), twice(1, 1)]
twice_unequal := twice(1, 2)
default status := "none"
status := s if s := input.resource.attributes.status
attrs := {k: v | some k, v in input.resource.attributes}
nested := [[y | some y in [x, x]] | some x in [1, 2]]
every_dotted if every p in input.subject.permissions { contains(p, ".") }
with_action := v if v := input.action with input.action as "x.y.z"
with_composite := v if { c := perms; v := input.v with input.v as [c, c] }
unified if { {"a": a, "b": [b, _]} = {"a": 1, "b": [2, 3]}; a + b == 3 }
pattern := {"a": a, "b": b} if [a, b] := [input.action, input.subject.id]
compared if perms == [p | some p in perms]
locals if { x := [1, [2, 3]]; y := [1, [2, 3]]; x == y; [1, z] = y; z == [2, 3]; w = [x, y]; [u, u] = w }
negated if not input.action == input.subject.id
negated_ref if not perms == [r | some r in roles]
positions contains i if { some i; input.subject.permissions[i] == perms[0] }
matches contains p if { some p in input.subject.permissions; wrapped := [p]; wrapped[_] = perms[_] }
lookup if by_context.projects["projects.task.read"]
results := [f(1), f2([1, 2]), same(1, 1), same(1, 2), size(20), size(1), same(perms, perms)]
pair_lookup if pairs[[perms[0], perms[1]]]
key_lookup := keyed[["projects", "read"]]
unions := object.union({"a": roles}, {"b": perms})
set_ops := roles | {"extra"}
counted := count(pairs)
bound_twice if { x := perms; y := perms; [x, y] = [y, x] }
from_rules if { x := data.tenant.semantics.perms; x == perms; data.tenant.semantics.perms == perms }
whole_package_has_perms if data.tenant.semantics.perms == perms
`

func inputs() []*ast.Term {
	var out []*ast.Term
	for _, in := range []string{
		`{"action": "projects.task.read", "subject": {"id": "u1", "roles": ["member", "lead"], "permissions": ["projects.task.read", "projects.task.update", "identity.user.read"]}, "resource": {"owner_id": "u1", "attributes": {"status": "active", "n": 3}}}`,
		`{"action": "identity.user.delete", "subject": {"id": "u2", "roles": [], "permissions": ["projects.project.read", "projects.task.read"]}, "resource": {"owner_id": "u1", "attributes": {}}}`,
		`{"action": "u3", "subject": {"id": "u3", "roles": ["admin"], "permissions": []}, "resource": {"owner_id": "", "attributes": {"status": "archived"}}}`,
	} {
		out = append(out, ast.MustParseTerm(in))
	}
	return out
}

// evalAll compiles mods with c and returns data.tenant for each input.
func evalAll(t *testing.T, c *ast.Compiler, mods map[string]*ast.Module) []ast.Value {
	t.Helper()
	c.Compile(mods)
	require.False(t, c.Failed(), "%v", c.Errors)
	q, err := prepareQuery(c, "x = data.tenant")
	require.NoError(t, err)
	var out []ast.Value
	for _, in := range inputs() {
		r, err := q.eval(context.Background(), in, topdown.NewCancel(), nil)
		require.NoError(t, err)
		out = append(out, r[ast.Var("x")].Value)
	}
	return out
}

func parsed(t *testing.T, texts map[string]string) map[string]*ast.Module {
	t.Helper()
	mods := map[string]*ast.Module{}
	for name, text := range texts {
		mods[name] = ast.MustParseModuleWithOpts(text, ast.ParserOptions{RegoVersion: ast.RegoV1})
	}
	return mods
}

// What a policy decides does not change: every rule of the policies above
// and of the examples has the same value, rewritten or not.
func TestRewriteKeepsWhatPoliciesMean(t *testing.T) {
	texts := map[string]string{"semantics.rego": semantics}
	require.NoError(t, fs.WalkDir(policies.Examples, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, "_test.rego") {
			return err
		}
		b, err := fs.ReadFile(policies.Examples, path)
		texts[path] = string(b)
		return err
	}))
	plain := ast.NewCompiler().WithCapabilities(tenantCapabilities).WithEnablePrintStatements(false).WithDefaultRegoVersion(ast.RegoV1)
	want := evalAll(t, plain, parsed(t, texts))
	got := evalAll(t, newTenantCompiler(tenantCapabilities), parsed(t, texts))
	for i := range want {
		assert.Equal(t, want[i].String(), got[i].String(), "input %d", i)
	}
	// Most rules are defined for some input: the comparison compares something.
	sem := want[0].(ast.Object).Get(ast.StringTerm("semantics")).Value.(ast.Object)
	assert.Greater(t, sem.Len(), 30, sem)
}

// Rule indexing reads unifications with constants, which the rewrite
// keeps: of 200 rules on input.action, a lookup finds the one.
func TestRewriteKeepsRuleIndexing(t *testing.T) {
	var b strings.Builder
	b.WriteString("package tenant\n")
	for i := range 100 {
		fmt.Fprintf(&b, "allow contains \"literal %d\" if input.action == \"projects.item.a%d\"\n", i, i)
		fmt.Fprintf(&b, "allow contains \"variable %d\" if { a := \"projects.item.b%d\"; input.action == a }\n", i, i)
	}
	c := newTenantCompiler(tenantCapabilities)
	c.Compile(parsed(t, map[string]string{"m.rego": b.String()}))
	require.False(t, c.Failed(), "%v", c.Errors)
	for _, action := range []string{"projects.item.a42", "projects.item.b7"} {
		res, err := c.RuleIndex(ast.MustParseRef("data.tenant.allow")).Lookup(actionResolver(action))
		require.NoError(t, err)
		assert.Len(t, res.Rules, 1, action)
	}
}

type actionResolver string

func (a actionResolver) Resolve(ref ast.Ref) (ast.Value, error) {
	if ref.Equal(ast.MustParseRef("input.action")) {
		return ast.String(a), nil
	}
	return nil, nil
}

// The type checker meets no deep type: comparing constants of nested
// arrays, written through variables, took it seconds at 14 levels. What a
// rule builds of variables is typed as any.
func TestRewriteBoundsTypeChecking(t *testing.T) {
	var b strings.Builder
	b.WriteString("package tenant\nx0 := [\"a\"]\ny0 := [\"a\"]\n")
	for i := 1; i <= 14; i++ {
		fmt.Fprintf(&b, "x%d := [x%d, x%d]\ny%d := [y%d, y%d]\n", i, i-1, i-1, i, i-1, i-1)
	}
	b.WriteString("allow contains \"x\" if { x14 == y14; a := x3; b := [a, a]; b == x4 }\n")
	c := newTenantCompiler(tenantCapabilities)
	c.Compile(parsed(t, map[string]string{"m.rego": b.String()}))
	require.False(t, c.Failed(), "%v", c.Errors)
	assert.Equal(t, types.A, c.TypeEnv.GetByRef(ast.MustParseRef("data.tenant.x14")))
	assert.Equal(t, types.NewArray([]types.Type{types.S}, nil), c.TypeEnv.GetByRef(ast.MustParseRef("data.tenant.x0")), "a constant keeps its type")
}

func TestNestingLimits(t *testing.T) {
	deep := func(n int) string { return strings.Repeat("[", n) + "1" + strings.Repeat("]", n) }
	closures := func(n int) string {
		arg := "[1]"
		for i := range n {
			arg = fmt.Sprintf("[v%d | some v%d in %s]", i, i, arg)
		}
		return arg
	}
	for rego, ok := range map[string]bool{
		"x := " + deep(maxNesting):                                               true,
		"x := " + deep(maxNesting+1):                                             false,
		"x := count(" + closures(maxClosureNesting) + ")":                        true,
		"x := count(" + closures(maxClosureNesting+1) + ")":                      false,
		"p if every x in [1] { every y in [x] { y == 1 } }":                      true,
		"f(x) := y if { y := {\"a\": [x, {\"b\": {x}}]} }":                       true,
		"x := [1 | not [y | some y in [1]][0] == 2]":                             true,
		"x := " + strings.Repeat("{\"k\": ", 17) + "1" + strings.Repeat("}", 17): false,
	} {
		_, err := compileTenant([]policy.Module{{Name: "m", Rego: "package tenant\n" + rego}})
		if ok {
			assert.NoError(t, err, rego)
		} else {
			assert.ErrorContains(t, err, "one in another, over the limits of", rego)
		}
	}
}

// Tenant text cannot name what the rewrite adds.
func TestReservedNamesAreRefused(t *testing.T) {
	for _, rego := range []string{
		`allow contains "x" if internal.atrium_bounded(input.a)`,
		`allow contains "x" if internal.atrium_equal(input.a, input.b)`,
		`allow contains "x" if { __atrium1__ = 1 }`,
		`allow contains "x" if { count(input.a) == 1 with internal.atrium_equal as true }`,
	} {
		_, err := compileTenant([]policy.Module{{Name: "m", Rego: "package tenant\n" + rego}})
		assert.ErrorContains(t, err, "are reserved", rego)
	}
}

func TestValueSize(t *testing.T) {
	v := ast.ArrayTerm(ast.StringTerm("leaf"))
	for range 60 {
		v = ast.ArrayTerm(v, v)
	}
	assert.Equal(t, maxValueSize+1, valueSize(v), "2^60 leaves, counted no further than the bound")
	for text, want := range map[string]int{
		`"a long string"`:            1,
		`[1, 2]`:                     3,
		`{"k": [1]}`:                 4,
		`{[1, 2], {"a": {"b": 1}}}`:  9,
		`[[1, [2]], [1, [2]], null]`: 10,
	} {
		assert.Equal(t, want, valueSize(ast.MustParseTerm(text)), text)
	}
	// Decoded JSON is counted as it will be converted; anything else, not.
	m := map[string]any{"a": []any{1.0, "x", nil, map[string]any{"b": true}}, "c": json.Number("2")}
	converted, err := ast.InterfaceToValue(m)
	require.NoError(t, err)
	assert.Equal(t, valueSize(ast.NewTerm(converted)), jsonSize(m, 0))
	assert.Equal(t, -1, jsonSize(map[string]any{"a": []int{1}}, 0))
}
