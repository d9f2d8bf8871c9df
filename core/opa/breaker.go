package opa

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// A tenant whose policy runs past its deadline may be a runaway: evaluating
// its next requests as they come would spend a deadline of CPU on each, and
// its neighbours' latency with it. So the engine keeps a breaker per such
// tenant, which denies its decisions without evaluating:
//
//   - while an evaluation of its policy abandoned at the deadline still
//     runs (runaway.go);
//   - after two evaluations in a row ran past the deadline, for
//     Options.Cooldown, or ten times as long as the last abandoned one ran
//     on if longer;
//   - while one decision, the probe, evaluates alone after either; the
//     breaker resets when a probe finishes in time.
//
// One late evaluation, as a busy machine may cause, costs a tenant little:
// its next decision is the probe. A runaway's CPU is a deadline per
// cool-down, and a step that runs on for seconds holds one core a tenth of
// the time. Deadlines cut short by the caller's context do not count: they
// say nothing about the policy.
var (
	errStillRunning = errors.New("tenant policy: an earlier evaluation is still running past its deadline")
	errCoolingDown  = errors.New("tenant policy: cooling down after evaluations ran past their deadline")
)

// runaways holds the breakers of tenants whose policy ran past its deadline
// lately.
type runaways struct {
	n  atomic.Int64 // len(by), read on every decision: no lock for the rest
	mu sync.RWMutex
	by map[string]*runaway
}

type runaway struct {
	running int       // evaluations abandoned at the deadline, still running
	strikes int       // evaluations in a row past the deadline
	until   time.Time // denied until then
	probing bool      // a decision is evaluating alone
}

// admit tells whether the tenant's decision may evaluate its policy; probe
// is set when it evaluates alone, and must then be settled.
func (r *runaways) admit(tenant string, now func() time.Time) (probe bool, err error) {
	if r.n.Load() == 0 {
		return false, nil
	}
	r.mu.RLock()
	_, ok := r.by[tenant]
	r.mu.RUnlock()
	if !ok {
		return false, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ra := r.by[tenant]
	switch {
	case ra == nil:
		return false, nil
	case ra.running > 0:
		return false, errStillRunning
	case ra.probing || now().Before(ra.until):
		return false, errCoolingDown
	}
	ra.probing = true
	return true, nil
}

// settle records how a tenant's decision went, when it was a probe or its
// evaluation ran past the deadline (overran); inTime, when that finished in
// time.
func (r *runaways) settle(tenant string, probe, overran, inTime bool, now time.Time, cooldown time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ra := r.by[tenant]
	if ra == nil {
		if !overran {
			return
		}
		ra = r.add(tenant)
	}
	if probe {
		ra.probing = false
	}
	switch {
	case overran:
		if ra.strikes++; ra.strikes > 1 {
			ra.until = later(ra.until, now.Add(cooldown))
		}
	case probe && inTime && ra.running == 0:
		r.remove(tenant)
	}
}

// begin abandons run, unless it has finished, and counts it for its
// tenant. It holds the lock across both so that the run's end, which takes
// the lock too, is counted after its beginning.
func (r *runaways) begin(run *tenantRun, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !run.state.CompareAndSwap(runRunning, runAbandoned) {
		return false
	}
	run.abandoned = now
	ra := r.by[run.tenant]
	if ra == nil {
		ra = r.add(run.tenant)
	}
	ra.running++
	return true
}

// end counts an abandoned evaluation's end.
func (r *runaways) end(run *tenantRun, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ra := r.by[run.tenant]; ra != nil {
		ra.running--
		if ra.strikes > 1 {
			ra.until = later(ra.until, now.Add(10*now.Sub(run.abandoned)))
		}
	}
}

func (r *runaways) add(tenant string) *runaway {
	if r.by == nil {
		r.by = map[string]*runaway{}
	}
	ra := &runaway{}
	r.by[tenant] = ra
	r.n.Add(1)
	return ra
}

func (r *runaways) remove(tenant string) {
	delete(r.by, tenant)
	r.n.Add(-1)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
