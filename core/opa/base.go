package opa

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// basePolicy is the base policy, compiled and prepared once per base
// version (per process): requests only evaluate it.
type basePolicy struct {
	version string // first 8 hex digits of the modules' SHA-256
	query   *query
	memo    *baseMemo // nil when the base reads more of the input
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
	// Checked on the modules as written: the compiler's rewriting binds
	// input to local variables.
	memo := memoisable(mods)
	c := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1).WithEnablePrintStatements(false)
	if c.Compile(mods); c.Failed() {
		return nil, fmt.Errorf("base policy: %w", c.Errors)
	}
	q, err := prepareQuery(c, baseQuery)
	if err != nil {
		return nil, fmt.Errorf("base policy: %w", err)
	}
	q.uncached = true
	bp := &basePolicy{version: hex.EncodeToString(h.Sum(nil))[:8], query: q}
	if memo {
		bp.memo = &baseMemo{}
	}
	return bp, nil
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

// The base's results are memoised when the base provably reads nothing but
// input.action and input.subject.permissions (checked on its modules when
// it is loaded): they are then a function of those two, and
// the base (rules, data) never changes in a process. Most decisions repeat
// a few (action, permissions) pairs; a hit saves the base's evaluation.
var (
	baseKeyPaths = []ast.Ref{ast.MustParseRef("input.action"), ast.MustParseRef("input.subject.permissions")}
	inputVar     = ast.InputRootDocument.Value
)

// maxBaseMemoBytes bounds the memo's keys; beyond it, results are not kept.
const maxBaseMemoBytes = 8 << 20

type baseMemo struct {
	mu    sync.RWMutex
	m     map[string]baseResult
	bytes int
}

// get looks key up without copying it: the caller builds keys in a buffer
// of its own, so a hit allocates nothing.
func (m *baseMemo) get(key []byte) (baseResult, bool) {
	m.mu.RLock()
	r, ok := m.m[string(key)]
	m.mu.RUnlock()
	return r, ok
}

func (m *baseMemo) put(key []byte, r baseResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.m[string(key)]; ok || m.bytes >= maxBaseMemoBytes {
		return
	}
	if m.m == nil {
		m.m = map[string]baseResult{}
	}
	m.m[string(key)] = r
	m.bytes += len(key)
}

// memoisable tells whether every use of input in the compiled modules is
// one of baseKeyPaths, with no `with` (which could replace input) and no
// non-deterministic built-in.
func memoisable(mods map[string]*ast.Module) bool {
	ok := true
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		switch x := x.(type) {
		case *ast.Expr:
			if len(x.With) > 0 {
				ok = false
			}
			if x.IsCall() {
				if b, found := ast.BuiltinMap[x.Operator().String()]; found && b.Nondeterministic {
					ok = false
				}
				if ops := x.Operands(); readsInputAction(x.Operator(), ops) {
					for _, t := range ops[1:] { // input itself reads only its action
						vis.Walk(t)
					}
					return true
				}
			}
		case *ast.Term:
			switch v := x.Value.(type) {
			case ast.Call:
				if b, found := ast.BuiltinMap[v[0].String()]; found && b.Nondeterministic {
					ok = false
				}
				if op, isRef := v[0].Value.(ast.Ref); isRef && readsInputAction(op, v[1:]) {
					for _, t := range v[2:] {
						vis.Walk(t)
					}
					return true
				}
			case ast.Ref:
				if v[0].Value.Compare(inputVar) == 0 {
					if !slices.ContainsFunc(baseKeyPaths, func(r ast.Ref) bool { return r.Equal(v) }) {
						ok = false
					}
					for _, t := range v[1:] {
						vis.Walk(t)
					}
					return true
				}
			case ast.Var:
				if v.Equal(inputVar) {
					ok = false // input as a whole
				}
			}
		}
		return !ok
	})
	for _, m := range mods {
		for _, imp := range m.Imports {
			vis.Walk(imp)
		}
		for _, r := range m.Rules {
			vis.Walk(r)
		}
	}
	return ok
}

// readsInputAction tells whether a call is object.get(input, "action", ...),
// which reads input.action only.
func readsInputAction(op ast.Ref, args []*ast.Term) bool {
	return op.Equal(objectGet) && len(args) >= 3 &&
		isInput(args[0]) && args[1].Value.Compare(actionKey) == 0
}

// isInput tells whether t is the input document as a whole, which the
// parser gives as the variable or as a one-term ref.
func isInput(t *ast.Term) bool {
	switch v := t.Value.(type) {
	case ast.Var:
		return v.Equal(inputVar)
	case ast.Ref:
		return len(v) == 1 && v[0].Value.Compare(inputVar) == 0
	}
	return false
}

var (
	objectGet = ast.MustParseRef("object.get")
	actionKey = ast.String("action")
)

// appendName appends s length-prefixed, so that a sequence of names
// encodes unambiguously: the keys of the memos are such sequences.
func appendName(dst []byte, s string) []byte {
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, ':')
	return append(dst, s...)
}
