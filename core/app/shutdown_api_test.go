package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/app"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// A plugin write still running at the shutdown's drain deadline is answered
// 503 unavailable with Retry-After, and nothing of it is written; a write
// answered before is kept.
func TestShutdownAnswersWritesStillRunningWith503AndWritesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Parallel()
	db, dir := postgrestest.NewDatabase(t), t.TempDir()
	change := func(c *config.Config) {
		c.BootstrapOperatorEmail, c.BootstrapOperatorPassword = operatorEmail, operatorPassword
		c.PluginDir, c.AuditCheckpointInterval, c.ShutdownTimeout = dir, 0, 3*time.Second
	}
	cfg := testConfig(t, db)
	change(&cfg)
	var srv *api.Server
	a := fx.New(app.Options(cfg, testLogger()), fx.Populate(&srv))
	require.NoError(t, a.Start(context.Background()))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = a.Stop(context.Background())
		}
	})
	s := &pluginServer{server: &server{t: t, base: "http://" + srv.Addr(), db: db}, dir: dir, logs: &logRecorder{}}
	s.op = s.operatorToken()
	s.install("notesplugin", "notes")
	s.mustRegister("notes", "notes")
	admin := s.tenant("acme", "notes")
	s.call(http.MethodPost, "/api/v1/notes", admin, map[string]string{"text": "kept"}).want(t, http.StatusCreated, nil)

	slow := make(chan result, 1)
	go func() {
		slow <- s.call(http.MethodPost, "/api/v1/notes/slow", admin, map[string]string{"text": "lost"})
	}()
	require.Eventually(t, func() bool { return s.metric("atrium_http_requests_in_flight") >= 2 }, 5*time.Second, 10*time.Millisecond,
		"the slow write is in flight (and the scrape)")

	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	require.NoError(t, a.Stop(ctx))
	stopped = true
	assert.Less(t, time.Since(start), cfg.ShutdownTimeout)

	r := <-slow
	p := r.problem(t, http.StatusServiceUnavailable, "unavailable")
	assert.Contains(t, p.Detail, "nothing was written")
	assert.Equal(t, "1", r.header.Get("Retry-After"))

	// Another replica on the same database sees only the write answered
	// before (and deletes the tenant when the test ends).
	other := startCore(t, db, change)
	var notes struct{ Items []struct{ Text string } }
	_, tok := other.login("acme", "admin@acme.test", adminPassword)
	status, raw := other.do(http.MethodGet, "/api/v1/notes", tok, nil, &notes)
	require.Equal(t, http.StatusOK, status, string(raw))
	require.Len(t, notes.Items, 1, string(raw))
	assert.Equal(t, "kept", notes.Items[0].Text)
}
