package identity

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/atriumhq/atrium/core/kernel"
)

// Standings remembers tenant users' standing (account active, tokens valid
// after, family revoked) for a short while, so a request does not spend a
// round trip asking. A revocation made on this replica drops what it
// touches when its unit of work commits; one made on another replica
// arrives by notification (see core/app), and the TTL bounds what a missed
// notification could leave.
type Standings struct {
	mu    sync.Mutex
	cache *lru.Cache[uuid.UUID, standingEntry] // by family (session)
	ttl   time.Duration
	now   func() time.Time
	stats kernel.CacheStats
}

type standingEntry struct {
	tenant uuid.UUID
	st     Standing
	at     time.Time
}

// NewStandings holds up to size sessions' standing for ttl each.
func NewStandings(size int, ttl time.Duration) *Standings {
	c, _ := lru.New[uuid.UUID, standingEntry](size) // fails only for a size below 1
	return &Standings{cache: c, ttl: ttl, now: time.Now}
}

// CacheStats counts the lookups of sessions' standing.
func (s *Standings) CacheStats() *kernel.CacheStats {
	if s == nil {
		return nil
	}
	return &s.stats
}

func (s *Standings) get(family uuid.UUID) (Standing, bool) {
	if s == nil {
		return Standing{}, false
	}
	e, ok := s.cache.Get(family)
	if !ok || s.now().Sub(e.at) >= s.ttl {
		s.stats.Record(false)
		return Standing{}, false
	}
	s.stats.Record(true)
	return e.st, true
}

func (s *Standings) put(family, tenant uuid.UUID, st Standing) {
	if s != nil {
		now := s.now()
		s.cache.Add(family, standingEntry{tenant: tenant, st: st, at: now})
		dropExpired(s.cache, now, func(e standingEntry) time.Time { return e.at.Add(s.ttl) })
	}
}

// dropExpired removes c's least recently used entries while they have
// expired. Bounded by its size alone, a cache would keep every token or
// session it saw, long expired, until that many more came (50,000 of about
// a kilobyte each): memory that grows for hours under steady sign-ins.
func dropExpired[K comparable, V any](c *lru.Cache[K, V], now time.Time, expires func(V) time.Time) {
	for {
		k, v, ok := c.GetOldest()
		if !ok || now.Before(expires(v)) {
			return
		}
		c.Remove(k)
	}
}

// Forget drops one session's standing.
func (s *Standings) Forget(family uuid.UUID) {
	if s != nil {
		s.cache.Remove(family)
	}
}

// ForgetTenant drops the standing of every session of a tenant.
func (s *Standings) ForgetTenant(tenant uuid.UUID) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.cache.Keys() {
		if e, ok := s.cache.Peek(k); ok && e.tenant == tenant {
			s.cache.Remove(k)
		}
	}
}

// ForgetAll drops everything (notifications may have been missed).
func (s *Standings) ForgetAll() {
	if s != nil {
		s.cache.Purge()
	}
}

// forgetOnCommit drops a session's standing once the revocation in ctx's
// unit of work has committed.
func (s *Standings) forgetOnCommit(ctx context.Context, family uuid.UUID) {
	if s != nil {
		kernel.AfterCommit(ctx, func() { s.Forget(family) })
	}
}
