package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/core/redis"
)

// redisForTest is the Redis tests may use, or "" (the test skips).
func redisForTest(t *testing.T) string {
	t.Helper()
	url := os.Getenv("REDIS_TEST_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	c, err := redis.New(url)
	require.NoError(t, err)
	defer c.Close()
	if redis.Ping(context.Background(), c) != nil {
		t.Skip("no Redis at " + url)
	}
	return url
}

func limitTenant(t *testing.T, s *server, op, slug string, perSecond float64, burst int) {
	t.Helper()
	status, raw := s.do(http.MethodPatch, "/api/v1/tenants/"+slug, op, map[string]any{"settings": map[string]any{
		"rate_limit": map[string]any{"requests_per_second": perSecond, "burst": burst}}}, nil)
	require.Equal(t, http.StatusOK, status, string(raw))
}

// getHeaders is GET path with token, returning the status and headers.
func getHeaders(t *testing.T, s *server, path, token string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.base+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, raw
}

// A tenant over its rate limit gets 429 rate_limited with Retry-After and
// the RateLimit fields; another tenant is not limited by its flood; a bad
// setting is refused.
func testTenantRateLimits(t *testing.T, s1, s2 *server) {
	op := s1.operatorToken()
	s1.createTenant(op, "acme")
	s1.createTenant(op, "globex")
	_, acme := s1.login("acme", "admin@acme.test", "tenant admin password")
	_, globex := s1.login("globex", "admin@globex.test", "tenant admin password")

	status, _, _ := getHeaders(t, s1, "/api/v1/users", acme)
	require.Equal(t, http.StatusOK, status)
	for _, bad := range []any{map[string]any{"requests_per_second": 0, "burst": 1}, map[string]any{"requests_per_second": 1, "burst": 0.5}, "fast"} {
		status, raw := s1.do(http.MethodPatch, "/api/v1/tenants/acme", op, map[string]any{"settings": map[string]any{"rate_limit": bad}}, nil)
		require.Equal(t, http.StatusUnprocessableEntity, status, "%v: %s", bad, raw)
	}
	_, h, _ := getHeaders(t, s1, "/api/v1/users", acme)
	assert.Empty(t, h.Get("RateLimit"), "no limit, no fields")

	// A slow refill: the burst is all the test gets.
	limitTenant(t, s1, op, "acme", 0.01, 3)
	limitTenant(t, s1, op, "globex", 0.01, 3)
	for i, s := range []*server{s1, s2, s1} { // both replicas count against one limit (in Redis)
		status, h, raw := getHeaders(t, s, "/api/v1/users", acme)
		require.Equal(t, http.StatusOK, status, "request %d: %s", i+1, raw)
		assert.Equal(t, "limit=3, remaining="+strconv.Itoa(2-i)+", reset="+h.Get("RateLimit")[len("limit=3, remaining=0, reset="):], h.Get("RateLimit"))
		assert.Equal(t, "1;w=1;burst=3", h.Get("RateLimit-Policy"))
	}
	status, h, raw := getHeaders(t, s2, "/api/v1/users", acme)
	require.Equal(t, http.StatusTooManyRequests, status, string(raw))
	assert.Equal(t, "rate_limited", problemCode(t, raw))
	wait, err := strconv.Atoi(h.Get("Retry-After"))
	require.NoError(t, err, h.Get("Retry-After"))
	assert.InDelta(t, 100, wait, 2, "one request in 100 s")
	assert.Contains(t, h.Get("RateLimit"), "remaining=0")

	// globex is not limited by acme's flood.
	for range 3 {
		status, _, raw = getHeaders(t, s2, "/api/v1/users", globex)
		require.Equal(t, http.StatusOK, status, string(raw))
	}
	status, _, _ = getHeaders(t, s1, "/api/v1/users", globex)
	assert.Equal(t, http.StatusTooManyRequests, status, "its own burst spent")
	refused := s1.metric("atrium_rate_limited_total")
	if s2 != s1 {
		refused += s2.metric("atrium_rate_limited_total")
	}
	assert.Equal(t, 2.0, refused)

	// Lifting the limit lifts it.
	status, raw = s1.do(http.MethodPatch, "/api/v1/tenants/acme", op, map[string]any{"settings": map[string]any{}}, nil)
	require.Equal(t, http.StatusOK, status, string(raw))
	status, _, _ = getHeaders(t, s1, "/api/v1/users", acme)
	assert.Equal(t, http.StatusOK, status)
}

func TestTenantRateLimitsInProcess(t *testing.T) {
	s := startServer(t)
	testTenantRateLimits(t, s, s) // one replica: in process, counts are its own
}

func TestTenantRateLimitsInRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	url := redisForTest(t)
	db := postgrestest.NewDatabase(t)
	withRedis := func(c *config.Config) { c.RedisURL = url }
	testTenantRateLimits(t, startCore(t, db, withRedis), startCore(t, db, withRedis))
}

// signInFrom signs in from a loopback address of its own (127.0.0.x): the
// core sees a client per address.
func signInFrom(t *testing.T, s *server, ip, slug, email, password string) (int, []byte) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	defer client.CloseIdleConnections()
	body, _ := json.Marshal(map[string]string{"tenant": slug, "email": email, "password": password})
	resp, err := client.Post(s.base+"/api/v1/auth/login", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw
}

// Guessing from one address locks the account out for that address only,
// and the address is limited on every account: locking an account out
// takes many addresses.
func TestSignInLimitedPerAddress(t *testing.T) {
	s := startServerWith(t, func(c *config.Config) { c.LoginRateLimit, c.LoginIPRateLimit = 3, 5 })
	op := s.operatorToken()
	s.createTenant(op, "acme")
	const attacker, owner = "127.0.0.2", "127.0.0.3"

	for range 3 {
		status, _ := signInFrom(t, s.server, attacker, "acme", "admin@acme.test", "wrong password!")
		require.Equal(t, http.StatusUnauthorized, status)
	}
	status, raw := signInFrom(t, s.server, attacker, "acme", "admin@acme.test", "wrong password!")
	require.Equal(t, http.StatusTooManyRequests, status, string(raw))
	assert.Contains(t, string(raw), "for this account")

	status, raw = signInFrom(t, s.server, owner, "acme", "admin@acme.test", adminPassword)
	require.Equal(t, http.StatusOK, status, "the owner, elsewhere, is not locked out: %s", raw)

	// The attacker's address, on other accounts: its fifth attempt in all
	// is its last in the window; the sixth is refused for the address.
	status, _ = signInFrom(t, s.server, attacker, "acme", "someone@acme.test", "wrong password!")
	require.Equal(t, http.StatusUnauthorized, status)
	status, raw = signInFrom(t, s.server, attacker, "acme", "other@acme.test", "wrong password!")
	require.Equal(t, http.StatusTooManyRequests, status, string(raw))
	assert.Contains(t, string(raw), "from this address")
	status, _ = signInFrom(t, s.server, owner, "acme", "someone@acme.test", "wrong password!")
	assert.Equal(t, http.StatusUnauthorized, status, "another address is not")
}
