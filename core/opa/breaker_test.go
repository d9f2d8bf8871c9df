package opa

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/policy"
)

func TestBreaker(t *testing.T) {
	var r runaways
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	const cooldown = time.Second
	admit := func() (bool, error) { return r.admit("t1", clock) }

	probe, err := admit()
	require.NoError(t, err)
	assert.False(t, probe, "no breaker: no probe")

	// One late evaluation: the next decision probes, alone.
	r.settle("t1", false, true, false, now, cooldown)
	probe, err = admit()
	require.NoError(t, err)
	assert.True(t, probe)
	_, err = admit()
	assert.ErrorIs(t, err, errCoolingDown, "one probe at a time")
	r.settle("t1", true, false, false, now, cooldown) // not evaluated: no news
	probe, err = admit()
	require.NoError(t, err)
	assert.True(t, probe)
	r.settle("t1", true, false, true, now, cooldown) // in time: reset
	assert.Zero(t, r.n.Load())
	probe, err = admit()
	require.NoError(t, err)
	assert.False(t, probe)

	// Two in a row: cool down, then probe.
	r.settle("t1", false, true, false, now, cooldown)
	r.settle("t1", false, true, false, now, cooldown)
	_, err = admit()
	assert.ErrorIs(t, err, errCoolingDown)
	now = now.Add(cooldown)
	probe, err = admit()
	require.NoError(t, err)
	assert.True(t, probe)

	// The probe (a third strike) is abandoned at the deadline and runs on
	// for 2s: denied while it runs, then for 10 times as long.
	run := &tenantRun{tenant: "t1"}
	require.True(t, r.begin(run, now))
	r.settle("t1", true, true, false, now, cooldown)
	_, err = admit()
	assert.ErrorIs(t, err, errStillRunning)
	now = now.Add(2 * time.Second)
	r.end(run, now)
	now = now.Add(19 * time.Second)
	_, err = admit()
	assert.ErrorIs(t, err, errCoolingDown)
	now = now.Add(time.Second)
	probe, err = admit()
	require.NoError(t, err)
	assert.True(t, probe)
	r.settle("t1", true, false, true, now, cooldown)
	assert.Zero(t, r.n.Load())

	// Other tenants are never concerned.
	r.settle("t1", false, true, false, now, cooldown)
	r.settle("t1", false, true, false, now, cooldown)
	probe, err = r.admit("t2", clock)
	assert.NoError(t, err)
	assert.False(t, probe)

	// A run that finished first is not abandoned.
	done := &tenantRun{tenant: "t3"}
	done.state.Store(runFinished)
	assert.False(t, r.begin(done, now))
}

// One late evaluation, abandoned and soon over, as a busy machine may
// cause: denied only while it runs, then the next decision probes.
func TestBreakerForgivesOneLateEvaluation(t *testing.T) {
	var r runaways
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	run := &tenantRun{tenant: "t1"}
	require.True(t, r.begin(run, now))
	r.settle("t1", false, true, false, now, time.Second)
	_, err := r.admit("t1", clock)
	assert.ErrorIs(t, err, errStillRunning)
	now = now.Add(20 * time.Millisecond)
	r.end(run, now)
	probe, err := r.admit("t1", clock)
	require.NoError(t, err)
	assert.True(t, probe)
	r.settle("t1", true, false, true, now, time.Second)
	assert.Zero(t, r.n.Load())
}

// oneSet serves one policy set to every tenant.
type oneSet struct{ set policy.Set }

func (s oneSet) Revision(context.Context, string) (int64, error)    { return s.set.Revision, nil }
func (s oneSet) Active(context.Context, string) (policy.Set, error) { return s.set, nil }

// A burst of a new runaway's decisions, all admitted before the first of
// them reaches its deadline, leaves no more of its evaluations running on
// past the deadline than it has slots: the rest waited for one, and were
// denied at their deadline without evaluating.
func TestBurstOfARunawayRunsAtMostItsSlots(t *testing.T) {
	e, err := New(Options{Deadline: 100 * time.Millisecond})
	require.NoError(t, err)
	var rego strings.Builder // a regular expression of a thousand states over 256 KiB: a second or so, deaf to cancellation
	rego.WriteString("package tenant\nallow contains \"never\" if regex.match(\"a[ab]{1000}c\", s17)\ns0 := \"ab\"\n")
	for i := 1; i <= 17; i++ {
		fmt.Fprintf(&rego, "s%d := concat(\"\", [s%d, s%d])\n", i, i-1, i-1)
	}
	src := oneSet{policy.Set{Revision: 1, Modules: []policy.Module{{Name: "stuck", Version: 1, Rego: rego.String(), Active: true}}}}
	input := access.Input{Subject: access.Subject{ID: "u1", Type: "user", Permissions: []string{"projects.task.read"}},
		Action: "projects.task.read", Tenant: access.TenantInput{ID: "stuck", Slug: "stuck"}}

	const burst = 32
	var wg sync.WaitGroup
	var allowed atomic.Int32
	for range burst {
		wg.Go(func() {
			if d, err := e.Evaluate(context.Background(), "stuck", src, input, false); err == nil || d.Allow {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Zero(t, allowed.Load(), "every decision of the burst is denied")
	running := func() int {
		e.runaways.mu.RLock()
		defer e.runaways.mu.RUnlock()
		if ra := e.runaways.by["stuck"]; ra != nil {
			return ra.running
		}
		return 0
	}
	n := running()
	assert.Positive(t, n, "the evaluations that started run on past their deadline")
	assert.LessOrEqual(t, n, evaluationSlots(), "no more than the tenant's slots")
	require.Eventually(t, func() bool { return running() == 0 }, 2*time.Minute, 20*time.Millisecond)
}
