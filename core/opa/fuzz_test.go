package opa_test

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/policies"
)

// FuzzPolicyUpload feeds arbitrary text to the upload check. It must never
// panic, must refuse with policy_invalid (never another error), and must
// accept only what independently checks out: a tenant package, data only
// under data.tenant, and none of the sandbox's refused built-ins.
func FuzzPolicyUpload(f *testing.F) {
	for _, seed := range []string{
		noDeletes, noUpdates, runaway["nested loops"],
		"package tenant\nallow contains \"x\" if data.atrium.base.allow",
		"package atrium.base\nallow if true",
		"package tenant\ndeny contains \"x\" if http.send({}).status_code == 200",
		"package tenant\nimport data.atrium as a\ndeny contains \"x\" if a.base.allow",
		"package tenant\ndeny contains x if { some k; x := data[k] }",
		"package tenant\np := {x | x := input.subject.roles[_]}\ndeny contains r if { some r in p; r == \"x\" }",
		"package tenant\ndeny contains \"x\" if { data.tenant.p with data.atrium.base.allow as true }\np := 1",
		"package tenant.a\n# only a comment\n",
		"",
	} {
		f.Add(seed)
	}
	_ = fs.WalkDir(policies.Examples, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(policies.Examples, path)
			f.Add(string(b))
		}
		return nil
	})
	e := newEngine(f, opa.Options{})
	refused := refusedBuiltins()
	f.Fuzz(func(t *testing.T, rego string) {
		err := e.Check(context.Background(), []policy.Module{{Name: "fuzz", Rego: rego}})
		if err != nil {
			if !errors.Is(err, policy.ErrInvalid) {
				t.Fatalf("refused with %v, not policy_invalid", err)
			}
			return
		}
		mod, perr := ast.ParseModuleWithOpts("fuzz.rego", rego, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if perr != nil || mod == nil {
			t.Fatalf("accepted text that does not parse: %v", perr)
		}
		if !mod.Package.Path.HasPrefix(ast.MustParseRef("data.tenant")) {
			t.Fatalf("accepted package %v", mod.Package.Path)
		}
		// Every `data` var must head a ref to data.tenant: count both.
		dataVars, dataRefs := 0, 0
		ast.WalkTerms(mod.Rules, func(term *ast.Term) bool {
			switch v := term.Value.(type) {
			case ast.Ref:
				if v[0].Equal(ast.DefaultRootDocument) {
					dataRefs++
					if !v.HasPrefix(ast.MustParseRef("data.tenant")) {
						t.Fatalf("accepted a reference to %v", v)
					}
				}
				if slices.Contains(refused, v.String()) {
					t.Fatalf("accepted a call to %v", v)
				}
			case ast.Var:
				if v.Equal(ast.DefaultRootDocument.Value) {
					dataVars++
				}
			}
			return false
		})
		for _, imp := range mod.Imports {
			if p, ok := imp.Path.Value.(ast.Ref); ok && p[0].Equal(ast.DefaultRootDocument) && !p.HasPrefix(ast.MustParseRef("data.tenant")) {
				t.Fatalf("accepted an import of %v", p)
			}
		}
		if dataVars != dataRefs {
			t.Fatalf("accepted a bare data: %d data vars, %d data refs", dataVars, dataRefs)
		}
	})
}

// refusedBuiltins is the fuzz test's own list, from OPA's built-in table.
func refusedBuiltins() []string {
	out := []string{"http.send", "net.lookup_ip_addr", "opa.runtime", "rego.parse_module", "trace", "time.now_ns", "rand.intn", "uuid.rfc4122"}
	for _, b := range ast.Builtins {
		if b.Nondeterministic {
			out = append(out, b.Name)
		}
	}
	return out
}
