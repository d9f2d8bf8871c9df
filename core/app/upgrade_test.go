package app_test

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/core/tenancy"
)

// testdata/upgrade/a0b5812.sql.gz is pg_dump's copy of a database that the
// release at commit a0b5812 made (before plugins had roles of their own):
// tenants acme, with the projects plugin enabled, a project, a task, a
// second user, a policy module and an audit trail, and globex. The tenant
// roles owned the schemas and the core's tables, and projects' tables were
// projects and tasks. Its operator is ops@example.com.
const (
	upgradeFixture      = "testdata/upgrade/a0b5812.sql.gz"
	upgradeInstallation = "16b8baa0"
	upgradeOperator     = "ops@example.com"
	upgradeOperatorPass = "change me now"
	upgradeAdminPass    = "a long password"
)

// loadRelease loads the fixture into a fresh database under a new
// installation ID (roles are the server's: two runs must not share them),
// owned by the test's database user, and returns the database's URL and
// the installation ID.
func loadRelease(t *testing.T) (string, string) {
	t.Helper()
	f, err := os.Open(upgradeFixture)
	require.NoError(t, err)
	defer f.Close()
	gz, err := gzip.NewReader(f)
	require.NoError(t, err)
	dump, err := io.ReadAll(gz)
	require.NoError(t, err)

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	inst := hex.EncodeToString(b)
	db := postgrestest.NewDatabase(t)
	me := postgrestest.Exec(t, db, "SELECT quote_ident(current_user)")
	sql := strings.ReplaceAll(string(dump), upgradeInstallation, inst)
	sql = strings.ReplaceAll(sql, `"postgres"`, me)
	for _, slug := range []string{"acme", "globex"} {
		role := `"` + tenancy.RoleName(inst, slug) + `"` // [a-z0-9_] only
		postgrestest.Script(t, db, "CREATE ROLE "+role+" NOLOGIN; GRANT "+role+" TO CURRENT_USER")
	}
	postgrestest.Script(t, db, sql)
	return db, inst
}

// An installation made by the release before this one upgrades in place:
// the platform role takes the schemas and the core's tables, the tenant
// role keeps only its grants, projects gets its roles, its tables move to
// them and into its namespace, and every tenant's data, sign-ins, policy and
// audit chain carry on.
func TestAnInstallationOfThePreviousReleaseUpgradesInPlace(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	db, inst := loadRelease(t)
	dir := t.TempDir()
	data, err := os.ReadFile(pluginBinary(t, "projects"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "projects"), data, 0o755))

	s := startCore(t, db, func(c *config.Config) { c.PluginDir = dir })
	var op api.TokenResponse
	status, raw := s.do(http.MethodPost, "/api/v1/operator/login", "", map[string]string{"email": upgradeOperator, "password": upgradeOperatorPass}, &op)
	require.Equal(t, http.StatusOK, status, string(raw))
	// The new binary differs from the catalog's: the operator registers
	// the upgrade, as for any new version of a plugin.
	var st api.PluginStatus
	status, raw = s.do(http.MethodPost, "/api/v1/plugins", op.AccessToken, map[string]any{"name": "projects", "file": "projects"}, &st)
	require.Equal(t, http.StatusOK, status, string(raw))
	require.Equal(t, "running", st.State)

	admin := func(sql string, args ...any) string { return postgrestest.Exec(t, db, sql, args...) }
	acmeRole := tenancy.RoleName(inst, "acme")
	owner, runtime := tenancy.PluginRoles(inst, "acme", "projects")
	assert.Equal(t, admin("SELECT current_user"), admin("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 't_acme'"))
	assert.Equal(t, "0", admin("SELECT count(*) FROM pg_class WHERE relnamespace = 't_acme'::regnamespace AND relowner = $1::regrole", acmeRole),
		"the tenant role owns nothing")
	assert.Equal(t, "projects,projects_tasks", admin(`SELECT string_agg(relname::text, ',' ORDER BY relname) FROM pg_class
		WHERE relnamespace = 't_acme'::regnamespace AND relkind = 'r' AND relowner = $1::regrole`, owner))
	assert.Equal(t, "false", admin("SELECT to_regclass('t_acme.tasks') IS NOT NULL"))
	assert.Equal(t, "false", admin("SELECT has_table_privilege($1, 't_acme.audit_log', 'INSERT')", acmeRole))
	assert.Equal(t, "false", admin("SELECT has_table_privilege($1, 't_acme.projects', 'SELECT')", acmeRole))
	assert.Equal(t, "true", admin("SELECT has_table_privilege($1, 't_acme.projects_tasks', 'INSERT')", runtime))
	assert.Equal(t, "false", admin("SELECT has_table_privilege($1, 't_acme.users', 'SELECT')", runtime))

	status, tok := s.login("acme", "admin@acme.test", upgradeAdminPass)
	require.Equal(t, http.StatusOK, status)
	var projects struct {
		Items []struct {
			ID, Name string
		} `json:"items"`
	}
	status, raw = s.do(http.MethodGet, "/api/v1/projects", tok, nil, &projects)
	require.Equal(t, http.StatusOK, status, string(raw))
	require.Len(t, projects.Items, 1)
	assert.Equal(t, "Launch", projects.Items[0].Name)
	var tasks struct {
		Items []struct{ Title string } `json:"items"`
	}
	path := "/api/v1/projects/" + projects.Items[0].ID + "/tasks"
	status, raw = s.do(http.MethodGet, path, tok, nil, &tasks)
	require.Equal(t, http.StatusOK, status, string(raw))
	require.Len(t, tasks.Items, 1)
	assert.Equal(t, "Write docs", tasks.Items[0].Title)
	status, raw = s.do(http.MethodPost, path, tok, map[string]any{"title": "After the upgrade"}, nil)
	require.Equal(t, http.StatusCreated, status, string(raw))

	status, raw = s.do(http.MethodGet, "/api/v1/policies", tok, nil, nil)
	assert.Equal(t, http.StatusOK, status, string(raw))
	assert.Contains(t, string(raw), `"extra"`, "the tenant's policy module is still there")
	var verify struct {
		OK      bool `json:"ok"`
		Checked int  `json:"records_checked"`
	}
	status, raw = s.do(http.MethodGet, "/api/v1/audit/verify", tok, nil, &verify)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.True(t, verify.OK, string(raw))
	assert.Greater(t, verify.Checked, 10, "the old records and the new ones, in one chain")

	status, _ = s.login("globex", "admin@globex.test", upgradeAdminPass)
	assert.Equal(t, http.StatusOK, status)
	assert.True(t, bytes.Contains([]byte(admin("SELECT array_agg(component || ':' || version ORDER BY component)::text FROM atrium.tenant_migrations")),
		[]byte("projects:2")), "projects reached its second migration")
}
