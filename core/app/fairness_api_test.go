package app_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// A tenant whose requests wait on a lock holds at most its share of the
// connections (ATRIUM_TENANT_MAX_REQUESTS): another tenant's request is
// served while they still wait, and the slow tenant's requests past its
// share get 503 tenant_busy with Retry-After once their wait ends. With the
// lock gone, everything finishes and both tenants are served again. Without
// the share, acme's six requests would hold all four connections of each
// pool, and globex's request would wait out the acquire timeout for one.
func TestASlowTenantHoldsOnlyItsShare(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, func(c *config.Config) {
		c.DBMaxConns = 4
		c.DBAcquireTimeout = time.Second
		c.TenantMaxRequests = 2
		c.TenantQueueTimeout = 300 * time.Millisecond
	})
	s.install("testplugin", "testplugin")
	s.mustRegister("testplugin", "testplugin")
	acme, globex := s.tenant("acme", "testplugin"), s.tenant("globex", "testplugin")
	for _, token := range []string{acme, globex} {
		s.call(http.MethodPost, "/api/v1/testplugin/items", token, map[string]any{"name": "one"}).want(t, http.StatusCreated, nil)
	}
	waiting := func() string {
		return postgrestest.Exec(t, s.db, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`)
	}

	release := postgrestest.Lock(t, s.db, "SELECT * FROM t_acme.testplugin_items WHERE id = 1 FOR UPDATE")
	const sent = 6
	results := make(chan result, sent)
	for range sent {
		go func() { results <- s.call(http.MethodPost, "/api/v1/testplugin/items/1/touch", acme, nil) }()
	}
	// Two are served and wait on the lock; the four others wait their turn
	// and are refused.
	for range sent - 2 {
		r := <-results
		p := r.problem(t, http.StatusServiceUnavailable, "tenant_busy")
		assert.Equal(t, "tenant acme has 2 requests in progress and none ended within 300ms", p.Detail)
		assert.Equal(t, "1", r.header.Get("Retry-After"))
	}
	require.Equal(t, "2", waiting(), "acme's two requests wait on the lock")
	assert.Equal(t, 4.0, s.metric(`atrium_tenant_admissions_total{outcome="refused"}`))

	s.call(http.MethodPost, "/api/v1/testplugin/items/1/touch", globex, nil).want(t, http.StatusOK, nil)
	s.call(http.MethodGet, "/api/v1/users", globex, nil).want(t, http.StatusOK, nil)
	assert.Equal(t, "2", waiting(), "globex was served before acme's slow requests ended")

	release()
	for range 2 {
		(<-results).want(t, http.StatusOK, nil)
	}
	s.call(http.MethodPost, "/api/v1/testplugin/items/1/touch", acme, nil).want(t, http.StatusOK, nil)
	s.call(http.MethodPost, "/api/v1/testplugin/items/1/touch", globex, nil).want(t, http.StatusOK, nil)
	assert.Equal(t, 0.0, s.metric("atrium_tenant_admissions_waiting"))
}

// manyTenants is how many tenants TestManyTenantsAtOnce makes:
// ATRIUM_TEST_TENANTS, or 100 (`make test-many-tenants` runs 1,000).
func manyTenants(t *testing.T) int {
	if n, err := strconv.Atoi(os.Getenv("ATRIUM_TEST_TENANTS")); err == nil && n > 0 {
		return n
	}
	return 100
}

// Many tenants at once against a pool of 20, each sending several requests
// at the same moment: every request is answered, with its data or a 503
// that carries Retry-After (a wait for the pool or for its tenant's turn
// past its bound), none hangs, nothing else fails, and afterwards every
// tenant is served.
func TestManyTenantsAtOnce(t *testing.T) {
	n := manyTenants(t)
	s := startPluginCore(t, func(c *config.Config) {
		c.DBMaxConns = 20
		c.DBAcquireTimeout = 200 * time.Millisecond
		c.TenantMaxRequests = 2
		c.TenantQueueTimeout = 200 * time.Millisecond
	})
	tokens := make([]string, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range 4 { // tenants made four at a time
		wg.Go(func() {
			for i := range next {
				tokens[i] = s.tenant(fmt.Sprintf("t%04d", i))
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()

	const each = 3
	start := make(chan struct{})
	results := make(chan result, n*each)
	for _, token := range tokens {
		for range each {
			wg.Go(func() {
				<-start
				results <- s.call(http.MethodGet, "/api/v1/users", token, nil)
			})
		}
	}
	close(start)
	wg.Wait()
	close(results)
	counts := map[string]int{}
	for r := range results {
		require.NoError(t, r.err, "every request is answered")
		switch r.status {
		case http.StatusOK:
			counts["ok"]++
		case http.StatusServiceUnavailable:
			p := r.problem(t, http.StatusServiceUnavailable, problemCode(t, r.body))
			assert.Contains(t, []string{"unavailable", "tenant_busy"}, p.Code, "%s", r)
			assert.Equal(t, "1", r.header.Get("Retry-After"), "%s", r)
			counts[p.Code]++
		default:
			t.Errorf("unexpected answer: %s", r)
		}
	}
	t.Logf("%d tenants, %d requests each: %v", n, each, counts)

	for _, token := range tokens {
		s.call(http.MethodGet, "/api/v1/users", token, nil).want(t, http.StatusOK, nil)
	}
	assert.Equal(t, 0.0, s.metric("atrium_tenant_admissions_waiting"))
}
