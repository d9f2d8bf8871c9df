package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/app"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/gcpolicy"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// BenchmarkPluginGetUnderLoad: an authorised GET /api/v1/projects/{id}
// served by the real projects plugin binary (JWT, tenant scope, the route's
// decision, the plugin hop, one SQL query and a resource decision through
// the host) against the same work compiled into the core, side by side in
// one run: latency at a fixed 1,000 requests/s (open loop), latency one
// request at a time, then the throughput of 16 closed-loop clients. Target: p99 under 5 ms at 1,000/s.
// ATRIUM_BENCH_LOAD_SECONDS sets each phase's length (default 10).
func BenchmarkPluginGetUnderLoad(b *testing.B) {
	if testing.Short() {
		b.Skip("needs PostgreSQL")
	}
	seconds := 10
	if s, err := strconv.Atoi(os.Getenv("ATRIUM_BENCH_LOAD_SECONDS")); err == nil && s > 0 {
		seconds = s
	}
	pluginDir := b.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "projects"), "github.com/atriumhq/atrium/plugins/projects")
	build.Stderr = os.Stderr
	require.NoError(b, build.Run())

	base := startLoadCore(b, pluginDir)
	var tokens struct {
		AccessToken string `json:"access_token"`
	}
	base.call(http.MethodPost, "/api/v1/operator/login", "", map[string]string{"email": operatorEmail, "password": operatorPassword}, http.StatusOK, &tokens)
	op := tokens.AccessToken
	base.call(http.MethodPost, "/api/v1/plugins", op, map[string]any{"name": "projects", "file": "projects"}, http.StatusOK, nil)
	base.call(http.MethodPost, "/api/v1/tenants", op, map[string]any{
		"slug": "acme", "name": "Acme", "plugins": []string{"projects"},
		"admin": map[string]string{"email": "admin@acme.test", "password": adminPassword},
	}, http.StatusCreated, nil)
	base.call(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "email": "admin@acme.test", "password": adminPassword},
		http.StatusOK, &tokens)
	tok := tokens.AccessToken
	var project struct {
		ID string `json:"id"`
	}
	base.call(http.MethodPost, "/api/v1/projects", tok, map[string]any{"name": "Apollo", "description": "to the moon"}, http.StatusCreated, &project)

	targets := []struct{ name, path string }{
		{"plugin", "/api/v1/projects/" + project.ID},
		{"in-process", "/api/v1/baseline/projects/" + project.ID},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}, Timeout: 10 * time.Second}
	get := func(path string) error {
		req, _ := http.NewRequest(http.MethodGet, base.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	// Warm both paths (statement caches, policy, connections) at the
	// loads' concurrency: a pool grows only under it, and connections made
	// during the first phase would weigh on its tail as a cold start.
	for _, tg := range targets {
		for range 200 {
			require.NoError(b, get(tg.path))
		}
		closedLoop(16, 2*time.Second, func() error { return get(tg.path) })
	}
	b.ResetTimer()
	rps := map[string]float64{}
	for _, tg := range targets {
		lat, errs := openLoop(1000, time.Duration(seconds)*time.Second, func() error { return get(tg.path) })
		b.ReportMetric(percentile(lat, 0.50), tg.name+"-p50-ms")
		b.ReportMetric(percentile(lat, 0.90), tg.name+"-p90-ms")
		b.ReportMetric(percentile(lat, 0.99), tg.name+"-p99-ms")
		b.ReportMetric(percentile(lat, 0.999), tg.name+"-p99.9-ms")
		b.ReportMetric(float64(errs), tg.name+"-errors")
		serial := serialLoop(time.Duration(seconds)*time.Second/4, func() error { return get(tg.path) })
		b.ReportMetric(percentile(serial, 0.50), tg.name+"-serial-p50-ms")
		rps[tg.name] = closedLoop(16, time.Duration(seconds)*time.Second/2, func() error { return get(tg.path) })
		b.ReportMetric(rps[tg.name], tg.name+"-max-req/s")
	}
	b.ReportMetric(rps["plugin"]/rps["in-process"], "plugin/in-process-throughput")
	b.ReportMetric(0, "ns/op")
}

// openLoop sends rate requests per second for d, each at its scheduled
// time whether or not earlier ones have answered, and returns latencies in
// milliseconds measured from the schedule (so a stall is not hidden).
func openLoop(rate int, d time.Duration, f func() error) ([]float64, int) {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	lat := make([]float64, n)
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Go(func() {
			if err := f(); err != nil {
				errs.Add(1)
			}
			lat[i] = float64(time.Since(at).Microseconds()) / 1000
		})
	}
	wg.Wait()
	return lat, int(errs.Load())
}

// serialLoop sends one request after another for d and returns their
// latencies in milliseconds: the cost of a request with nothing queued.
func serialLoop(d time.Duration, f func() error) []float64 {
	var lat []float64
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		start := time.Now()
		if f() == nil {
			lat = append(lat, float64(time.Since(start).Microseconds())/1000)
		}
	}
	return lat
}

// closedLoop runs workers back-to-back callers for d and returns requests
// per second.
func closedLoop(workers int, d time.Duration, f func() error) float64 {
	var done atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if f() == nil {
					done.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds()
}

func percentile(ms []float64, q float64) float64 {
	s := slices.Clone(ms)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[int(float64(len(s)-1)*q)]
}

// loadCore is a core for load benchmarks, reached over HTTP.
type loadCore struct {
	b    *testing.B
	base string
	db   string
}

func (c *loadCore) call(method, path, token string, body any, want int, out any) {
	c.b.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(c.b, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	require.NoError(c.b, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(c.b, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.b, err)
	require.Equal(c.b, want, resp.StatusCode, "%s %s: %s", method, path, raw)
	if out != nil {
		require.NoError(c.b, json.Unmarshal(raw, out))
	}
}

// startLoadCore starts a core whose plugin directory is dir, plus the
// in-process twin of the plugin's GET /api/v1/projects/{id}: the same SQL
// through the same host SQL service and the same resource decision.
func startLoadCore(b *testing.B, dir string) *loadCore {
	b.Helper()
	db := postgrestest.NewDatabase(b)
	env := map[string]string{
		"ATRIUM_HTTP_ADDR": "127.0.0.1:0", "DATABASE_URL": db, "ATRIUM_SHUTDOWN_TIMEOUT": "5s", "ATRIUM_SHUTDOWN_READINESS_DELAY": "0s",
		"ATRIUM_BCRYPT_COST": "10", "ATRIUM_BLOB_URL": "file://" + b.TempDir(), "ATRIUM_PLUGIN_DIR": dir,
		"ATRIUM_BOOTSTRAP_OPERATOR_EMAIL": operatorEmail, "ATRIUM_BOOTSTRAP_OPERATOR_PASSWORD": operatorPassword,
		"ATRIUM_AUDIT_CHECKPOINT_INTERVAL": "0",
	}
	// The plugin's limits may be varied from outside, to see what they cost.
	for _, k := range []string{"ATRIUM_PLUGIN_LIMITS", "ATRIUM_PLUGIN_CPU", "ATRIUM_PLUGIN_UID_BASE", "ATRIUM_PLUGIN_TIMEOUT", "ATRIUM_TENANT_MAX_REQUESTS"} {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	cfg, err := config.Parse(env)
	require.NoError(b, err)
	useAtriumdsCollector(b)
	var srv *api.Server
	a := fxtest.New(b, app.Options(cfg, testLogger()),
		fx.Provide(fx.Annotate(baselineRoutes, fx.ResultTags(`group:"routes"`))),
		fx.Populate(&srv))
	a.RequireStart()
	c := &loadCore{b: b, base: "http://" + srv.Addr(), db: db}
	b.Cleanup(func() {
		var tokens struct {
			AccessToken string `json:"access_token"`
		}
		c.call(http.MethodPost, "/api/v1/operator/login", "", map[string]string{"email": operatorEmail, "password": operatorPassword}, http.StatusOK, &tokens)
		c.call(http.MethodDelete, "/api/v1/tenants/acme", tokens.AccessToken, nil, http.StatusNoContent, nil)
		a.RequireStop()
	})
	return c
}

// useAtriumdsCollector paces the collector as atriumd does (GOGC in the
// environment still wins) for the benchmark's duration: the load generator
// shares the process, so it is paced the same way.
func useAtriumdsCollector(b *testing.B) {
	gogc := debug.SetGCPercent(-1)
	debug.SetGCPercent(gogc)
	limit := debug.SetMemoryLimit(-1)
	p, err := gcpolicy.Apply()
	require.NoError(b, err)
	b.Logf("collector: GOGC %d (%s), memory limit %d (%s)", p.GOGC, p.GOGCFrom, p.MemoryLimit, p.MemoryLimitFrom)
	b.Cleanup(func() {
		debug.SetGCPercent(gogc)
		debug.SetMemoryLimit(limit)
	})
}

func baselineRoutes(r *api.Router, conns *postgres.PluginConns) []api.Route {
	return []api.Route{{
		Method: http.MethodGet, Path: "/api/v1/baseline/projects/:id", Summary: "Benchmark baseline", Access: api.Tenant,
		Permission: "projects.project.read",
		Handler: api.Output(func(c *gin.Context) (map[string]any, error) {
			ctx := c.Request.Context()
			rs, err := postgres.PluginSQL{Conns: conns}.Query(ctx, "projects", `SELECT id, name, description, status, owner_id,
				created_at, updated_at FROM projects WHERE id = $1`, []any{c.Param("id")})
			if err != nil {
				return nil, err
			}
			if len(rs.Rows) == 0 {
				return nil, kernel.NotFound("project")
			}
			row := rs.Rows[0]
			p := map[string]any{}
			for i, col := range rs.Columns {
				p[col] = row[i]
			}
			owner := fmt.Sprint(p["owner_id"])
			err = r.AuthorizeResource(c, "projects.project.read", access.Resource{Type: "project", ID: c.Param("id"), OwnerID: owner,
				Attributes: map[string]any{"status": p["status"], "owner_id": owner, "name": p["name"]}})
			return p, err
		}),
	}}
}
