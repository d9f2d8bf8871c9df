package app_test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// BenchmarkFilteredList: GET /api/v1/projects?limit=20 on 10,000 projects,
// served by the real projects plugin binary, for a viewer: with no tenant
// policy (unfiltered), with a policy hiding archived projects (half of
// them) from viewers (filtered: the condition in the list's SQL), and with
// one that has no SQL form (fallback: the host decides each row). Target:
// filtered within 1.3x of unfiltered. The ratios are reported as
// filtered/unfiltered and fallback/unfiltered.
func BenchmarkFilteredList(b *testing.B) {
	if testing.Short() {
		b.Skip("needs PostgreSQL")
	}
	pluginDir := b.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "projects"), "github.com/atriumhq/atrium/plugins/projects")
	build.Stderr = os.Stderr
	require.NoError(b, build.Run())
	c := startLoadCore(b, pluginDir)
	var tokens struct {
		AccessToken string `json:"access_token"`
	}
	c.call(http.MethodPost, "/api/v1/operator/login", "", map[string]string{"email": operatorEmail, "password": operatorPassword}, http.StatusOK, &tokens)
	c.call(http.MethodPost, "/api/v1/plugins", tokens.AccessToken, map[string]any{"name": "projects", "file": "projects"}, http.StatusOK, nil)
	c.call(http.MethodPost, "/api/v1/tenants", tokens.AccessToken, map[string]any{
		"slug": "acme", "name": "Acme", "plugins": []string{"projects"},
		"admin": map[string]string{"email": "admin@acme.test", "password": adminPassword},
	}, http.StatusCreated, nil)
	c.call(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "email": "admin@acme.test", "password": adminPassword}, http.StatusOK, &tokens)
	admin := tokens.AccessToken
	c.call(http.MethodPost, "/api/v1/users", admin, map[string]any{"email": "viewer@acme.test", "password": userPassword, "roles": []string{"viewer"}}, http.StatusCreated, nil)
	c.call(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "email": "viewer@acme.test", "password": userPassword}, http.StatusOK, &tokens)
	viewer := tokens.AccessToken
	// Every other project archived, newest first alternating, so a page of
	// 20 visible ones spans 40 rows.
	postgrestest.Exec(b, c.db, `INSERT INTO t_acme.projects (id, name, description, status, owner_id, created_at, updated_at)
		SELECT gen_random_uuid(), 'p-' || i, '', CASE WHEN i % 2 = 0 THEN 'archived' ELSE 'active' END,
			gen_random_uuid(), now() - i * interval '1 second', now()
		FROM generate_series(1, 10000) AS i`)
	postgrestest.Exec(b, c.db, `ANALYZE t_acme.projects`)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: 10 * time.Second}
	list := func(b *testing.B) {
		req, _ := http.NewRequest(http.MethodGet, c.base+"/api/v1/projects?limit=20", nil)
		req.Header.Set("Authorization", "Bearer "+viewer)
		resp, err := client.Do(req)
		require.NoError(b, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(b, http.StatusOK, resp.StatusCode)
	}
	run := func(name string) float64 {
		var perOp float64
		b.Run(name, func(b *testing.B) {
			for range 200 { // warm: statement caches, the partial evaluation
				list(b)
			}
			b.ResetTimer()
			for b.Loop() {
				list(b)
			}
			perOp = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		})
		return perOp
	}
	unfiltered := run("unfiltered")
	c.call(http.MethodPut, "/api/v1/policies/lists", admin, map[string]string{"rego": hideArchived}, http.StatusOK, nil)
	filtered := run("filtered")
	c.call(http.MethodPut, "/api/v1/policies/lists", admin, map[string]string{"rego": `package tenant.lists

deny contains "viewers do not see archived projects" if {
	"viewer" in input.subject.roles
	endswith(input.resource.attributes.status, "archived")
}
`}, http.StatusOK, nil)
	fallback := run("fallback")
	if unfiltered > 0 {
		b.Logf("filtered/unfiltered %.2f, fallback/unfiltered %.2f", filtered/unfiltered, fallback/unfiltered)
	}
}
