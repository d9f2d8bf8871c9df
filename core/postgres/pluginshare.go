package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/atriumhq/atrium/core/kernel"
)

// shares divides the plugins' connections between the pools that need
// them. Each pool (a plugin in a tenant) may have at most its share of the
// bound in use at once: the bound divided by the pools at work (using a
// connection, waiting for one, or done with one within shareGrace). A
// request past its pool's share waits for one of its pool's connections to
// come back, or for its share to grow, instead of opening a connection,
// which would close another pool's idle one only for that pool to open one
// again: with more tenants at work than the bound allows each, nearly every
// request paid for a new session (4 tenants, 32 clients: 63 plugin reads a
// second where one tenant got 3,500).
type shares struct {
	max     int
	grace   time.Duration // shareGrace
	mu      sync.Mutex
	use     map[poolKey]*poolUse
	changed chan struct{} // closed, and replaced, when a connection comes back
}

type poolUse struct {
	inUse, waiting int
	last           time.Time // when a connection last came back
}

// shareGrace keeps a pool at work for a moment after its last connection
// came back: requests that go round the tenants leave each pool idle for
// an instant between two of its own, and its connections are not another
// pool's to take then.
const shareGrace = time.Second

// shareRecheck is how often a waiting request looks again at a share that
// may have grown when another pool's grace ran out.
const shareRecheck = 50 * time.Millisecond

func newShares(limit int) *shares {
	return &shares{max: limit, grace: shareGrace, use: map[poolKey]*poolUse{}, changed: make(chan struct{})}
}

// share is what each pool at work may have in use, forgetting the pools
// no longer at work; s.mu is held.
func (s *shares) share(now time.Time) int {
	active := 0
	for key, u := range s.use {
		if u.inUse > 0 || u.waiting > 0 || now.Sub(u.last) < s.grace {
			active++
		} else {
			delete(s.use, key)
		}
	}
	return max(1, s.max/max(1, active))
}

// current returns the share of each pool at work and whether a pool is at
// work, as of now: what may be taken from the others' idle connections.
func (s *shares) current() (int, func(poolKey) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	share := s.share(time.Now())
	atWork := make(map[poolKey]bool, len(s.use))
	for key := range s.use {
		atWork[key] = true
	}
	return share, func(key poolKey) bool { return atWork[key] }
}

// take waits, up to wait, until key's pool may use one more connection,
// and returns the function that gives it back.
func (s *shares) take(ctx context.Context, key poolKey, wait time.Duration) (func(), error) {
	s.mu.Lock()
	u := s.use[key]
	if u == nil {
		u = &poolUse{last: time.Now()}
		s.use[key] = u
	}
	var timeout <-chan time.Time
	for u.inUse >= s.share(time.Now()) {
		if timeout == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		u.waiting++
		changed := s.changed
		s.mu.Unlock()
		var err error
		select {
		case <-changed:
		case <-time.After(shareRecheck):
		case <-timeout:
			err = kernel.E(kernel.KindUnavailable, "no database connection was free within %s", wait)
		case <-ctx.Done():
			err = ctx.Err()
		}
		s.mu.Lock()
		u.waiting--
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
	}
	u.inUse++
	s.mu.Unlock()
	return func() { s.giveBack(u) }, nil
}

func (s *shares) giveBack(u *poolUse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.inUse--
	u.last = time.Now()
	close(s.changed)
	s.changed = make(chan struct{})
}
