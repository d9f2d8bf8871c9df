package opa_test

import (
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/policies"
)

// runRegoTests runs every *_test.rego of fsys with its modules, as
// `opa test` would, and returns the results.
func runRegoTests(t *testing.T, fsys fs.FS) []*tester.Result {
	t.Helper()
	mods := map[string]*ast.Module{}
	require.NoError(t, fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		mods[path], err = ast.ParseModuleWithOpts(path, string(b), ast.ParserOptions{RegoVersion: ast.RegoV1})
		return err
	}))
	ch, err := tester.NewRunner().SetModules(mods).RunTests(context.Background(), nil)
	require.NoError(t, err)
	var out []*tester.Result
	for r := range ch {
		out = append(out, r)
	}
	return out
}

// TestBasePolicyRegoTests runs policies/base/*_test.rego: `go test` (and so
// `make test`) runs the base policy's own tests.
func TestBasePolicyRegoTests(t *testing.T) {
	results := runRegoTests(t, policies.Base)
	require.NotEmpty(t, results)
	for _, r := range results {
		assert.True(t, r.Pass(), "%s", r)
	}
}

// TestExamplesPassTheirTestsInTheSandbox uploads each example as a tenant
// would: it compiles in the sandbox and its tests pass.
func TestExamplesPassTheirTestsInTheSandbox(t *testing.T) {
	results := runRegoTests(t, policies.Examples)
	require.NotEmpty(t, results)
	for _, r := range results {
		assert.True(t, r.Pass(), "%s", r)
	}

	e := newEngine(t, opa.Options{})
	var all []policy.Module
	entries, err := fs.ReadDir(policies.Examples, "examples")
	require.NoError(t, err)
	for _, entry := range entries {
		name, ok := strings.CutSuffix(entry.Name(), ".rego")
		if !ok || strings.HasSuffix(name, "_test") {
			continue
		}
		rego, err := fs.ReadFile(policies.Examples, "examples/"+entry.Name())
		require.NoError(t, err)
		tests, err := fs.ReadFile(policies.Examples, "examples/"+name+"_test.rego")
		require.NoError(t, err, "every example has tests")
		m := policy.Module{Name: strings.ReplaceAll(name, "_", "-"), Rego: string(rego), Tests: string(tests)}
		assert.NoError(t, e.Check(context.Background(), []policy.Module{m}), name)
		all = append(all, m)
	}
	require.Len(t, all, 3)
	assert.NoError(t, e.Check(context.Background(), all), "the examples work together")
}

// TestBaseGrantableAgreesWithIsReserved: with a tenant policy that allows
// everything, exactly the non-reserved permissions are granted.
func TestBaseGrantableAgreesWithIsReserved(t *testing.T) {
	e := newEngine(t, opa.Options{})
	src := &source{sets: map[string]policy.Set{"t1": set(1, `package tenant
allow contains "everything" if true`)}}
	perms := append([]access.Permission{}, access.CorePermissions...)
	for _, name := range []string{"projects.task.delete", "documents.document.read", "tenancy.tenant.update", "platform.operator.create"} {
		perms = append(perms, access.Permission{Name: name})
	}
	for _, p := range perms {
		req := in(p.Name)
		req.Subject.Permissions = nil
		d, err := e.Evaluate(context.Background(), "t1", src, req, false)
		require.NoError(t, err)
		assert.Equal(t, !p.IsReserved(), d.Allow, "%s: %v", p.Name, d.Reasons)
	}
}
