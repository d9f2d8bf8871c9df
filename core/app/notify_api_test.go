package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// A replica whose notification connection is cut, again and again, still
// follows changes made elsewhere within about a second: what changed while
// it could not hear (here a suspension made with no notification at all)
// is dropped from its caches when it listens again, and what changes after
// reaches it as before.
func TestCachesFollowChangesAcrossLostNotificationConnections(t *testing.T) {
	s := startServer(t)
	op := s.operatorToken()
	s.createTenant(op, "acme")
	_, tok := s.login("acme", "admin@acme.test", "tenant admin password")
	me := func() (int, []byte) { return s.do(http.MethodGet, "/api/v1/auth/me", tok, nil, nil) }

	// cut ends the listener's connection and waits until it is gone.
	cut := func() time.Time {
		t.Helper()
		pid := postgrestest.Exec(t, s.db, `SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`)
		require.NotEmpty(t, pid, "a listening connection")
		at := time.Now()
		postgrestest.Exec(t, s.db, "SELECT pg_terminate_backend($1::int)", pid)
		require.Eventually(t, func() bool {
			return postgrestest.Exec(t, s.db, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", pid) == "0"
		}, time.Second, 5*time.Millisecond)
		return at
	}
	// within asserts that me answers want within a second of since.
	within := func(since time.Time, want int) {
		t.Helper()
		for {
			status, raw := me()
			if status == want {
				return
			}
			require.Less(t, time.Since(since), time.Second, "still %d %s", status, raw)
			time.Sleep(20 * time.Millisecond)
		}
	}

	for range 4 {
		status, raw := me() // the tenant is cached as active
		require.Equal(t, http.StatusOK, status, string(raw))

		// Suspended behind every replica's back, as if its notification
		// had been sent while this one was disconnected.
		postgrestest.Exec(t, s.db, "UPDATE atrium.tenants SET status = 'suspended' WHERE slug = 'acme'")
		status, _ = me()
		require.Equal(t, http.StatusOK, status, "still cached: nothing said it changed")
		within(cut(), http.StatusForbidden)
		_, raw = me()
		assert.Equal(t, "tenant_suspended", problemCode(t, raw))

		// Lifted by another replica once this one listens again (and has
		// the suspension cached).
		at := cut()
		require.Eventually(t, func() bool {
			return postgrestest.Exec(t, s.db, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND query LIKE 'LISTEN %'`) == "1"
		}, time.Second, 5*time.Millisecond)
		within(at, http.StatusForbidden)
		postgrestest.Exec(t, s.db, `WITH u AS (UPDATE atrium.tenants SET status = 'active' WHERE slug = 'acme' RETURNING id)
			SELECT pg_notify('atrium_tenancy', id::text) FROM u`)
		within(time.Now(), http.StatusOK)
	}

	status, body := get(t, s.base+"/metrics")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "atrium_notify_listener_reconnects_total 8")
	assert.Contains(t, body, "atrium_notify_listener_listening 1")
}
