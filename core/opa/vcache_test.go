package opa

import (
	"fmt"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/stretchr/testify/require"
)

func TestRuleCacheKeepsValuesPerFrame(t *testing.T) {
	c := newRuleCache()
	ref := ast.MustParseRef("data.tenant.x.deny")
	v, undefined := c.Get(ref)
	require.Nil(t, v)
	require.False(t, undefined, "nothing kept yet")

	c.Put(ref, ast.StringTerm("a"))
	c.Put(ast.MustParseRef("data.tenant.x.gone"), nil)
	v, _ = c.Get(ast.MustParseRef("data.tenant.x.deny")) // an equal ref, not the same slice
	require.Equal(t, ast.StringTerm("a"), v)
	v, undefined = c.Get(ast.MustParseRef("data.tenant.x.gone"))
	require.Nil(t, v)
	require.True(t, undefined, "an undefined result is kept as such")
	require.Equal(t, []ast.Ref{ref}, c.Keys(), "keys are the defined ones")

	c.Push() // as topdown does around `with`
	v, _ = c.Get(ref)
	require.Nil(t, v, "a new frame starts empty")
	c.Put(ref, ast.StringTerm("b"))
	v, _ = c.Get(ref)
	require.Equal(t, ast.StringTerm("b"), v)
	c.Pop()
	v, _ = c.Get(ref)
	require.Equal(t, ast.StringTerm("a"), v, "popping restores the outer frame")
	c.Pop() // never below the first frame
	v, _ = c.Get(ref)
	require.Equal(t, ast.StringTerm("a"), v)
}

func TestRuleCacheCopiesTheRef(t *testing.T) {
	c := newRuleCache()
	buf := ast.MustParseRef("data.tenant.x.deny")
	c.Put(buf, ast.StringTerm("a"))
	buf[3] = ast.StringTerm("allow") // topdown reuses its buffers
	v, _ := c.Get(ast.MustParseRef("data.tenant.x.deny"))
	require.Equal(t, ast.StringTerm("a"), v)
	v, _ = c.Get(ast.MustParseRef("data.tenant.x.allow"))
	require.Nil(t, v)
}

func TestRuleCacheIndexesLargeFrames(t *testing.T) {
	c := newRuleCache()
	const n = 3 * indexFrom
	for i := range n {
		c.Put(ast.MustParseRef(fmt.Sprintf("data.tenant.r%d", i)), ast.IntNumberTerm(i))
	}
	c.Put(ast.MustParseRef("data.tenant.r7"), ast.IntNumberTerm(700)) // replaces
	for i := range n {
		v, _ := c.Get(ast.MustParseRef(fmt.Sprintf("data.tenant.r%d", i)))
		want := i
		if i == 7 {
			want = 700
		}
		require.Equal(t, ast.IntNumberTerm(want), v, i)
	}
	require.Len(t, c.Keys(), n)
	v, undefined := c.Get(ast.MustParseRef("data.tenant.missing"))
	require.Nil(t, v)
	require.False(t, undefined)
}
