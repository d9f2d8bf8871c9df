package api_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/health"
)

// Stop first makes readiness fail and keeps serving for the readiness
// delay, on new connections too; only then does the listener close.
func TestShutdownFailsReadinessBeforeClosingTheListener(t *testing.T) {
	reg := prometheus.NewRegistry()
	log := slog.New(slog.DiscardHandler)
	lame := new(api.Lameduck)
	r := api.NewRouter(api.RouterOptions{Logger: log, Registerer: reg, Tracer: noop.NewTracerProvider(), MaxBodyBytes: 1024})
	r.Handle(api.OperationalRoutes(r, reg, []health.Check{lame.Check()}, log)...)
	const delay = 600 * time.Millisecond
	srv := api.NewServer("127.0.0.1:0", r, log).WithReadinessDelay(lame, delay)
	require.NoError(t, srv.Start(context.Background()))
	base := "http://" + srv.Addr()
	fresh := func() *http.Client { return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}} }

	get := func(path string) (int, error) {
		resp, err := fresh().Get(base + path) //nolint:noctx // test
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if path == "/readyz" {
			var res api.Readiness
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&res))
			want := "up"
			if resp.StatusCode != http.StatusOK {
				want = "down"
			}
			assert.Equal(t, want, res.Checks["shutdown"].Status)
		}
		return resp.StatusCode, nil
	}
	status, err := get("/readyz")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, status)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Stop(ctx) }()

	require.Eventually(t, func() bool {
		status, err := get("/readyz")
		return err == nil && status == http.StatusServiceUnavailable
	}, delay/2, 10*time.Millisecond, "readiness fails at once")
	status, err = get("/healthz")
	require.NoError(t, err, "still accepting connections during the delay")
	assert.Equal(t, http.StatusOK, status)

	require.NoError(t, <-stopped)
	assert.GreaterOrEqual(t, time.Since(start), delay)
	_, err = get("/healthz")
	assert.Error(t, err, "the listener is closed after the delay")
}
