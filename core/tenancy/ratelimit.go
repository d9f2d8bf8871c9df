package tenancy

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// RequestLimiter keeps tenants to their request rate limit (the
// rate_limit setting): a token bucket per tenant, refilled at PerSecond
// and holding Burst.
type RequestLimiter interface {
	// Take counts one request of tenant under limit.
	Take(ctx context.Context, tenant uuid.UUID, limit RateLimit) (RateVerdict, error)
}

// RateVerdict is a RequestLimiter's answer.
type RateVerdict struct {
	Allowed bool
	// Remaining is how many more requests the bucket holds now.
	Remaining int
	// RetryAfter, when refused, is how long until one more is allowed.
	RetryAfter time.Duration
	// Reset is how long until the bucket is full again.
	Reset time.Duration
}

// MemoryRequestLimiter is the in-process RequestLimiter
// (golang.org/x/time/rate): each replica counts on its own, so a tenant's
// limit is per replica. It keeps the buckets of the busiest tenants.
type MemoryRequestLimiter struct {
	mu      sync.Mutex
	buckets *lru.Cache[uuid.UUID, *bucket]
	now     func() time.Time
}

type bucket struct {
	limit RateLimit
	lim   *rate.Limiter
}

var _ RequestLimiter = (*MemoryRequestLimiter)(nil)

// NewMemoryRequestLimiter keeps up to size tenants' buckets.
func NewMemoryRequestLimiter(size int) *MemoryRequestLimiter {
	c, _ := lru.New[uuid.UUID, *bucket](size) // fails only for a size below 1
	return &MemoryRequestLimiter{buckets: c, now: time.Now}
}

// Take implements RequestLimiter.
func (m *MemoryRequestLimiter) Take(_ context.Context, tenant uuid.UUID, limit RateLimit) (RateVerdict, error) {
	now := m.now()
	m.mu.Lock()
	b, ok := m.buckets.Get(tenant)
	if !ok || b.limit != limit { // a new setting starts a full bucket
		b = &bucket{limit: limit, lim: rate.NewLimiter(rate.Limit(limit.PerSecond), limit.Burst)}
		m.buckets.Add(tenant, b)
	}
	m.mu.Unlock()
	r := b.lim.ReserveN(now, 1)
	if wait := r.DelayFrom(now); wait > 0 {
		r.CancelAt(now)
		return RateVerdict{RetryAfter: wait, Reset: refill(limit, 0)}, nil
	}
	left := b.lim.TokensAt(now)
	return RateVerdict{Allowed: true, Remaining: max(int(left), 0), Reset: refill(limit, left)}, nil
}

// refill is how long a bucket holding tokens takes to be full.
func refill(limit RateLimit, tokens float64) time.Duration {
	return time.Duration((float64(limit.Burst) - tokens) / limit.PerSecond * float64(time.Second))
}
