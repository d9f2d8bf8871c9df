package app_test

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// BenchmarkNoisyNeighbour: three quiet tenants each send a steady 25
// requests/s to a plugin route (GET /api/v1/projects/{id}, the real
// projects plugin) and 25/s to a core route (GET /api/v1/users, a unit of
// work), open loop, while a fourth tenant, acme, is
//   - quiet: silent;
//   - loud: sending ten times a quiet tenant's rate to the same routes;
//   - slow: sending a quiet tenant's rate to the plugin route while its
//     projects table is locked, so each of its plugin queries waits, holding
//     a plugin connection, until the plugin call's deadline.
//
// It reports the quiet tenants' p50 and p99 per route and phase, and their
// errors (the target: each p99 within 2x of the quiet phase's, no errors).
// ATRIUM_BENCH_LOAD_SECONDS sets each phase's length (default 10),
// ATRIUM_BENCH_NOISY_RATE the quiet tenants' rate per route (default 25),
// ATRIUM_TENANT_MAX_REQUESTS the bound compared (0 for none).
func BenchmarkNoisyNeighbour(b *testing.B) {
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
	if os.Getenv("ATRIUM_PLUGIN_TIMEOUT") == "" {
		// The slow tenant's calls end at the deadline; a short one keeps the
		// phase short (the quiet tenants' calls take milliseconds).
		b.Setenv("ATRIUM_PLUGIN_TIMEOUT", "2s")
	}

	base := startLoadCore(b, pluginDir)
	var tokens struct {
		AccessToken string `json:"access_token"`
	}
	base.call(http.MethodPost, "/api/v1/operator/login", "", map[string]string{"email": operatorEmail, "password": operatorPassword}, http.StatusOK, &tokens)
	op := tokens.AccessToken
	base.call(http.MethodPost, "/api/v1/plugins", op, map[string]any{"name": "projects", "file": "projects"}, http.StatusOK, nil)

	// Each tenant is a client of its own: one's connections do not limit
	// another's.
	type tenant struct {
		slug, token, project string
		client               *http.Client
	}
	newTenant := func(slug string) tenant {
		base.call(http.MethodPost, "/api/v1/tenants", op, map[string]any{
			"slug": slug, "name": slug, "plugins": []string{"projects"},
			"admin": map[string]string{"email": "admin@" + slug + ".test", "password": adminPassword},
		}, http.StatusCreated, nil)
		base.call(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"tenant": slug, "email": "admin@" + slug + ".test", "password": adminPassword},
			http.StatusOK, &tokens)
		var project struct {
			ID string `json:"id"`
		}
		base.call(http.MethodPost, "/api/v1/projects", tokens.AccessToken, map[string]any{"name": "Apollo"}, http.StatusCreated, &project)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}, Timeout: 30 * time.Second}
		return tenant{slug, tokens.AccessToken, project.ID, client}
	}
	acme := newTenant("acme") // startLoadCore deletes it
	var quiet []tenant
	for i := range 3 {
		quiet = append(quiet, newTenant(fmt.Sprintf("quiet%d", i)))
	}
	b.Cleanup(func() {
		for _, tn := range quiet {
			base.call(http.MethodDelete, "/api/v1/tenants/"+tn.slug, op, nil, http.StatusNoContent, nil)
		}
	})

	var failures sync.Map // the kinds of failure seen, for the log
	get := func(tn tenant, path string) error {
		req, _ := http.NewRequest(http.MethodGet, base.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tn.token)
		resp, err := tn.client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err := fmt.Errorf("%s: status %d %s", tn.slug, resp.StatusCode, resp.Header.Get("Content-Type"))
			failures.Store(err.Error(), true)
			return err
		}
		return nil
	}
	b.Cleanup(func() {
		failures.Range(func(k, _ any) bool { b.Log("failure seen: ", k); return true })
	})
	routes := map[string]func(tenant) string{
		"plugin": func(tn tenant) string { return "/api/v1/projects/" + tn.project },
		"core":   func(tenant) string { return "/api/v1/users" },
	}
	for _, tn := range append([]tenant{acme}, quiet...) {
		for _, path := range routes {
			for range 50 {
				require.NoError(b, get(tn, path(tn)))
			}
		}
	}

	rate := 25 // per quiet tenant and route
	if r, err := strconv.Atoi(os.Getenv("ATRIUM_BENCH_NOISY_RATE")); err == nil && r > 0 {
		rate = r
	}
	d := time.Duration(seconds) * time.Second
	// phase runs the quiet tenants' load, and acme's (its routes at
	// acmeRate; none when 0), for d, and reports the quiet tenants'
	// figures under name.
	phase := func(name string, acmeRoutes []string, acmeRate int) {
		var mu sync.Mutex
		lat := map[string][]float64{}
		errs := map[string]int{}
		var wg sync.WaitGroup
		for _, tn := range quiet {
			for route, path := range routes {
				wg.Go(func() {
					l, e := openLoop(rate, d, func() error { return get(tn, path(tn)) })
					mu.Lock()
					defer mu.Unlock()
					lat[route] = append(lat[route], l...)
					errs[route] += e
				})
			}
		}
		var acmeErrs int
		for _, route := range acmeRoutes {
			wg.Go(func() {
				_, e := openLoop(acmeRate, d, func() error { return get(acme, routes[route](acme)) })
				mu.Lock()
				defer mu.Unlock()
				acmeErrs += e
			})
		}
		wg.Wait()
		for route := range routes {
			b.ReportMetric(percentile(lat[route], 0.50), name+"-"+route+"-p50-ms")
			b.ReportMetric(percentile(lat[route], 0.99), name+"-"+route+"-p99-ms")
			b.ReportMetric(float64(errs[route]), name+"-"+route+"-errors")
		}
		if len(acmeRoutes) > 0 {
			b.ReportMetric(float64(acmeErrs), name+"-acme-errors")
		}
	}

	b.ResetTimer()
	phase("quiet", nil, 0)
	phase("loud", []string{"plugin", "core"}, 10*rate)
	unlock := postgrestest.Lock(b, base.db, "LOCK TABLE t_acme.projects IN ACCESS EXCLUSIVE MODE")
	phase("slow", []string{"plugin"}, rate)
	unlock()
	b.ReportMetric(0, "ns/op")
}
