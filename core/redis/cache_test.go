package redis_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/core/redis"
)

// hungRedis accepts connections and never answers: a Redis that hangs,
// the worst case for callers' latency.
func hungRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "redis://" + ln.Addr().String() + "/0"
}

// With Redis hanging the cache keeps values in process, and only the call
// that found Redis gone waits on it: the next ones fall back at once.
func TestCacheFallsBackInProcessFastWhileRedisHangs(t *testing.T) {
	ctx := context.Background()
	c, err := redis.New(hungRedis(t))
	require.NoError(t, err)
	defer c.Close()
	up := redis.Monitor(c)
	cache := redis.NewCache(c, "x:", pluginhost.NewMemoryCache(10))

	start := time.Now()
	require.NoError(t, cache.Set(ctx, "k", []byte("v"), time.Minute))
	assert.Less(t, time.Since(start), 5*time.Second, "the first call is bounded by the client's timeouts")
	assert.InDelta(t, 0, testutil.ToFloat64(up), 0)

	start = time.Now()
	v, found, err := cache.Get(ctx, "k")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "v", string(v))
	assert.Less(t, time.Since(start), 50*time.Millisecond, "Redis was just found down: not waited on again")
	assert.Error(t, cache.Delete(ctx, "k"), "a deletion Redis never saw is not a success")
	_, found, err = cache.Get(ctx, "k")
	require.NoError(t, err)
	assert.False(t, found, "but the local value is gone")
}

// A Redis that answers is used, and the gauge says so.
func TestCacheUsesRedisWhenItAnswers(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	up := redis.Monitor(c)
	local := pluginhost.NewMemoryCache(10)
	p := prefix(t)
	cache := redis.NewCache(c, p, local)
	require.NoError(t, cache.Set(ctx, "k", []byte("v"), time.Minute))
	_, inProcess, _ := local.Get(ctx, "k")
	assert.False(t, inProcess)
	v, err := c.Get(ctx, p+"k").Result()
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	_, found, err := cache.Get(ctx, "missing")
	require.NoError(t, err)
	assert.False(t, found)
	assert.InDelta(t, 1, testutil.ToFloat64(up), 0)
	require.NoError(t, cache.Delete(ctx, "k"))
}
