package opa

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The sides of an equality, in the order eq sorts them.
const (
	valueSide    = iota // evaluated: every variable in it bound, or a comprehension
	iteratorSide        // a reference with variables to bind: a value per match
	patternSide         // a variable to bind, or a collection holding one
)

func (s scope) kind(t *ast.Term) int {
	switch t.Value.(type) {
	case *ast.ArrayComprehension, *ast.SetComprehension, *ast.ObjectComprehension:
		return valueSide
	case ast.Ref:
		if s.ground(t) {
			return valueSide
		}
		return iteratorSide
	}
	if s.ground(t) {
		return valueSide
	}
	return patternSide
}

// ground tells whether every variable of t (outside closures) is bound.
func (s scope) ground(t *ast.Term) bool {
	vis := ast.NewVarVisitor().WithParams(ast.VarVisitorParams{SkipClosures: true})
	vis.Walk(t)
	return vis.Vars().DiffCount(s.bound) == 0
}

func (s scope) unbound(t *ast.Term) bool {
	v, ok := t.Value.(ast.Var)
	return ok && !s.bound.Contains(v)
}

// constant tells whether t is written without variables, or is a variable
// bound to such a term.
func (s scope) constant(t *ast.Term) bool {
	if v, ok := t.Value.(ast.Var); ok {
		return s.consts.Contains(v)
	}
	return ast.IsConstant(t.Value)
}

// eq rewrites a unification (=, == and := all are one once compiled).
func (r *rewriter) eq(expr *ast.Expr, s scope) []*ast.Expr {
	a, b := expr.Operand(0), expr.Operand(1)
	if s.constant(a) || s.constant(b) {
		return []*ast.Expr{expr} // walks no further than the constant; indexed
	}
	ka, kb := s.kind(a), s.kind(b)
	if kb < ka {
		a, b, ka, kb = b, a, kb, ka
	}
	switch {
	case ka == valueSide && kb == valueSide:
		return r.equal(expr, a, b)
	case expr.Negated:
		// Only wildcards are left to bind, and a negation is evaluated
		// apart: its stack is gone before the body goes on.
		return []*ast.Expr{expr}
	case kb == iteratorSide: // each value the reference yields is compared
		f := r.newVar()
		return append([]*ast.Expr{derive(expr, ast.Equality.Expr(b, f).Terms)}, r.equal(expr, a, f)...)
	case ka == patternSide:
		if pairs, ok := decompose(a, b); ok {
			return r.pairs(expr, pairs, s)
		}
		return []*ast.Expr{expr} // shapes that never unify, or a variable bound to a pattern: no walk
	}
	return r.match(expr, b, a, s)
}

// equal compares two evaluated values in one step. References and
// comprehensions are evaluated first, as the compiler does for every call;
// under a negation, inside it, since an undefined one makes it true.
func (r *rewriter) equal(expr *ast.Expr, a, b *ast.Term) []*ast.Expr {
	var out []*ast.Expr
	ops := []*ast.Term{a, b}
	for i, t := range ops {
		switch t.Value.(type) {
		case ast.Ref, *ast.ArrayComprehension, *ast.SetComprehension, *ast.ObjectComprehension:
			ops[i] = r.newVar()
			e := derive(expr, ast.Equality.Expr(ops[i], t).Terms)
			e.Negated = false
			out = append(out, e)
		}
	}
	e := derive(expr, equalBuiltin.Expr(ops...).Terms)
	if !expr.Negated || len(out) == 0 {
		return append(out, e)
	}
	e.Negated = false
	not := &ast.Not{Body: ast.NewBody(append(out, e)...), Location: expr.Location}
	return []*ast.Expr{ast.NewExpr(not).SetLocation(expr.Location)}
}

// match unifies pattern p with v, a value or a reference's values: p keeps
// its unbound variables, each once; the rest of it is compared afterwards.
func (r *rewriter) match(expr *ast.Expr, p, v *ast.Term, s scope) []*ast.Expr {
	if _, ok := p.Value.(ast.Var); ok { // bound to v: no walk, but v may be large
		switch {
		case builtOfVars(v): // built, measured and typed as any
			return []*ast.Expr{derive(expr, boundedBuiltin.Expr(v, p).Terms)}
		case r.mayBeLarge(v):
			return []*ast.Expr{expr, r.check(p, expr.Location)}
		}
		return []*ast.Expr{expr}
	}
	var before, after []*ast.Expr
	switch v.Value.(type) {
	case *ast.ArrayComprehension, *ast.SetComprehension, *ast.ObjectComprehension:
		f := r.newVar()
		before = append(before, derive(expr, ast.Equality.Expr(f, v).Terms), r.check(f, expr.Location))
		v = f
	default:
		if builtOfVars(v) { // p's variables are bound to parts of it
			before = append(before, r.check(v, expr.Location))
		}
	}
	seen := ast.NewVarSet()
	ast.WalkVars(v, func(x ast.Var) bool { // bound by the reference's match, before p's
		if !s.bound.Contains(x) {
			seen.Add(x)
		}
		return false
	})
	p = r.purify(p, s, seen, &after, expr.Location)
	return append(append(before, derive(expr, ast.Equality.Expr(p, v).Terms)), after...)
}

// purify returns pattern t with each bound part and each repeated variable
// replaced by a fresh variable, and appends their comparisons to after.
func (r *rewriter) purify(t *ast.Term, s scope, seen ast.VarSet, after *[]*ast.Expr, loc *ast.Location) *ast.Term {
	fresh := func() *ast.Term {
		f := r.newVar()
		*after = append(*after, r.compare(f, t, loc))
		return f
	}
	if s.ground(t) {
		if s.constant(t) {
			return t
		}
		return fresh()
	}
	switch v := t.Value.(type) {
	case ast.Var:
		if seen.Contains(v) {
			return fresh()
		}
		seen.Add(v)
	case *ast.Array:
		elems := make([]*ast.Term, v.Len())
		for i := range elems {
			elems[i] = r.purify(v.Elem(i), s, seen, after, loc)
		}
		return ast.ArrayTerm(elems...).SetLocation(t.Location)
	case ast.Object:
		var items [][2]*ast.Term
		v.Foreach(func(k, val *ast.Term) { items = append(items, [2]*ast.Term{k, r.purify(val, s, seen, after, loc)}) })
		return ast.ObjectTerm(items...).SetLocation(t.Location)
	}
	return t
}

// decompose pairs the parts of two collections of one shape: arrays of one
// length, objects of the same constant keys. Unification pairs them so.
func decompose(a, b *ast.Term) ([][2]*ast.Term, bool) {
	var pairs [][2]*ast.Term
	switch x := a.Value.(type) {
	case *ast.Array:
		y, ok := b.Value.(*ast.Array)
		if !ok || x.Len() != y.Len() {
			return nil, false
		}
		for i := range x.Len() {
			pairs = append(pairs, [2]*ast.Term{x.Elem(i), y.Elem(i)})
		}
		return pairs, true
	case ast.Object:
		y, ok := b.Value.(ast.Object)
		if !ok || x.Len() != y.Len() {
			return nil, false
		}
		for _, k := range x.Keys() {
			yv := y.Get(k)
			if yv == nil || !k.IsGround() {
				return nil, false
			}
			pairs = append(pairs, [2]*ast.Term{x.Get(k), yv})
		}
		return pairs, true
	}
	return nil, false
}

// pairs rewrites the unifications of decomposed parts, in order.
func (r *rewriter) pairs(expr *ast.Expr, pairs [][2]*ast.Term, s scope) []*ast.Expr {
	s = s.copy()
	var out []*ast.Expr
	for _, p := range pairs {
		for _, e := range r.eq(derive(expr, ast.Equality.Expr(p[0], p[1]).Terms), s) {
			out = append(out, e)
			s.update(e)
		}
	}
	return out
}

// mayBeLarge tells whether binding v to a variable may bind a value no
// check has measured: a collection written with variables, a
// comprehension, a whole partial rule or package. A reference into input,
// into a bound variable, into a complete rule's value or to a partial
// rule's element is a part of something measured or of the input.
func (r *rewriter) mayBeLarge(v *ast.Term) bool {
	switch x := v.Value.(type) {
	case *ast.ArrayComprehension, *ast.SetComprehension, *ast.ObjectComprehension:
		return true
	case ast.Ref:
		if !x[0].Equal(ast.DefaultRootDocument) {
			return false
		}
		for i := 2; i <= len(x) && x[:i].IsGround(); i++ {
			if rules := r.c.GetRulesExact(x[:i]); len(rules) > 0 {
				return i == len(x) && !complete(rules)
			}
		}
		return true
	}
	return builtOfVars(v)
}

// complete tells whether rules define one value at their path.
func complete(rules []*ast.Rule) bool {
	for _, r := range rules {
		if r.Head.RuleKind() != ast.SingleValue || !r.Head.Reference.IsGround() || len(r.Head.Args) > 0 {
			return false
		}
	}
	return true
}

// call measures a call's arguments built of variables, and matches a
// result it does not bind to a fresh variable as an equality would be.
func (r *rewriter) call(expr *ast.Expr, s scope) []*ast.Expr {
	op := expr.Operator()
	if op.Equal(boundedBuiltin.Ref()) || op.Equal(equalBuiltin.Ref()) {
		return []*ast.Expr{expr}
	}
	ops := expr.Operands()
	arity := r.c.GetArity(op)
	if arity < 0 || arity > len(ops) {
		arity = len(ops)
	}
	var out []*ast.Expr
	for _, t := range ops[:arity] {
		if builtOfVars(t) {
			out = append(out, r.check(t, expr.Location))
		}
	}
	if arity == len(ops) || expr.Negated || s.unbound(ops[arity]) {
		return append(out, expr)
	}
	f := r.newVar()
	call := derive(expr, append(slices.Clone(expr.Terms.([]*ast.Term)[:arity+1]), f))
	inner := s.copy()
	inner.bound.Add(f.Value.(ast.Var))
	return append(append(out, call), r.eq(derive(expr, ast.Equality.Expr(ops[arity], f).Terms), inner)...)
}
