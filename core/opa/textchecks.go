package opa

import (
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Checks of tenant text on top of sandbox.go's: how deeply it nests, and
// names it may not use.

// OPA's type checker does exponential work in two kinds of nesting of
// policy text, whatever the values: it compares two constants of nested
// collections level by level twice over (`a := [[[...]]]; a == [[[...]]]`,
// 25 levels: 0.5 s, 30: over 5 s), and checks each closure (comprehension,
// every, not) once for itself and once within the one around it (14 nested
// comprehensions: 3 s). Both are compiled at upload, under the check's time
// limit, and again, unbounded, at the first decision after a restart or an
// eviction from the cache, so tenant text is refused past these depths,
// far beyond what an authorisation rule needs (a few cost milliseconds in
// the worst case; every module of a tenant together, well under a second).
const (
	maxNesting        = 16 // collections and comprehensions, one in another
	maxClosureNesting = 4  // comprehensions, every and not bodies, one in another
)

// nestingProblems reports rules nested deeper than the limits, once each.
func nestingProblems(mod *ast.Module) []string {
	var out []string
	for _, rule := range mod.Rules {
		values, closures, deepest, deepestClosure := 0, 0, 0, 0
		ast.NewBeforeAfterVisitor(func(x any) bool {
			switch x.(type) {
			case *ast.ArrayComprehension, *ast.SetComprehension, *ast.ObjectComprehension:
				values++
				closures++
			case *ast.Array, ast.Object, ast.Set:
				values++
			case *ast.Every, *ast.Not:
				closures++
			}
			deepest, deepestClosure = max(deepest, values), max(deepestClosure, closures)
			return false
		}, func(x any) {
			switch x.(type) {
			case *ast.ArrayComprehension, *ast.SetComprehension, *ast.ObjectComprehension:
				values--
				closures--
			case *ast.Array, ast.Object, ast.Set:
				values--
			case *ast.Every, *ast.Not:
				closures--
			}
		}).Walk(rule)
		if deepest > maxNesting || deepestClosure > maxClosureNesting {
			out = append(out, fmt.Sprintf("%d: rule %s nests %d collections and %d closures (comprehensions, every, not) "+
				"one in another, over the limits of %d and %d", row(rule.Head.Ref()[0]), rule.Head.Ref(),
				deepest, deepestClosure, maxNesting, maxClosureNesting))
		}
	}
	return out
}

// reservedProblems finds tenant text that names what the rewrite adds
// (rewrite.go): its variables, to stay apart from the tenant's, and its
// built-ins, which a tenant's call or `with` would otherwise reach.
func reservedProblems(mod *ast.Module) []string {
	var out []string
	ast.WalkTerms(mod, func(t *ast.Term) bool {
		var name string
		switch v := t.Value.(type) {
		case ast.Var:
			name = string(v)
		case ast.Ref:
			name = v.String()
		default:
			return false
		}
		if strings.HasPrefix(name, freshPrefix) || strings.HasPrefix(name, "internal.atrium_") {
			out = append(out, fmt.Sprintf("%d: %s: names starting %s or internal.atrium_ are reserved", row(t), name, freshPrefix))
			return true
		}
		return false
	})
	return out
}
