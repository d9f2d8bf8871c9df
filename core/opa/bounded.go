package opa

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/types"
)

// A value built of shared parts (x1 := [x0, x0], x2 := [x1, x1], ...) is
// small in memory and exponential in what OPA does with it: unification
// recurses once per element it visits, deep enough at 2^20 elements to
// overflow the goroutine's stack, a fatal error no recover catches, and
// comparisons visit every element. So no value over maxValueSize elements,
// counted with sharing expanded, may reach either:
//
//   - internal.atrium_bounded(x) returns x once measured (typed as any: the
//     type checker, too, walks nested types exponentially); the tenant
//     compiler's rewrite (rewrite.go) passes what a policy builds through it;
//   - internal.atrium_equal(a, b) measures a and b, then compares them in
//     one step: the rewrite's equality of two evaluated values;
//   - every built-in whose result may nest collections has it measured.

// maxValueSize bounds the logical size of a value a policy builds: every
// element, key and value counts, as often as it is reached (["a", "b"] is 3,
// {"k": [1]} is 4). A decision reads input of a few dozen elements and an
// authorisation rule never needs 100,000; measuring that many takes about a
// millisecond, and unifying them about 50 MB of stack, far from the limit.
const maxValueSize = 100_000

// Atrium's built-ins need no context but the call's location: a context
// costs topdown allocations on each evaluation that builds one.
var (
	boundedBuiltin = &ast.Builtin{
		Name:        "internal.atrium_bounded",
		Decl:        types.NewFunction(types.Args(types.A), types.A),
		CanSkipBctx: true,
	}
	equalBuiltin = &ast.Builtin{
		Name:        "internal.atrium_equal",
		Decl:        types.NewFunction(types.Args(types.A, types.A), types.B),
		CanSkipBctx: true,
	}
)

func init() {
	ast.RegisterBuiltin(boundedBuiltin)
	ast.RegisterBuiltin(equalBuiltin)
	topdown.RegisterBuiltinFunc(boundedBuiltin.Name, func(bctx topdown.BuiltinContext, ops []*ast.Term, iter func(*ast.Term) error) error {
		if err := checkSize(bctx.Location, "", ops[0]); err != nil {
			return err
		}
		return iter(ops[0])
	})
	topdown.RegisterBuiltinFunc(equalBuiltin.Name, func(bctx topdown.BuiltinContext, ops []*ast.Term, iter func(*ast.Term) error) error {
		for _, t := range ops {
			if err := checkSize(bctx.Location, "", t); err != nil {
				return err
			}
		}
		return iter(ast.InternedTerm(ops[0].Equal(ops[1])))
	})
	// Built-ins that may return collections of collections: array.concat(x,
	// x) doubles x.
	for _, b := range tenantCapabilities.Builtins {
		f := topdown.GetBuiltin(b.Name)
		if f == nil || b == boundedBuiltin || b == equalBuiltin || !nests(b.Decl.Result()) {
			continue
		}
		topdown.RegisterBuiltinFunc(b.Name, measured(b.Name, f))
	}
}

// measured checks f's results.
func measured(name string, f topdown.BuiltinFunc) topdown.BuiltinFunc {
	return func(bctx topdown.BuiltinContext, ops []*ast.Term, iter func(*ast.Term) error) error {
		loc := bctx.Location // not bctx: the closure would copy all of it to the heap
		return f(bctx, ops, func(out *ast.Term) error {
			if err := checkSize(loc, name+": ", out); err != nil {
				return err
			}
			return iter(out)
		})
	}
}

// nests tells whether a built-in's result may be a collection holding
// collections: only such a value can be larger than the memory it takes (a
// part used twice), or take unification deeper than one level. A
// collection of scalars (split's, time.clock's) is neither.
func nests(t types.Type) bool {
	switch t := unwrap(t).(type) {
	case nil, types.String, types.Number, types.Boolean, types.Null:
		return false
	case types.Any:
		return len(t) == 0 || slices.ContainsFunc(t, nests)
	case *types.Array, *types.Set, *types.Object:
		return collection(types.Keys(t)) || collection(types.Values(t))
	}
	return true
}

// collection tells whether a value of type t may be a collection.
func collection(t types.Type) bool {
	switch t := unwrap(t).(type) {
	case nil, types.String, types.Number, types.Boolean, types.Null:
		return false
	case types.Any:
		return len(t) == 0 || slices.ContainsFunc(t, collection)
	}
	return true
}

func unwrap(t types.Type) types.Type {
	if n, ok := t.(*types.NamedType); ok {
		return n.Type
	}
	return t
}

// checkSize halts the evaluation when t is over maxValueSize: a halt, not
// an error, so that a deny rule over the bound denies the decision instead
// of being undefined.
func checkSize(loc *ast.Location, prefix string, t *ast.Term) error {
	if valueSize(t) <= maxValueSize {
		return nil
	}
	return topdown.Halt{Err: &topdown.Error{Code: topdown.BuiltinErr, Location: loc,
		Message: fmt.Sprintf("%svalue too large: over the sandbox's limit of %d elements (a part used n times counts n times)",
			prefix, maxValueSize)}}
}

// valueSize returns t's logical size, counting up to maxValueSize+1 only:
// a value built of shared parts is measured in at most that many steps,
// however large (2^60 elements: a millisecond), and one within the bound in
// as many steps as it has elements, as a comparison would take.
func valueSize(t *ast.Term) int { return count(t, 0) }

// count adds t's size to n, stopping past maxValueSize.
func count(t *ast.Term, n int) int {
	n++
	switch v := t.Value.(type) {
	case *ast.Array:
		for i := 0; i < v.Len() && n <= maxValueSize; i++ {
			n = count(v.Elem(i), n)
		}
	case ast.Set:
		n = countSet(v, n)
	case ast.Object:
		n = countObject(v, n)
	}
	return n
}

// countSet and countObject keep their closures, which move n to the heap,
// out of count: scalars and arrays allocate nothing.
func countSet(s ast.Set, n int) int {
	s.Until(func(e *ast.Term) bool { n = count(e, n); return n > maxValueSize })
	return n
}

func countObject(o ast.Object, n int) int {
	o.Until(func(k, v *ast.Term) bool { n = count(v, count(k, n)); return n > maxValueSize })
	return n
}

// jsonSize adds the size of v, as valueSize counts it once converted, to n,
// stopping past maxValueSize; -1 when v holds a type other than decoded
// JSON's. Counting the Go value allocates nothing.
func jsonSize(v any, n int) int {
	n++
	switch v := v.(type) {
	case nil, bool, string, float64, json.Number:
	case map[string]any:
		for _, e := range v {
			if n = jsonSize(e, n+1); n < 0 || n > maxValueSize { // +1: the key
				return n
			}
		}
	case []any:
		for _, e := range v {
			if n = jsonSize(e, n); n < 0 || n > maxValueSize {
				return n
			}
		}
	default:
		return -1
	}
	return n
}
