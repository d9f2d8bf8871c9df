package opa

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// ruleCache is the tenant query's topdown.VirtualCache: the values of the
// rules an evaluation has read, so a rule read many times is evaluated
// once. topdown's own cache is a trie with a hash map per ref segment,
// built afresh for every evaluation: about a sixth of a decision's
// allocations for the handful of rules a tenant policy has. This one is a
// flat list per frame, allocated only when a value is kept, with a hash
// index once a frame grows past a few entries (hostile policies may hold
// many rules).
type ruleCache struct {
	frames []ruleFrame // frames[len-1] is the active one; never empty
	first  [1]ruleFrame
	refs   []*ast.Term // the kept refs' terms, one backing array for all
}

type ruleFrame struct {
	entries []ruleEntry
	index   map[int][]int // ref hash -> entries; built past indexFrom entries
}

// ruleEntry is one kept value; value nil records an undefined result.
type ruleEntry struct {
	ref   ast.Ref
	value *ast.Term
}

const indexFrom = 16

func newRuleCache() *ruleCache {
	c := &ruleCache{}
	c.frames = c.first[:]
	return c
}

// ruleCaches recycles rule caches between evaluations: a cache, its first
// frame's entries included, is a decision's largest allocation of its own.
var ruleCaches = sync.Pool{New: func() any { return newRuleCache() }}

// getRuleCache returns an empty cache; putRuleCache takes it back once its
// evaluation is over and nothing holds what it returned.
func getRuleCache() *ruleCache { return ruleCaches.Get().(*ruleCache) }

func putRuleCache(c *ruleCache) {
	f := &c.first[0]
	if cap(f.entries) > 4*indexFrom || f.index != nil || cap(c.refs) > 64*indexFrom {
		return // grown by a large policy: let it go
	}
	clear(f.entries) // drop the terms it points to
	f.entries = f.entries[:0]
	clear(c.refs)
	c.refs = c.refs[:0]
	c.frames = c.first[:]
	ruleCaches.Put(c)
}

func (c *ruleCache) top() *ruleFrame { return &c.frames[len(c.frames)-1] }

// Push starts a frame (topdown does so around `with`).
func (c *ruleCache) Push() { c.frames = append(c.frames, ruleFrame{}) }

// Pop drops the active frame and everything kept in it.
func (c *ruleCache) Pop() {
	if len(c.frames) > 1 {
		c.frames[len(c.frames)-1] = ruleFrame{}
		c.frames = c.frames[:len(c.frames)-1]
	}
}

// Get returns ref's kept value: (v, false) defined, (nil, true) recorded
// as undefined, (nil, false) not kept.
func (c *ruleCache) Get(ref ast.Ref) (*ast.Term, bool) {
	f := c.top()
	if i := f.find(ref); i >= 0 {
		v := f.entries[i].value
		return v, v == nil
	}
	return nil, false
}

// Put keeps ref's value (nil: undefined). The ref is copied: topdown may
// pass a slice of a buffer it reuses.
func (c *ruleCache) Put(ref ast.Ref, value *ast.Term) {
	f := c.top()
	if i := f.find(ref); i >= 0 {
		f.entries[i].value = value
		return
	}
	if f.entries == nil {
		f.entries = make([]ruleEntry, 0, 8)
	}
	start := len(c.refs)
	c.refs = append(c.refs, ref...)
	f.entries = append(f.entries, ruleEntry{ref: c.refs[start:len(c.refs):len(c.refs)], value: value})
	switch n := len(f.entries); {
	case n == indexFrom:
		f.index = make(map[int][]int, 2*indexFrom)
		for i, e := range f.entries {
			h := e.ref.Hash()
			f.index[h] = append(f.index[h], i)
		}
	case n > indexFrom:
		h := ref.Hash()
		f.index[h] = append(f.index[h], n-1)
	}
}

// Keys lists the refs with a defined value in the active frame.
func (c *ruleCache) Keys() []ast.Ref {
	var out []ast.Ref
	for _, e := range c.top().entries {
		if e.value != nil {
			out = append(out, e.ref)
		}
	}
	return out
}

func (f *ruleFrame) find(ref ast.Ref) int {
	if f.index != nil {
		for _, i := range f.index[ref.Hash()] {
			if f.entries[i].ref.Equal(ref) {
				return i
			}
		}
		return -1
	}
	for i := range f.entries {
		if f.entries[i].ref.Equal(ref) {
			return i
		}
	}
	return -1
}
