package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/redis"
)

// redisProxy forwards to a real Redis until hang, after which it drops
// every connection and answers none: a Redis that hangs, the worst case
// for callers' latency.
type redisProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	hung   bool
	conns  []net.Conn
}

func startRedisProxy(t *testing.T) *redisProxy {
	t.Helper()
	url := os.Getenv("REDIS_TEST_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	c, err := redis.New(url)
	require.NoError(t, err)
	up := redis.Ping(context.Background(), c) == nil
	target := c.Options().Addr
	_ = c.Close()
	if !up {
		t.Skip("no Redis at " + target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &redisProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.hang() })
	return p
}

func (p *redisProxy) url() string { return "redis://" + p.ln.Addr().String() + "/0" }

func (p *redisProxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, in)
		hung := p.hung
		p.mu.Unlock()
		if hung {
			continue // held open, never answered
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, out)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
		go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
	}
}

// resume forwards new connections to Redis again: Redis is back.
func (p *redisProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = false
}

func (p *redisProxy) hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// Redis is optional: while it hangs, /readyz says "degraded" with 200 (a
// replica stays in its load balancer), sign-in and a plugin's cache fall
// back in process with bounded latency, atrium_redis_up says so, a token
// logged out stays refused and sign-in attempts are still limited (in
// process). Once Redis is back the core uses it again: the limit's count
// is shared with a second core, and /readyz and the gauge recover.
func TestRedisDownDegradesAndComesBack(t *testing.T) {
	proxy := startRedisProxy(t)
	const limit = 3
	shared := func(c *config.Config) {
		c.RedisURL = proxy.url()
		c.LoginRateLimit = limit
	}
	s := startPluginCore(t, shared)
	s.install("testplugin", "testplugin")
	s.mustRegister("testplugin", "testplugin")
	admin := s.tenant("acme", "testplugin")

	status, body := get(t, s.base+"/readyz")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"status":"ready"`)
	assert.Equal(t, 1.0, s.metric("atrium_redis_up"))

	proxy.hang()
	for range 5 {
		start := time.Now()
		status, body = get(t, s.base+"/readyz")
		require.Equal(t, http.StatusOK, status, body)
		assert.Contains(t, body, `"status":"degraded"`)
		assert.Contains(t, body, `"redis":{"status":"down"`)
		assert.Contains(t, body, `"database":{"status":"up"`)
		assert.Less(t, time.Since(start), 3*time.Second)

		start = time.Now()
		var svc map[string]any
		s.call(http.MethodPost, "/api/v1/testplugin/services", admin, nil).want(t, http.StatusOK, &svc)
		assert.Equal(t, "v", svc["cache"], "the cache works, in process")
		assert.Less(t, time.Since(start), 5*time.Second)

		start = time.Now()
		s.signIn("acme", "admin@acme.test", adminPassword)
		assert.Less(t, time.Since(start), 5*time.Second)
	}
	assert.Equal(t, 0.0, s.metric("atrium_redis_up"))

	// Redis is not waited on by every request: at most once a second.
	slow := 0
	for range 5 {
		start := time.Now()
		s.call(http.MethodPost, "/api/v1/testplugin/services", admin, nil).want(t, http.StatusOK, nil)
		if time.Since(start) > 300*time.Millisecond {
			slow++
		}
	}
	assert.LessOrEqual(t, slow, 1)

	// Revocation lives in the database: a token logged out is refused.
	gone := s.signIn("acme", "admin@acme.test", adminPassword).AccessToken
	require.Equal(t, http.StatusOK, s.me(gone))
	status, raw := s.do(http.MethodPost, "/api/v1/auth/logout", gone, nil, nil)
	require.Equal(t, http.StatusNoContent, status, string(raw))
	assert.Equal(t, http.StatusUnauthorized, s.me(gone), "a logged-out token is refused with Redis down")

	// Sign-in attempts are counted in process: past the limit, refused.
	guess := func(on *server, email string) int {
		status, _ := on.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{
			"tenant": "acme", "email": email, "password": "a wrong guess",
		}, nil)
		return status
	}
	for range limit {
		assert.Equal(t, http.StatusUnauthorized, guess(s.server, "admin@acme.test"))
	}
	assert.Equal(t, http.StatusTooManyRequests, guess(s.server, "admin@acme.test"), "limited with Redis down")

	// Back: the gauge and /readyz recover by themselves, and a second core
	// sees what this one counts in Redis.
	proxy.resume()
	require.Eventually(t, func() bool {
		status, body := get(t, s.base+"/readyz")
		return status == http.StatusOK && strings.Contains(body, `"status":"ready"`)
	}, 10*time.Second, 50*time.Millisecond, "/readyz says ready once Redis is back")
	require.Eventually(t, func() bool {
		s.call(http.MethodPost, "/api/v1/testplugin/services", admin, nil).want(t, http.StatusOK, nil)
		return s.metric("atrium_redis_up") == 1
	}, 10*time.Second, 50*time.Millisecond, "atrium_redis_up is 1 once Redis is back")
	other := startCore(t, s.db, func(c *config.Config) {
		shared(c)
		c.PluginDir = s.dir
	})
	for range limit {
		assert.Equal(t, http.StatusUnauthorized, guess(s.server, "member@acme.test"))
	}
	assert.Equal(t, http.StatusTooManyRequests, guess(other, "member@acme.test"),
		"the other core refuses the attempt past the limit this one counted: both count in Redis")
}
