package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/redis"
)

// testURL is REDIS_TEST_URL, or the local server.
func testURL() string {
	if u := os.Getenv("REDIS_TEST_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func newClient(t *testing.T) *goredis.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Redis")
	}
	c, err := redis.New(testURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	if err := redis.Ping(context.Background(), c); err != nil {
		// Configured means required (CI sets it); otherwise Redis is optional
		// on a developer's machine.
		if os.Getenv("REDIS_TEST_URL") == "" {
			t.Skip("no Redis at 127.0.0.1:6379 and REDIS_TEST_URL unset")
		}
		require.NoError(t, err, "REDIS_TEST_URL does not answer")
	}
	return c
}

// prefix keeps each test's keys apart, across runs too.
func prefix(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "atrium-test:" + t.Name() + ":" + hex.EncodeToString(b) + ":"
}

func local() identity.Limiter {
	return identity.NewMemoryLimiter(1000, time.Minute, kernel.SystemClock{})
}

func TestLimiterSharesOneCountAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	p := prefix(t)
	a := redis.NewLimiter(c, p, 10, time.Minute, local(), slog.New(slog.DiscardHandler))
	b := redis.NewLimiter(c, p, 10, time.Minute, local(), slog.New(slog.DiscardHandler))

	// Twenty attempts at once, split over two replicas: exactly ten pass.
	var mu sync.Mutex
	passed := 0
	var wg sync.WaitGroup
	for i := range 20 {
		l := a
		if i%2 == 1 {
			l = b
		}
		wg.Go(func() {
			wait, err := l.Take(ctx, "acct")
			assert.NoError(t, err)
			if wait == 0 {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 10, passed)

	wait, err := a.Take(ctx, "acct")
	require.NoError(t, err)
	assert.Greater(t, wait, 50*time.Second)
	assert.LessOrEqual(t, wait, time.Minute)
	wait, _ = a.Take(ctx, "other")
	assert.Zero(t, wait, "keys are counted apart")

	require.NoError(t, b.Reset(ctx, "acct"))
	wait, _ = a.Take(ctx, "acct")
	assert.Zero(t, wait, "a reset is seen by every replica")
	ttl, err := c.PTTL(ctx, p+"acct").Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, time.Duration(0), "every window expires")
}

func TestLimiterWindowEnds(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	l := redis.NewLimiter(c, prefix(t), 1, 200*time.Millisecond, local(), slog.New(slog.DiscardHandler))
	wait, _ := l.Take(ctx, "k")
	require.Zero(t, wait)
	wait, _ = l.Take(ctx, "k")
	require.NotZero(t, wait)
	time.Sleep(wait + 50*time.Millisecond)
	wait, err := l.Take(ctx, "k")
	require.NoError(t, err)
	assert.Zero(t, wait)
}

// With Redis gone, attempts are still limited, per replica.
func TestLimiterFallsBackInProcessWhenRedisIsDown(t *testing.T) {
	ctx := context.Background()
	c, err := redis.New("redis://127.0.0.1:1/0")
	require.NoError(t, err)
	defer c.Close()
	l := redis.NewLimiter(c, "x:", 2, time.Minute, identity.NewMemoryLimiter(2, time.Minute, kernel.SystemClock{}), slog.New(slog.DiscardHandler))
	for range 2 {
		wait, err := l.Take(ctx, "k")
		require.NoError(t, err)
		require.Zero(t, wait)
	}
	wait, err := l.Take(ctx, "k")
	require.NoError(t, err)
	assert.NotZero(t, wait)
	assert.Error(t, redis.Ping(ctx, c))
}

func TestNewRefusesBadURLsWithoutEchoingThem(t *testing.T) {
	_, err := redis.New("redis://user:secret@host:notaport")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret")
}
