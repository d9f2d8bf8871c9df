package pluginhost

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// The backoff doubles while a plugin keeps crashing, and starts over (with
// the breaker's count) once a process ran for StableAfter: a crash after a
// healthy while is restarted promptly and is the first of a new incident.
func TestRestartBackoffStartsOverAfterAHealthyRun(t *testing.T) {
	r := restarts{sup: DefaultSupervision}
	now := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	crash := func(ran time.Duration) (time.Duration, bool) {
		now = now.Add(ran)
		return r.ended(now, ran)
	}

	for _, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond} {
		wait, broke := crash(time.Second)
		assert.Equal(t, want, wait)
		assert.False(t, broke)
		now = now.Add(wait)
	}

	// Healthy for two minutes, then a crash: restarted after MinBackoff.
	wait, broke := crash(2 * time.Minute)
	assert.Equal(t, 100*time.Millisecond, wait)
	assert.False(t, broke)
	now = now.Add(wait)

	// Four more quick crashes: the four before the healthy run no longer
	// count, so the breaker opens at the fifth of this incident only.
	for i := range 3 {
		wait, broke = crash(time.Second)
		assert.False(t, broke, "crash %d of the new incident", i+2)
		now = now.Add(wait)
	}
	wait, broke = crash(time.Second)
	assert.True(t, broke, "the fifth crash within a minute")
	assert.Equal(t, DefaultSupervision.Cooldown, wait)
}

// With a window longer than StableAfter, crashes before a healthy run would
// still be in the window: they must not count.
func TestHealthyRunClearsTheCrashCount(t *testing.T) {
	sup := DefaultSupervision
	sup.StableAfter, sup.BreakWindow = 30*time.Second, 10*time.Minute
	r := restarts{sup: sup}
	now := time.Now()
	for range 4 {
		now = now.Add(time.Second)
		_, broke := r.ended(now, time.Second)
		assert.False(t, broke)
	}
	now = now.Add(time.Minute)
	wait, broke := r.ended(now, time.Minute)
	assert.False(t, broke, "one crash after a healthy minute is no crash loop")
	assert.Equal(t, sup.MinBackoff, wait)
}

// A plugin that never starts backs off to MaxBackoff and trips the breaker.
func TestFailedStartsBackOffAndBreak(t *testing.T) {
	sup := DefaultSupervision
	sup.BreakAfter, sup.BreakWindow = 100, time.Hour
	r := restarts{sup: sup}
	now := time.Now()
	var wait time.Duration
	for range 20 {
		wait, _ = r.ended(now, 0)
		now = now.Add(wait)
	}
	assert.Equal(t, sup.MaxBackoff, wait)
}
