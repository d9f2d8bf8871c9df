package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repoRoot is the checkout this test runs in (cmd/atrium is two levels down).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	return root
}

// The scaffold is renamed throughout and is a module of its own whose
// tests pass against a real core: `go test ./...` in it, as its author
// would run it. Slow (it builds the core), so -short skips it.
func TestPluginNewScaffoldsAPassingPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests a module: slow, and needs PostgreSQL")
	}
	dir := filepath.Join(t.TempDir(), "invoices")
	out, stderr, err := runCLI("plugin", "new", "invoices", "--dir", dir, "--module", "example.com/acme/invoices", "--replace", repoRoot(t))
	require.NoError(t, err, stderr)
	assert.Contains(t, out, "plugin invoices written to "+dir)

	for _, f := range []string{"go.mod", "go.sum", "main.go", "main_test.go", "README.md",
		"migrations/000001_create_invoices.up.sql", "migrations/000001_create_invoices.down.sql"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	assert.Contains(t, string(mod), "module example.com/acme/invoices\n")
	assert.Contains(t, string(mod), "replace github.com/atriumhq/atrium => "+repoRoot(t))
	main, err := os.ReadFile(filepath.Join(dir, "main.go"))
	require.NoError(t, err)
	assert.Contains(t, string(main), `Name:    "invoices"`)
	assert.Contains(t, string(main), `"invoices.note.create"`)
	assert.NotContains(t, string(main), "notes", "every use of the template's name is renamed")

	test := exec.CommandContext(t.Context(), "go", "test", "-count=1", "./...")
	test.Dir = dir
	test.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	b, err := test.CombinedOutput()
	require.NoError(t, err, string(b))
	assert.True(t, strings.HasPrefix(string(b), "ok "), string(b))

	// A directory with something in it is not written over.
	_, _, err = runCLI("plugin", "new", "invoices", "--dir", dir, "--no-tidy")
	assert.ErrorContains(t, err, "is not empty")
}

// The CLI binary keeps out of the server's HTTP stack: the types it shares
// with core/api come from core/api/model, which imports no gin.
func TestCLIDoesNotImportGin(t *testing.T) {
	for _, pkg := range []string{".", "../../core/api/model"} {
		b, err := exec.CommandContext(t.Context(), "go", "list", "-deps", pkg).Output()
		require.NoError(t, err)
		deps := string(b)
		assert.NotContains(t, deps, "github.com/gin-gonic/gin", pkg)
		assert.NotContains(t, deps, "github.com/atriumhq/atrium/core/api\n", pkg)
	}
	// and the model imports nothing of Atrium but the shared kernel
	b, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "../../core/api/model").Output()
	require.NoError(t, err)
	for _, dep := range strings.Fields(string(b)) {
		if strings.HasPrefix(dep, "github.com/atriumhq/atrium/") {
			assert.Contains(t, []string{"github.com/atriumhq/atrium/core/api/model", "github.com/atriumhq/atrium/core/kernel"}, dep)
		}
	}
}
