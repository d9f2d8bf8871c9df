package opa

import (
	"fmt"
	"maps"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// boundStage is the tenant compiler's own rewrite, run once the compiler has
// ordered every body for safety (so what each expression binds is known)
// and before it checks types. It keeps every value a tenant's policy builds
// within maxValueSize (bounded.go), and keeps unification from walking
// evaluated values, which costs stack per element visited, held until the
// rest of the body has run (a body of unifications of moderate values
// overflows the stack as surely as one of an exponential value):
//
//   - a value bound to a variable, or given as a rule's key or value, a
//     function's argument or a `with` value, is measured
//     (internal.atrium_bounded) when it is built of variables (a collection
//     written with them, a comprehension, a whole partial rule or package);
//   - an equality of two evaluated values becomes internal.atrium_equal,
//     which measures them and compares them in one step;
//   - a pattern (a collection holding variables to bind) keeps only its
//     unbound variables, each once: a bound one or a repeated one becomes a
//     fresh variable, compared afterwards; so do a function's arguments;
//   - a partial rule's key is a fresh variable, bound at the body's end: a
//     lookup (p[k]) binds the key before the body runs, and would turn the
//     body's binding of it into a unification of two values.
//
// Unifications with a constant (input.action == "x") are kept as they are:
// they walk no more than the constant, and rule indexing reads them. What a
// valid policy decides does not change; a type error between two evaluated
// values is no longer reported, since they are compared as `any`, and the
// type checker no longer meets a deeply nested type either.
var boundStage = ast.CompilerStageDefinition{Name: "AtriumBoundValues", MetricName: "atrium_bound_values", Stage: boundValues}

// freshPrefix starts the variables the rewrite makes; tenant text may not
// use it, nor name Atrium's built-ins (reservedProblems).
const freshPrefix = "__atrium"

func boundValues(c *ast.Compiler) *ast.Error {
	r := &rewriter{c: c}
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) {
		for _, rule := range c.Modules[name].Rules {
			for x := rule; x != nil; x = x.Else {
				r.rule(x)
			}
		}
	}
	return nil
}

type rewriter struct {
	c     *ast.Compiler
	fresh int
}

func (r *rewriter) rule(rule *ast.Rule) {
	if rule.Default { // its value is a constant
		return
	}
	s := newScope()
	var checks []*ast.Expr
	seen := ast.NewVarSet()
	if len(rule.Head.Args) > 0 {
		args := make(ast.Args, len(rule.Head.Args)) // not in place: an else may share them
		for i, arg := range rule.Head.Args {
			args[i] = r.distinct(arg, seen, &checks)
		}
		rule.Head.Args = args
	}
	s.bound.Update(seen)
	body := r.body(append(checks, rule.Body...), s)
	// A rule's key is bound by the body, and its value too when built of
	// variables: measured, and typed as any, at the body's end. A key
	// never binds a variable of the body: a lookup (p[k]) would bind it to
	// k first, and the body's binding would compare them element by element.
	var built [][2]*ast.Term // a term, its variable
	head := func(t *ast.Term, key bool) *ast.Term {
		if t == nil || t.IsGround() || (!key && !builtOfVars(t)) {
			return t
		}
		for _, b := range built {
			if b[0].Equal(t) {
				return b[1]
			}
		}
		v := r.newVar()
		built = append(built, [2]*ast.Term{t, v})
		body.Append(r.bounded(t, v, rule.Location))
		return v
	}
	ref := slices.Clone(rule.Head.Reference)
	for i := 1; i < len(ref); i++ {
		ref[i] = head(ref[i], true)
	}
	rule.Head.Reference = ref
	rule.Head.Key, rule.Head.Value = head(rule.Head.Key, true), head(rule.Head.Value, false)
	rule.Body = body
}

// distinct replaces each repeated variable of a function's argument by a
// fresh one, with a comparison for the body to start with: f(x, x) would
// otherwise unify the two arguments.
func (r *rewriter) distinct(t *ast.Term, seen ast.VarSet, checks *[]*ast.Expr) *ast.Term {
	switch v := t.Value.(type) {
	case ast.Var:
		if seen.Contains(v) {
			f := r.newVar()
			*checks = append(*checks, r.compare(f, t, t.Location))
			seen.Add(f.Value.(ast.Var))
			return f
		}
		seen.Add(v)
	case *ast.Array:
		elems := make([]*ast.Term, v.Len())
		for i := range elems {
			elems[i] = r.distinct(v.Elem(i), seen, checks)
		}
		return ast.ArrayTerm(elems...).SetLocation(t.Location)
	case ast.Object:
		var items [][2]*ast.Term
		v.Foreach(func(k, val *ast.Term) { items = append(items, [2]*ast.Term{k, r.distinct(val, seen, checks)}) })
		return ast.ObjectTerm(items...).SetLocation(t.Location)
	}
	return t
}

// scope is what a body knows before one of its expressions: the variables
// bound, and those of them bound to a constant.
type scope struct{ bound, consts ast.VarSet }

func newScope() scope {
	return scope{bound: ast.ReservedVars.Copy(), consts: ast.NewVarSet()}
}

func (s scope) copy() scope { return scope{bound: s.bound.Copy(), consts: s.consts.Copy()} }

// update records what expr binds. In a body ordered for safety, which
// this is, an expression's variables are bound once it has run, but for
// those of negations and closures, which are their own.
func (s scope) update(expr *ast.Expr) {
	if expr.Negated {
		return
	}
	if expr.IsEquality() {
		a, b := expr.Operand(0), expr.Operand(1)
		for _, p := range [][2]*ast.Term{{a, b}, {b, a}} {
			if v, ok := p[0].Value.(ast.Var); ok && !s.bound.Contains(v) && s.constant(p[1]) {
				s.consts.Add(v)
			}
		}
	}
	vis := ast.NewVarVisitor().WithParams(ast.VarVisitorParams{SkipClosures: true})
	vis.Walk(expr)
	s.bound.Update(vis.Vars())
}

func (r *rewriter) body(body ast.Body, s scope) ast.Body {
	s = s.copy()
	out := make(ast.Body, 0, len(body))
	for _, expr := range body {
		for _, e := range r.expr(expr, s) {
			out.Append(e)
			s.update(e)
		}
	}
	return out
}

func (r *rewriter) expr(expr *ast.Expr, s scope) []*ast.Expr {
	r.closures(expr, s)
	var out []*ast.Expr
	for _, w := range expr.With { // evaluated before the expression, and its input or data after
		if builtOfVars(w.Value) {
			out = append(out, r.check(w.Value, expr.Location))
		}
	}
	switch {
	case expr.IsEquality():
		return append(out, r.eq(expr, s)...)
	case expr.IsCall():
		return append(out, r.call(expr, s)...)
	}
	return append(out, expr)
}

// closures rewrites the bodies expr holds (comprehensions, every, not),
// in place as the compiler's own stages do, each in a scope of its own.
func (r *rewriter) closures(expr *ast.Expr, s scope) {
	switch t := expr.Terms.(type) {
	case *ast.Every:
		inner := s.copy()
		inner.bound.Update(t.KeyValueVars())
		t.Body = r.body(t.Body, inner)
		return
	case *ast.Not:
		t.Body = r.body(t.Body, s)
		return
	case *ast.LogicalAnd:
		t.Lhs, t.Rhs = r.body(t.Lhs, s), r.body(t.Rhs, s)
		return
	case *ast.LogicalOr:
		t.Lhs, t.Rhs = r.body(t.Lhs, s), r.body(t.Rhs, s)
		return
	}
	vis := ast.NewGenericVisitor(func(x any) bool {
		switch c := x.(type) {
		case *ast.ArrayComprehension:
			c.Body = r.body(c.Body, s)
		case *ast.SetComprehension:
			c.Body = r.body(c.Body, s)
		case *ast.ObjectComprehension:
			c.Body = r.body(c.Body, s)
		default:
			return false
		}
		return true // r.body went inside
	})
	switch t := expr.Terms.(type) {
	case *ast.Term:
		vis.Walk(t)
	case []*ast.Term:
		for _, x := range t {
			vis.Walk(x)
		}
	}
}

// check measures t: internal.atrium_bounded(t), its result unused.
func (r *rewriter) check(t *ast.Term, loc *ast.Location) *ast.Expr {
	return r.bounded(t, r.newVar(), loc)
}

// bounded binds v to t once measured: internal.atrium_bounded(t, v).
func (r *rewriter) bounded(t, v *ast.Term, loc *ast.Location) *ast.Expr {
	e := boundedBuiltin.Expr(t, v)
	e.Location, e.Generated = loc, true
	return e
}

// compare is internal.atrium_equal(a, b), of two bound variables or
// collections of them.
func (r *rewriter) compare(a, b *ast.Term, loc *ast.Location) *ast.Expr {
	e := equalBuiltin.Expr(a, b)
	e.Location, e.Generated = loc, true
	return e
}

func (r *rewriter) newVar() *ast.Term {
	r.fresh++
	return ast.VarTerm(fmt.Sprintf("%s%d__", freshPrefix, r.fresh))
}

// derive is expr with other terms: its negation, with modifiers and place.
func derive(expr *ast.Expr, terms any) *ast.Expr {
	e := expr.CopyWithoutTerms()
	e.Terms = terms
	return e
}

// builtOfVars tells whether t is a collection written with variables: its
// value is built when evaluated, and may be many times larger than its
// parts.
func builtOfVars(t *ast.Term) bool {
	switch t.Value.(type) {
	case *ast.Array, ast.Object, ast.Set:
		return !t.IsGround()
	}
	return false
}
