package opa

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
)

// Tenant Rego is untrusted code. The sandbox is the tenant compiler's own
// capabilities (a built-in left out is an "undefined function" compile
// error, not a run-time check), static checks on the parsed modules, the
// limits of core/policy, built-ins refused or bounded (builtins.go), and a
// deadline on every evaluation (decide.go, runaway.go).

// tenantCapabilities is built once and only read afterwards.
var tenantCapabilities = func() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(c.Builtins, func(b *ast.Builtin) bool {
		_, refused := refusedBuiltins[b.Name]
		return b.Nondeterministic || refused
	})
	// Atrium's own (bounded.go), registered with OPA after this runs.
	c.Builtins = append(c.Builtins, boundedBuiltin, equalBuiltin)
	c.AllowNet = []string{} // no host, should a network built-in ever slip through
	return c
}()

// allowedBuiltins indexes tenantCapabilities' built-ins by name; coreBuiltins
// are the operators and internal built-ins that the parser and the
// compiler's rewriting produce, which every tenant compiler gets.
var allowedBuiltins, coreBuiltins = func() (map[string]*ast.Builtin, []*ast.Builtin) {
	all := map[string]*ast.Builtin{}
	var core []*ast.Builtin
	for _, b := range tenantCapabilities.Builtins {
		all[b.Name] = b
		if b.Infix != "" || strings.HasPrefix(b.Name, "internal.") {
			core = append(core, b)
		}
	}
	return all, core
}()

// capabilitiesFor narrows the sandbox's capabilities to the built-ins the
// files name. A compiler builds a type tree of every built-in it may call,
// and that tree was half of each cached tenant policy's memory; a built-in
// a file does not name could not be called anyway.
func capabilitiesFor(files []tenantFile) *ast.Capabilities {
	c := *tenantCapabilities
	c.Builtins = slices.Clone(coreBuiltins)
	seen := map[string]bool{}
	for _, f := range files {
		ast.WalkRefs(f.mod, func(r ast.Ref) bool {
			if _, ok := r[0].Value.(ast.Var); !ok || len(r) > 4 {
				return false
			}
			name := r.String()
			if b, ok := allowedBuiltins[name]; ok && !seen[name] {
				seen[name] = true
				c.Builtins = append(c.Builtins, b)
			}
			return false
		})
	}
	return &c
}

// newTenantCompiler is a compiler of a tenant's own: never shared, never
// holding the base, with (at most) the sandbox's capabilities, and the
// rewrite that bounds the values its policy builds (rewrite.go).
func newTenantCompiler(caps *ast.Capabilities) *ast.Compiler {
	return ast.NewCompiler().
		WithCapabilities(caps).
		WithEnablePrintStatements(false).
		WithDefaultRegoVersion(ast.RegoV1).
		WithStageAfterID(ast.StageRewriteDynamicTerms, boundStage)
}

var (
	tenantRoot = ast.MustParseRef("data.tenant")
	denyTerm   = ast.StringTerm("deny")
	allowTerm  = ast.StringTerm("allow")
)

// tenantFile is one parsed tenant module or test file.
type tenantFile struct {
	field string // "rego" or "tests": where problems are reported
	name  string // file name in messages
	mod   *ast.Module
	terms int // in all its rules
}

// parseTenant parses text and applies the sandbox's static rules: the size
// and rule limits, the tenant package, data only under data.tenant, and
// deny/allow as multi-value rules at ground paths.
func parseTenant(field, file, text string) (tenantFile, []kernel.FieldError) {
	f := tenantFile{field: field, name: file}
	problem := func(format string, args ...any) []kernel.FieldError {
		return []kernel.FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}
	}
	if len(text) > policy.MaxModuleBytes {
		return f, problem("%s: is over %d bytes", file, policy.MaxModuleBytes)
	}
	mod, err := ast.ParseModuleWithOpts(file, text, ast.ParserOptions{RegoVersion: ast.RegoV1, Capabilities: tenantCapabilities})
	if err != nil {
		return f, astErrors(field, err)
	}
	if mod == nil { // only comments
		return f, problem("%s: declares no package", file)
	}
	f.mod = mod
	if !inTenant(mod.Package.Path) {
		return f, problem("%s: package %s: tenant modules declare package tenant or a package under it",
			file, packageName(mod.Package.Path))
	}
	if n := len(mod.Rules); n > policy.MaxRules {
		return f, problem("%s: %d rules, over the limit of %d", file, n, policy.MaxRules)
	}
	var out []kernel.FieldError
	for _, r := range mod.Rules {
		n := countTerms(r)
		if n > policy.MaxRuleTerms {
			out = append(out, kernel.FieldError{Field: field, Message: fmt.Sprintf("%s:%d: rule %s has %d terms, over the limit of %d",
				file, r.Location.Row, r.Head.Ref(), n, policy.MaxRuleTerms)})
		}
		f.terms += n
	}
	for _, msg := range dataProblems(mod) {
		out = append(out, kernel.FieldError{Field: field, Message: file + ":" + msg})
	}
	for _, msg := range slices.Concat(ruleProblems(mod), reservedProblems(mod), nestingProblems(mod)) {
		out = append(out, kernel.FieldError{Field: field, Message: file + ":" + msg})
	}
	return f, out
}

func countTerms(r *ast.Rule) int {
	n := 0
	ast.WalkTerms(r, func(*ast.Term) bool { n++; return false })
	return n
}

func inTenant(path ast.Ref) bool {
	if !path.HasPrefix(tenantRoot) {
		return false
	}
	return !slices.ContainsFunc(path[len(tenantRoot):], func(t *ast.Term) bool { return t.Equal(denyTerm) || t.Equal(allowTerm) })
}

func packageName(path ast.Ref) string {
	if len(path) > 1 {
		return path[1:].String()
	}
	return path.String()
}

// dataProblems finds every use of data outside data.tenant: refs, imports
// and `with` targets alike (imports and `with` hold refs too), and the bare
// data document. A tenant compiler holds no other data, so this is defence
// in depth, and it gives authors a clear message instead of an undefined.
func dataProblems(mod *ast.Module) []string {
	var out []string
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case *ast.Package:
			return true // its path is data.tenant..., checked already
		case *ast.Term:
			switch v := x.Value.(type) {
			case ast.Ref:
				if !v[0].Equal(ast.DefaultRootDocument) {
					return false
				}
				if !v.HasPrefix(tenantRoot) {
					out = append(out, fmt.Sprintf("%d: %s: only data.tenant may be referenced", row(x), v))
				}
				for _, t := range v[1:] {
					vis.Walk(t)
				}
				return true
			case ast.Var:
				if v.Equal(ast.DefaultRootDocument.Value) {
					out = append(out, fmt.Sprintf("%d: data: only data.tenant may be referenced", row(x)))
				}
			}
		}
		return false
	})
	vis.Walk(mod)
	return out
}

// ruleProblems checks that deny and allow are what the decision reads:
// multi-value rules (`deny contains reason if ...`) at ground paths, so
// every one of them is known when the policy is compiled.
func ruleProblems(mod *ast.Module) []string {
	var out []string
	for _, r := range mod.Rules {
		ref := r.Ref()
		for i, t := range ref[len(tenantRoot):] {
			if !t.Equal(denyTerm) && !t.Equal(allowTerm) {
				continue
			}
			i += len(tenantRoot)
			if i != len(ref)-1 || !ref[:i].IsGround() || len(r.Head.Args) > 0 || r.Head.RuleKind() != ast.MultiValue {
				out = append(out, fmt.Sprintf("%d: %s: deny and allow are sets of reasons: write `%s contains reason if { ... }`",
					row(r.Head.Ref()[0]), ref, t.Value.(ast.String)))
			}
			break
		}
	}
	return out
}

// decisionPaths returns the ground paths of the deny and allow rules.
func decisionPaths(mods []*ast.Module) (deny, allow []ast.Ref) {
	seen := map[string]bool{}
	for _, m := range mods {
		for _, r := range m.Rules {
			ref := r.Ref()
			last := ref[len(ref)-1]
			if seen[ref.String()] || (!last.Equal(denyTerm) && !last.Equal(allowTerm)) {
				continue
			}
			seen[ref.String()] = true
			if last.Equal(denyTerm) {
				deny = append(deny, ref)
			} else {
				allow = append(allow, ref)
			}
		}
	}
	return deny, allow
}

func row(t *ast.Term) int {
	if t == nil || t.Location == nil {
		return 0
	}
	return t.Location.Row
}

// astErrors turns parser and compiler errors into field errors, one each.
func astErrors(field string, err error) []kernel.FieldError {
	var errs ast.Errors
	if !errors.As(err, &errs) {
		return []kernel.FieldError{{Field: field, Message: err.Error()}}
	}
	out := make([]kernel.FieldError, 0, len(errs))
	for _, e := range errs {
		out = append(out, kernel.FieldError{Field: field, Message: e.Error()})
	}
	return out
}
