package opa_test

import (
	"context"
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
)

func TestTenantPolicyIsCompiledOncePerRevision(t *testing.T) {
	e := newEngine(t, opa.Options{RecheckAfter: -1}) // ask the revision every time
	src := &source{sets: map[string]policy.Set{"t1": set(1, noDeletes)}}
	for range 10 {
		d, err := e.Evaluate(context.Background(), "t1", src, in("projects.task.delete"), false)
		require.NoError(t, err)
		assert.Equal(t, []string{"no deletes"}, d.Reasons)
	}
	assert.EqualValues(t, 1, src.loads.Load())

	// Another replica changed it: the revision moved, so it is reloaded.
	src.sets["t1"] = set(2, noUpdates)
	d, err := e.Evaluate(context.Background(), "t1", src, in("projects.task.update"), false)
	require.NoError(t, err)
	assert.Equal(t, []string{"no updates"}, d.Reasons)
	assert.EqualValues(t, 2, src.loads.Load())
}

func TestInvalidateTakesEffectAtOnce(t *testing.T) {
	e := newEngine(t, opa.Options{RecheckAfter: time.Hour})
	src := &source{sets: map[string]policy.Set{"t1": set(1, noDeletes), "t2": set(1, noDeletes)}}
	decide := func(id, action string) []string {
		d, err := e.Evaluate(context.Background(), id, src, in(action), false)
		require.NoError(t, err)
		return d.Reasons
	}
	decide("t1", "projects.task.read")
	decide("t2", "projects.task.read")
	src.sets["t1"], src.sets["t2"] = set(2, noUpdates), set(2, noUpdates)
	assert.Equal(t, []string{"no deletes"}, decide("t1", "projects.task.delete"), "cached within RecheckAfter")

	e.Invalidate("t1")
	assert.Equal(t, []string{"no updates"}, decide("t1", "projects.task.update"))
	assert.Equal(t, []string{"no deletes"}, decide("t2", "projects.task.delete"), "only t1 was invalidated")
	e.InvalidateAll()
	assert.Equal(t, []string{"no updates"}, decide("t2", "projects.task.update"))
}

func TestCacheIsBoundedBySize(t *testing.T) {
	e := newEngine(t, opa.Options{CacheSize: 2, RecheckAfter: time.Hour})
	src := &source{sets: map[string]policy.Set{}}
	for i := range 3 {
		src.sets[fmt.Sprint(i)] = set(1, noDeletes)
	}
	for _, id := range []string{"0", "1", "2", "0"} { // 0 was evicted by 2
		_, err := e.Evaluate(context.Background(), id, src, in("projects.task.read"), false)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 4, src.loads.Load())
	_, _ = e.Evaluate(context.Background(), "2", src, in("projects.task.read"), false)
	assert.EqualValues(t, 4, src.loads.Load(), "2 is still cached")
}

func TestTenantsWithoutModulesUseTheBaseAlone(t *testing.T) {
	e := newEngine(t, opa.Options{})
	src := &source{sets: map[string]policy.Set{}}
	d, err := e.Evaluate(context.Background(), "t1", src, in("projects.task.read"), false)
	require.NoError(t, err)
	assert.True(t, d.Allow)
	assert.Equal(t, "base:"+e.BaseVersion()+"+tenant:0", d.PolicyVersion)
	d, err = e.Evaluate(context.Background(), "t1", src, in("projects.task.read"), true)
	require.NoError(t, err)
	assert.Contains(t, d.Explanation, "# tenant policy: none (the tenant has no policy modules)")
}

// TestUndefinedBaseDenies: a base whose answer is undefined (here, no
// default for grantable) fails closed, even for what RBAC would allow.
func TestUndefinedBaseDenies(t *testing.T) {
	base := fstest.MapFS{"base.rego": {Data: []byte(`package atrium.base
allow if input.action in input.subject.permissions
grantable if false
deny contains "x" if false`)}}
	e := newEngine(t, opa.Options{Base: base})
	d, err := e.Evaluate(context.Background(), "t1", &source{sets: map[string]policy.Set{}}, in("projects.task.read"), false)
	require.Error(t, err)
	assert.False(t, d.Allow)
	assert.Equal(t, []string{"the base policy could not be evaluated"}, d.Reasons)

	_, err = opa.New(opa.Options{Base: fstest.MapFS{"base.rego": {Data: []byte("package atrium.base\nallow if {")}}})
	assert.Error(t, err, "a base that does not compile stops the engine from starting")
}
