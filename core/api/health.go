package api

import (
	"context"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/atriumhq/atrium/core/health"
)

// Health is the body of /healthz.
type Health struct {
	Status string `json:"status"`
}

// Readiness is the body of /readyz: overall status and each dependency's.
// Degraded (still 200) means only optional dependencies are down.
type Readiness struct {
	Status string                     `json:"status" validate:"oneof=ready degraded unavailable"`
	Checks map[string]DependencyState `json:"checks"`
}

// DependencyState is one dependency's readiness. Errors are logged, not
// shown: /readyz is public.
type DependencyState struct {
	Status     string  `json:"status" validate:"oneof=up down"`
	DurationMS float64 `json:"duration_ms"`
}

const readinessTimeout = 2 * time.Second

// OperationalRoutes are the probes and documents every deployment scrapes.
func OperationalRoutes(r *Router, reg prometheus.Gatherer, checks []health.Check, log *slog.Logger) []Route {
	return []Route{
		{
			Method: http.MethodGet, Path: "/healthz", Summary: "Liveness: 200 while the process serves", Tags: []string{"operations"}, Quiet: true,
			Handler: Output(func(*gin.Context) (Health, error) { return Health{Status: "ok"}, nil }),
		},
		{
			Method: http.MethodGet, Path: "/readyz", Summary: "Readiness: 200 when every required dependency is up", Tags: []string{"operations"}, Quiet: true,
			Handler: readyHandler(checks, log),
		},
		{
			Method: http.MethodGet, Path: "/metrics", Summary: "Prometheus metrics", Tags: []string{"operations"}, Quiet: true,
			Handler: Raw(http.StatusOK, "text/plain", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})),
		},
		{
			Method: http.MethodGet, Path: "/openapi.json", Summary: "This OpenAPI document", Tags: []string{"operations"}, Quiet: true,
			Handler: Raw(http.StatusOK, "application/json", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				b, err := r.OpenAPI()
				if err != nil {
					log.Error("build openapi document", "error", err)
					http.Error(w, "openapi document unavailable", http.StatusInternalServerError)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(b)
			})),
		},
	}
}

// readyHandler runs the checks concurrently, each under a deadline, and is
// 503 while any required dependency is down.
func readyHandler(checks []health.Check, log *slog.Logger) Handler {
	return Handler{
		response: reflect.TypeFor[Readiness](),
		status:   http.StatusOK,
		serve: func(c *gin.Context) (*reply, error) {
			res := Readiness{Status: "ready", Checks: make(map[string]DependencyState, len(checks))}
			var (
				mu sync.Mutex
				wg sync.WaitGroup
			)
			for _, chk := range checks {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(c.Request.Context(), readinessTimeout)
					defer cancel()
					start := time.Now()
					err := chk.Probe(ctx)
					st := DependencyState{Status: "up", DurationMS: float64(time.Since(start).Microseconds()) / 1000}
					if err != nil {
						st.Status = "down"
						log.WarnContext(c.Request.Context(), "dependency not ready", "dependency", chk.Name, "error", err)
					}
					mu.Lock()
					defer mu.Unlock()
					res.Checks[chk.Name] = st
					switch {
					case err == nil:
					case !chk.Optional:
						res.Status = "unavailable"
					case res.Status == "ready":
						res.Status = "degraded"
					}
				})
			}
			wg.Wait()
			status := http.StatusOK
			if res.Status == "unavailable" {
				status = http.StatusServiceUnavailable
			}
			c.Header("Cache-Control", "no-store")
			return &reply{status: status, body: res}, nil
		},
	}
}
