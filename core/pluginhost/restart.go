package pluginhost

import "time"

// restarts is a supervisor's memory of a plugin's trouble: the backoff
// before its next launch and the crashes its breaker counts. A process
// that ran for StableAfter wipes both, so its next crash is a new
// incident: restarted after MinBackoff and counted from one. Only the
// supervisor's goroutine uses it.
type restarts struct {
	sup     Supervision
	backoff time.Duration
	crashes []time.Time
}

// ended records, at now, a launch that failed (ran 0) or a process that
// ran for ran and ended. It returns the wait before the next launch and
// whether the breaker opened (the wait is then the cooldown).
func (r *restarts) ended(now time.Time, ran time.Duration) (wait time.Duration, broke bool) {
	if r.backoff == 0 || r.sup.StableAfter > 0 && ran >= r.sup.StableAfter {
		r.backoff, r.crashes = r.sup.MinBackoff, nil
	}
	r.crashes = append(r.crashes, now)
	for len(r.crashes) > 0 && now.Sub(r.crashes[0]) > r.sup.BreakWindow {
		r.crashes = r.crashes[1:]
	}
	wait = r.backoff
	r.backoff = min(r.backoff*2, r.sup.MaxBackoff)
	if len(r.crashes) >= r.sup.BreakAfter {
		r.crashes = nil // half-open after the cooldown
		return r.sup.Cooldown, true
	}
	return wait, false
}
