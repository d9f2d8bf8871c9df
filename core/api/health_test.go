package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/health"
)

func TestReadinessNamesEachDependency(t *testing.T) {
	down := errors.New("connection refused")
	for _, tt := range []struct {
		name     string
		cache    error
		optional bool
		status   int
		body     string
	}{
		{"all up", nil, false, http.StatusOK, "ready"},
		{"one down", down, false, http.StatusServiceUnavailable, "unavailable"},
		// The core works without an optional dependency: still in the
		// load balancer, and the body says what is missing.
		{"optional down", down, true, http.StatusOK, "degraded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			log := slog.New(slog.DiscardHandler)
			r := api.NewRouter(api.RouterOptions{Logger: log, Registerer: reg, Tracer: noop.NewTracerProvider(), MaxBodyBytes: 1024})
			r.Handle(api.OperationalRoutes(r, reg, []health.Check{
				{Name: "database", Probe: func(context.Context) error { return nil }},
				{Name: "cache", Probe: func(context.Context) error { return tt.cache }, Optional: tt.optional},
			}, log)...)
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			require.Equal(t, tt.status, rec.Code)
			var res api.Readiness
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res))
			assert.Equal(t, tt.body, res.Status)
			assert.Equal(t, "up", res.Checks["database"].Status)
			want := "up"
			if tt.cache != nil {
				want = "down"
			}
			assert.Equal(t, want, res.Checks["cache"].Status)
			assert.NotContains(t, rec.Body.String(), "refused", "readiness is public: errors stay in the log")
		})
	}
}

func TestMetricsByRouteTemplate(t *testing.T) {
	h := newHarness(t)
	for _, id := range []string{"a", "b", "c"} {
		h.do(t, http.MethodGet, "/things/"+id, "")
	}
	h.do(t, http.MethodGet, "/things/missing", "")
	h.do(t, http.MethodGet, "/random/probe/1", "")
	h.do(t, http.MethodGet, "/random/probe/2", "")

	rec := h.do(t, http.MethodGet, "/metrics", "")
	require.Equal(t, http.StatusOK, rec.Code)
	text := rec.Body.String()
	assert.Contains(t, text, `atrium_http_requests_total{method="GET",route="/things/:id",status="200"} 3`)
	assert.Contains(t, text, `atrium_http_requests_total{method="GET",route="/things/:id",status="404"} 1`)
	assert.Contains(t, text, `atrium_http_requests_total{method="GET",route="unmatched",status="404"} 2`)
	assert.Contains(t, text, `atrium_http_request_duration_seconds_bucket{method="GET",route="/things/:id",status="200",le="0.005"}`)
	assert.Contains(t, text, `atrium_http_problems_total{code="not_found"} 3`)
	assert.NotContains(t, text, "/random/probe", "raw paths never become labels")
	assert.False(t, strings.Contains(text, `route=""`))
}
