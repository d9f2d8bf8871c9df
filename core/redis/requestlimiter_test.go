package redis_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/redis"
	"github.com/atriumhq/atrium/core/tenancy"
)

// One bucket per tenant across replicas: of forty requests at once over two
// replicas, exactly the burst passes; the remaining count and the waits
// follow the rate; another tenant has a bucket of its own.
func TestRequestLimiterSharesOneBucketAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	p := prefix(t)
	limit := tenancy.RateLimit{PerSecond: 0.5, Burst: 10}
	a := redis.NewRequestLimiter(c, p, tenancy.NewMemoryRequestLimiter(10), slog.New(slog.DiscardHandler), nil)
	b := redis.NewRequestLimiter(c, p, tenancy.NewMemoryRequestLimiter(10), slog.New(slog.DiscardHandler), nil)
	tenant := uuid.New()

	v, err := a.Take(ctx, tenant, limit)
	require.NoError(t, err)
	assert.True(t, v.Allowed)
	assert.Equal(t, 9, v.Remaining)
	assert.InDelta(t, 2*time.Second, v.Reset, float64(50*time.Millisecond), "one request's worth to refill")

	var mu sync.Mutex
	passed := 0
	var wg sync.WaitGroup
	for i := range 40 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			v, err := l.Take(ctx, tenant, limit)
			assert.NoError(t, err)
			mu.Lock()
			defer mu.Unlock()
			if v.Allowed {
				passed++
			} else {
				assert.Positive(t, v.RetryAfter)
				assert.LessOrEqual(t, v.RetryAfter, 2*time.Second)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 9, passed, "the burst, less the first request")

	v, err = b.Take(ctx, uuid.New(), limit)
	require.NoError(t, err)
	assert.True(t, v.Allowed, "another tenant")
}

// With Redis gone, requests are limited in process, and that is counted;
// no request fails for it.
func TestRequestLimiterFallsBackInProcessWhenRedisIsDown(t *testing.T) {
	ctx := context.Background()
	c, err := redis.New("redis://127.0.0.1:1/0")
	require.NoError(t, err)
	defer c.Close()
	reg := prometheus.NewRegistry()
	l := redis.NewRequestLimiter(c, "x:", tenancy.NewMemoryRequestLimiter(10), slog.New(slog.DiscardHandler), reg)
	tenant, limit := uuid.New(), tenancy.RateLimit{PerSecond: 1, Burst: 2}
	for range 2 {
		v, err := l.Take(ctx, tenant, limit)
		require.NoError(t, err)
		require.True(t, v.Allowed)
	}
	v, err := l.Take(ctx, tenant, limit)
	require.NoError(t, err)
	assert.False(t, v.Allowed)
	assert.InDelta(t, time.Second, v.RetryAfter, float64(100*time.Millisecond))
	n, err := testutil.GatherAndCount(reg, "atrium_rate_limit_fallbacks_total")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	mf, _ := reg.Gather()
	assert.Equal(t, 3.0, mf[0].GetMetric()[0].GetCounter().GetValue())
}
