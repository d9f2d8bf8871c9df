package opa

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/policy"
)

// Tenants running the same modules share one compiled query, whatever their
// revisions; a tenant whose modules differ gets its own; and once no cached
// policy holds a shared query, the engine forgets it.
func TestIdenticalPoliciesShareOneCompilation(t *testing.T) {
	e, err := New(Options{CacheSize: 8})
	require.NoError(t, err)
	rego := "package tenant.p\ndeny contains \"frozen\" if input.tenant.slug == \"frozen\""
	mods := func(r string) []policy.Module {
		return []policy.Module{{Name: "p", Version: 1, Rego: r, Active: true}}
	}
	src := staticSource{
		"a": {Revision: 3, Modules: mods(rego)},
		"b": {Revision: 7, Modules: mods(rego)},
		"c": {Revision: 1, Modules: mods(rego + "\n# another text")},
	}
	ctx := context.Background()
	query := func(tenant string) *query {
		tp, err := e.tenantPolicy(ctx, tenant, src)
		require.NoError(t, err)
		return tp.query
	}
	require.NotNil(t, query("a"))
	require.Same(t, query("a"), query("b"), "the same modules: one compilation")
	require.NotSame(t, query("a"), query("c"), "other text: another compilation")
	tp, _ := e.tenantPolicy(ctx, "b", src)
	require.Equal(t, e.version(7), tp.version, "each tenant keeps its own revision")

	e.InvalidateAll() // the cache lets go of every policy
	tp = nil
	require.Eventually(t, func() bool {
		runtime.GC()
		e.shared.mu.Lock()
		defer e.shared.mu.Unlock()
		return len(e.shared.m) == 0
	}, 5*time.Second, 10*time.Millisecond, "collected queries are forgotten")
}
