package opa_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
)

// Runaway policies compile (they are valid Rego) and would run for hours:
// the deadline cuts them off, the decision denies, and other tenants'
// decisions go on meanwhile.
var runaway = map[string]string{
	"huge range": `package tenant
allow contains "never" if count(numbers.range(1, 1e12)) > 0`,
	"nested loops": `package tenant
allow contains "never" if {
	some i in numbers.range(1, 500)
	some j in numbers.range(1, 500)
	some k in numbers.range(1, 500)
	i + j + k < 0
}`,
	"huge comprehension": `package tenant
allow contains "never" if {
	xs := [x | some x in numbers.range(1, 1e9); x % 7 == 0]
	count(xs) > 0
}`,
}

func TestRunawayPoliciesAreDeniedAtTheDeadline(t *testing.T) {
	const deadline = 100 * time.Millisecond
	e := newEngine(t, opa.Options{Deadline: deadline})
	src := &source{sets: map[string]policy.Set{"fast": set(1, noDeletes)}}
	for name, rego := range runaway {
		src.sets[name] = set(1, rego)
	}
	// Compile everything first: the timing is about evaluation.
	for id := range src.sets {
		_, _ = e.Evaluate(context.Background(), id, src, in("projects.task.read"), false)
	}

	var wg sync.WaitGroup
	for name := range runaway {
		wg.Go(func() {
			start := time.Now()
			d, err := e.Evaluate(context.Background(), name, src, in("projects.task.read"), false)
			took := time.Since(start)
			assert.Error(t, err, name)
			assert.False(t, d.Allow, name)
			assert.Equal(t, []string{"the tenant policy did not finish in time"}, d.Reasons, name)
			assert.Less(t, took, 20*deadline, "%s was stopped within bounded time", name)
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Another tenant decides meanwhile: decisions keep flowing while the
	// runaway ones run, each as it would alone.
	decided, slowest := 0, time.Duration(0)
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		start := time.Now()
		d, err := e.Evaluate(context.Background(), "fast", src, in("projects.task.read"), false)
		slowest = max(slowest, time.Since(start))
		require.NoError(t, err)
		require.True(t, d.Allow)
		decided++
	}
	assert.GreaterOrEqual(t, decided, 5, "the other tenant went on deciding")
	t.Logf("the other tenant made %d decisions meanwhile, the slowest in %s", decided, slowest)
}

func TestCallerCancellationDenies(t *testing.T) {
	e := newEngine(t, opa.Options{Deadline: time.Minute})
	src := &source{sets: map[string]policy.Set{"t1": set(1, runaway["huge range"])}}
	for range 2 { // the first compiles
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		start := time.Now()
		d, err := e.Evaluate(ctx, "t1", src, in("projects.task.read"), false)
		cancel()
		require.Error(t, err)
		assert.False(t, d.Allow)
		assert.Less(t, time.Since(start), time.Second)
	}
}

// A decision cancelled by its context, or cut off at the deadline, leaves
// nothing behind: the watches recycled between decisions never carry a
// cancel into the next one.
func TestCancelledDecisionDoesNotCancelTheNext(t *testing.T) {
	e := newEngine(t, opa.Options{Deadline: 100 * time.Millisecond})
	src := &source{sets: map[string]policy.Set{
		"slow": set(1, runaway["huge range"]),
		"fast": set(1, `package tenant.a
deny contains "never" if false`),
	}}
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := e.Evaluate(ctx, "slow", src, in("projects.task.read"), false) // the context ends it
		cancel()
		require.Error(t, err)
		_, err = e.Evaluate(context.Background(), "slow", src, in("projects.task.read"), false) // the deadline does
		require.Error(t, err)
		live, stop := context.WithCancel(context.Background())
		for range 100 {
			d, err := e.Evaluate(live, "fast", src, in("projects.task.read"), false)
			require.NoError(t, err)
			require.True(t, d.Allow, d.Reasons)
		}
		stop()
	}
}
