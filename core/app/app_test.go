package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/app"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func testConfig(t *testing.T, dbURL string) config.Config {
	t.Helper()
	cfg, err := config.Parse(map[string]string{
		"ATRIUM_HTTP_ADDR":        "127.0.0.1:0",
		"DATABASE_URL":            dbURL,
		"ATRIUM_SHUTDOWN_TIMEOUT": "5s",
		// No balancer to wait for: stop at once.
		"ATRIUM_SHUTDOWN_READINESS_DELAY": "0s",
		"ATRIUM_BCRYPT_COST":              "10",
		"ATRIUM_BLOB_URL":                 "file://" + t.TempDir(),
	})
	require.NoError(t, err)
	if postgrestest.PgBouncerWanted() && postgrestest.OnTestServer(dbURL) {
		// The whole suite through PgBouncer (transaction pooling): the
		// core's pools through it, the listener and migrations direct.
		cfg.DatabaseURL = postgrestest.StartPgBouncer(t).URL(t, dbURL)
		cfg.DatabaseDirectURL = dbURL
	}
	return cfg
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // test
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// The whole graph starts against a real database, serves, and stops.
func TestAppStartsServesAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	var srv *api.Server
	a := fxtest.New(t, app.Options(testConfig(t, postgrestest.NewDatabase(t)), slog.New(slog.DiscardHandler)), fx.Populate(&srv))
	a.RequireStart()
	base := "http://" + srv.Addr()

	status, body := get(t, base+"/readyz")
	assert.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"database":{"status":"up"`)

	status, body = get(t, base+"/metrics")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "atrium_db_pool_max_connections 20")
	assert.Contains(t, body, "go_goroutines")

	status, body = get(t, base+"/openapi.json")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, `"/readyz"`)

	a.RequireStop()
}

// SIGTERM's path: Stop lets an in-flight request finish, then refuses new ones.
func TestStopDrainsInFlightRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	entered := make(chan struct{})
	slow := fx.Annotate(func() []api.Route {
		return []api.Route{{Method: http.MethodGet, Path: "/slow", Summary: "slow",
			Handler: api.Raw(http.StatusOK, "text/plain", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				close(entered)
				time.Sleep(300 * time.Millisecond)
				_, _ = io.WriteString(w, "finished")
			}))}}
	}, fx.ResultTags(`group:"routes"`))

	var srv *api.Server
	a := fxtest.New(t, app.Options(testConfig(t, postgrestest.NewDatabase(t)), slog.New(slog.DiscardHandler)),
		fx.Provide(slow), fx.Populate(&srv))
	a.RequireStart()
	base := "http://" + srv.Addr()

	type result struct {
		status int
		body   string
	}
	done := make(chan result)
	go func() {
		s, b := get(t, base+"/slow")
		done <- result{s, b}
	}()
	<-entered
	a.RequireStop()
	r := <-done
	assert.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, r.body, "finished")

	_, err := http.Get(base + "/healthz") //nolint:noctx,bodyclose // test: must fail
	require.Error(t, err, "no new requests after stop")
}

func TestStartFailsClearlyWhenTheDatabaseIsUnreachable(t *testing.T) {
	a := fx.New(app.Options(testConfig(t, "postgres://atrium:pw@127.0.0.1:1/atrium?connect_timeout=2"), slog.New(slog.DiscardHandler)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.Start(ctx)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "cannot reach PostgreSQL at 127.0.0.1:1/atrium"), err.Error())
	assert.NotContains(t, err.Error(), "\n")
}
