package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// Two replicas behind one PgBouncer in transaction pooling mode (Debian's,
// 1.18: no protocol-level prepared statements), with a pool of 4 server
// connections per role, so the core's transactions for both tenants share
// server connections: sign-in, tenants, plugin routes with SQL, a policy,
// a user's disabling seen by the other replica through NOTIFY on its direct
// connection, and many concurrent requests, each of which sees only its
// own tenant, role and search path. Skipped without pgbouncer.
func TestThroughPgBouncerInTransactionMode(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	bouncer := postgrestest.StartPgBouncerWith(t, postgrestest.PgBouncerConfig{PoolSize: 4})
	through := func(cfg *config.Config) {
		if cfg.DatabaseDirectURL == "" {
			cfg.DatabaseDirectURL = cfg.DatabaseURL
		}
		cfg.DatabaseURL = bouncer.URL(t, cfg.DatabaseDirectURL)
		// Not a test of stopping fast: under the race detector a stop
		// behind the pooler once took past the suite's 5s.
		cfg.ShutdownTimeout = 15 * time.Second
	}
	a := startPluginCore(t, through)
	direct := a.db
	a.install("notesplugin", "notes")
	a.mustRegister("notes", "notes")

	admins := map[string]string{}
	for _, slug := range []string{"acme", "globex"} {
		admins[slug] = a.tenant(slug, "notes")
		a.createUser(admins[slug], "mia@"+slug+".test", "member")
		var n note
		a.call(http.MethodPost, "/api/v1/notes", admins[slug], map[string]string{"text": "note of " + slug}).want(t, http.StatusCreated, &n)
	}

	// A policy upload, compiled, tested and activated through the pooler.
	var m api.PolicyModule
	status, raw := a.do(http.MethodPut, "/api/v1/policies/guard", admins["acme"], map[string]string{"rego": guardPolicy, "tests": guardTests}, &m)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.True(t, m.Active)

	// A second replica through the same PgBouncer; it listens on its own
	// direct connection.
	b := startCore(t, direct, func(cfg *config.Config) {
		cfg.PluginDir = a.dir
		cfg.AuditCheckpointInterval = 0
		cfg.DatabaseDirectURL = direct
		through(cfg)
	})
	require.Eventually(t, func() bool {
		return postgrestest.Exec(t, direct, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN %'`) == "2"
	}, 5*time.Second, 20*time.Millisecond, "each replica listens, directly")

	// Disabled on one replica, refused on the other: the notification came.
	_, mia := b.login("acme", "mia@acme.test", userPassword)
	require.NotEmpty(t, mia)
	status, raw = b.do(http.MethodGet, "/api/v1/auth/me", mia, nil, nil)
	require.Equal(t, http.StatusOK, status, string(raw))
	var users api.UserList
	status, raw = a.do(http.MethodGet, "/api/v1/users", admins["acme"], nil, &users)
	require.Equal(t, http.StatusOK, status, string(raw))
	var miaID string
	for _, u := range users.Items {
		if u.Email == "mia@acme.test" {
			miaID = u.ID.String()
		}
	}
	require.NotEmpty(t, miaID)
	status, raw = a.do(http.MethodPatch, "/api/v1/users/"+miaID, admins["acme"], map[string]any{"status": "disabled"}, nil)
	require.Equal(t, http.StatusOK, status, string(raw))
	require.Eventually(t, func() bool {
		status, _ := b.do(http.MethodGet, "/api/v1/auth/me", mia, nil, nil)
		return status == http.StatusUnauthorized
	}, 2*time.Second, 20*time.Millisecond, "replica b sees the user disabled")

	// Many requests at once, both tenants, core and plugin: each sees its
	// own tenant's rows (a plugin's unqualified table name is found through
	// its transaction's search path), whichever server connection it got.
	// (The SQL guard keeps a plugin from reading its session; the core
	// package's TestSessionsThroughPgBouncerInTransactionMode reads it.)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Sprintf(format, args...))
	}
	for i := range 16 {
		wg.Go(func() {
			slug := []string{"acme", "globex"}[i%2]
			tok := admins[slug]
			for range 10 {
				var notes noteList
				r := a.call(http.MethodGet, "/api/v1/notes", tok, nil)
				if r.err != nil || r.status != http.StatusOK || jsonUnmarshal(r.body, &notes) != nil ||
					len(notes.Items) != 1 || notes.Items[0].Text != "note of "+slug {
					fail("%s: notes: %d %s %v", slug, r.status, r.body, r.err)
				}
				var rows struct{ Rows int }
				r = a.call(http.MethodPost, "/api/v1/notes/sql", tok, map[string]string{"sql": "SELECT id FROM notes WHERE text = 'note of " + slug + "'"})
				if r.err != nil || r.status != http.StatusOK || jsonUnmarshal(r.body, &rows) != nil || rows.Rows != 1 {
					fail("%s: plugin session: %d %s %v", slug, r.status, r.body, r.err)
				}
				var list api.UserList
				status, raw := a.do(http.MethodGet, "/api/v1/users", tok, nil, &list)
				if status != http.StatusOK {
					fail("%s: users: %d %s", slug, status, raw)
				}
				for _, u := range list.Items {
					if !strings.HasSuffix(u.Email, "@"+slug+".test") {
						fail("%s: another tenant's user %s", slug, u.Email)
					}
				}
			}
		})
	}
	wg.Wait()
	assert.Empty(t, errs[:min(len(errs), 3)], "%d failures", len(errs))

	assert.NotContains(t, bouncer.Log(), "ERROR")
}
