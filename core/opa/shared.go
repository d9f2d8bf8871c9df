package opa

import (
	"crypto/sha256"
	"runtime"
	"slices"
	"strings"
	"sync"
	"weak"

	"github.com/atriumhq/atrium/core/policy"
)

// sharedQueries keeps one compiled query per distinct module set while any
// tenant's cached policy holds it: tenants that run the same modules (a
// template, the examples) share one compilation, its memory and its place
// in the CPU's caches. Entries are weak, so sharing never keeps a policy
// the tenant cache has let go.
type sharedQueries struct {
	mu sync.Mutex
	m  map[[sha256.Size]byte]weak.Pointer[query]
}

// setKey identifies what compileTenant compiles: the modules' names and
// Rego (their tests are not compiled into the query).
func setKey(modules []policy.Module) [sha256.Size]byte {
	sorted := slices.SortedFunc(slices.Values(modules), func(a, b policy.Module) int { return strings.Compare(a.Name, b.Name) })
	h := sha256.New()
	for _, m := range sorted {
		h.Write([]byte(m.Name))
		h.Write([]byte{0})
		h.Write([]byte(m.Rego))
		h.Write([]byte{0})
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

func (s *sharedQueries) get(key [sha256.Size]byte) *query {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key].Value()
}

func (s *sharedQueries) put(key [sha256.Size]byte, q *query) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[[sha256.Size]byte]weak.Pointer[query]{}
	}
	s.m[key] = weak.Make(q)
	runtime.AddCleanup(q, s.forget, key)
}

// forget drops key once its query is collected, unless a newer one took
// its place.
func (s *sharedQueries) forget(key [sha256.Size]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[key].Value() == nil {
		delete(s.m, key)
	}
}
