package opa

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// basePolicy is the base policy, compiled and prepared once per base
// version (per process): requests only evaluate it.
type basePolicy struct {
	version string // first 8 hex digits of the modules' SHA-256
	query   *query
}

// baseQuery reads everything the combination needs in one evaluation.
const baseQuery = "allow = data.atrium.base.allow; grantable = data.atrium.base.grantable; deny = data.atrium.base.deny"

// loadBase compiles the *.rego files of fsys but its *_test.rego ones.
func loadBase(fsys fs.FS) (*basePolicy, error) {
	files, err := regoFiles(fsys, false)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("base policy: no modules")
	}
	h := sha256.New()
	mods := map[string]*ast.Module{}
	for _, f := range files {
		h.Write([]byte(f.name + "\x00" + f.text + "\x00"))
		m, err := ast.ParseModuleWithOpts(f.name, f.text, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("base policy: %w", err)
		}
		mods[f.name] = m
	}
	c := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithEnablePrintStatements(false)
	if c.Compile(mods); c.Failed() {
		return nil, fmt.Errorf("base policy: %w", c.Errors)
	}
	q, err := prepareQuery(c, baseQuery)
	if err != nil {
		return nil, fmt.Errorf("base policy: %w", err)
	}
	return &basePolicy{version: hex.EncodeToString(h.Sum(nil))[:8], query: q}, nil
}

type regoFile struct{ name, text string }

// regoFiles reads every *.rego file of fsys in lexical order: only the
// *_test.rego ones when tests is set, only the others otherwise.
func regoFiles(fsys fs.FS, tests bool) ([]regoFile, error) {
	var out []regoFile
	err := fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".rego") {
			return err
		}
		if strings.HasSuffix(path, "_test.rego") != tests {
			return nil
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		out = append(out, regoFile{name: path, text: string(b)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read policy files: %w", err)
	}
	return out, nil
}
