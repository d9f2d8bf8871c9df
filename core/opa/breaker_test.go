package opa

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
