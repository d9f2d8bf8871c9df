package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

const (
	registeredFromDir = "plugin registered from the plugin directory"
	notRegistered     = "a file in the plugin directory was not registered"
)

// dirCore is a core started on a plugin directory filled beforehand.
type dirCore struct {
	*pluginServer
	stop func()
}

// startDirCore starts a core on db with dir as its plugin directory, which
// it registers on start unless change says otherwise. Its cleanup deletes
// the tenants (they own server-wide roles) unless it was stopped before.
func startDirCore(t *testing.T, db, dir string, change func(*config.Config)) (*dirCore, error) {
	cfg := testConfig(t, db)
	cfg.BootstrapOperatorEmail, cfg.BootstrapOperatorPassword = operatorEmail, operatorPassword
	cfg.PluginDir, cfg.AuditCheckpointInterval = dir, 0
	if change != nil {
		change(&cfg)
	}
	logs := &logRecorder{}
	var srv *api.Server
	a := fx.New(app.Options(cfg, logs.logger()), fx.Populate(&srv))
	if err := a.Start(context.Background()); err != nil {
		return nil, err
	}
	var once sync.Once
	stop := func() { once.Do(func() { _ = a.Stop(context.Background()) }) }
	c := &dirCore{pluginServer: &pluginServer{server: &server{t: t, base: "http://" + srv.Addr(), db: db}, dir: dir, logs: logs}, stop: stop}
	t.Cleanup(func() {
		once.Do(func() {
			var list api.TenantList
			c.do(http.MethodGet, "/api/v1/tenants", c.operatorToken(), nil, &list)
			for _, tn := range list.Items {
				c.do(http.MethodDelete, "/api/v1/tenants/"+tn.Slug, c.operatorToken(), nil, nil)
			}
			_ = a.Stop(context.Background())
		})
	})
	return c, nil
}

func mustStartDirCore(t *testing.T, db, dir string, change func(*config.Config)) *dirCore {
	t.Helper()
	c, err := startDirCore(t, db, dir, change)
	require.NoError(t, err)
	c.op = c.operatorToken()
	return c
}

// pluginDir is a plugin directory holding the projects plugin.
func pluginDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	dir := t.TempDir()
	data, err := os.ReadFile(pluginBinary(t, "projects"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "projects"), data, 0o755))
	return dir
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func pluginNames(t *testing.T, c *dirCore) []string {
	t.Helper()
	var list api.PluginList
	status, raw := c.do(http.MethodGet, "/api/v1/plugins", c.op, nil, &list)
	require.Equal(t, http.StatusOK, status, string(raw))
	names := []string{}
	for _, p := range list.Items {
		names = append(names, p.Name)
	}
	return names
}

// The plugin directory's new plugins are registered on start and serve;
// what is no executable, a dotfile or a directory is passed over without a
// word, and an executable that is no plugin gets one warning and is
// skipped. The next start finds the plugin registered and leaves it; a
// changed binary of it is refused, not registered.
func TestThePluginDirectoryIsRegisteredOnStart(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	notes, err := os.ReadFile(pluginBinary(t, "notesplugin"))
	require.NoError(t, err)
	// Plugins all, but not executables, or hidden: none is registered.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes"), notes, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".notes"), notes, 0o755))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "testplugin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "broken"), []byte("#!/bin/sh\necho not a plugin\nexit 1\n"), 0o755))
	db := postgrestest.NewDatabase(t)

	a := mustStartDirCore(t, db, dir, nil)
	sum := fileSum(t, filepath.Join(dir, "projects"))
	assert.Equal(t, 1, a.logs.count(registeredFromDir, `"plugin":"projects"`, `"file":"projects"`, `"version":"`, `"sha256":"`+sum+`"`),
		"one line says what was registered")
	assert.Equal(t, 1, a.logs.count(registeredFromDir))
	assert.Equal(t, 1, a.logs.count(`"level":"WARN"`, notRegistered, `"file":"broken"`, `"error":"the plugin did not start`))
	assert.Equal(t, 1, a.logs.count(notRegistered), "nothing else is warned about")
	assert.Equal(t, []string{"projects"}, pluginNames(t, a))
	assert.Equal(t, "running", a.plugin("projects").State)
	admin := a.tenant("acme", "projects")
	a.call(http.MethodPost, "/api/v1/projects", admin, map[string]any{"name": "Apollo"}).want(t, http.StatusCreated, nil)
	a.healthy(admin)
	catalog := postgrestest.Exec(t, db, "SELECT string_agg(name || ' ' || encode(sha256, 'hex') || ' ' || registered_at, ',') FROM atrium.plugins")
	assert.True(t, strings.HasPrefix(catalog, "projects "+sum+" "), catalog)
	a.stop()

	// Registered already: the next start launches it from the catalog.
	b := mustStartDirCore(t, db, dir, nil)
	assert.Zero(t, b.logs.count(registeredFromDir))
	assert.Equal(t, 1, b.logs.count(notRegistered, `"file":"broken"`), "still no plugin, still said")
	assert.Equal(t, catalog, postgrestest.Exec(t, db, "SELECT string_agg(name || ' ' || encode(sha256, 'hex') || ' ' || registered_at, ',') FROM atrium.plugins"),
		"the entry is the first start's")
	admin = b.signIn("acme", "admin@acme.test", adminPassword).AccessToken
	b.call(http.MethodGet, "/api/v1/projects", admin, nil).want(t, http.StatusOK, nil)
	b.stop()

	// The same program with a byte more is not the binary registered: it
	// is refused at launch, and not registered in its place.
	data, err := os.ReadFile(filepath.Join(dir, "projects"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "projects"), append(data, 0), 0o755))
	c := mustStartDirCore(t, db, dir, nil)
	assert.Zero(t, c.logs.count(registeredFromDir))
	p := c.waitFor("projects", 10*time.Second, "refused", func(p api.PluginStatus) bool {
		return p.State != "running" && strings.Contains(p.LastError, "checksum")
	})
	assert.Zero(t, p.PID)
	assert.Equal(t, catalog, postgrestest.Exec(t, db, "SELECT string_agg(name || ' ' || encode(sha256, 'hex') || ' ' || registered_at, ',') FROM atrium.plugins"),
		"the catalog still names the first binary")
	admin = c.signIn("acme", "admin@acme.test", adminPassword).AccessToken
	c.call(http.MethodGet, "/api/v1/projects", admin, nil).problem(t, http.StatusServiceUnavailable, "plugin_unavailable")
	c.healthy(admin)
}

// ATRIUM_PLUGIN_AUTOREGISTER=false leaves the plugin directory to the
// operator.
func TestAutoregisterOffRegistersNothing(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	c := mustStartDirCore(t, postgrestest.NewDatabase(t), dir, func(c *config.Config) { c.PluginAutoRegister = false })
	assert.Empty(t, pluginNames(t, c))
	assert.Zero(t, c.logs.count(registeredFromDir))
	assert.Empty(t, processesIn(t, dir), "nothing was launched from the plugin directory")
}

// Two replicas starting at once on one database both come up, with the
// plugin registered once and running on each.
func TestReplicasStartingTogetherRegisterAPluginOnce(t *testing.T) {
	t.Parallel()
	dir := pluginDir(t)
	db := postgrestest.NewDatabase(t)
	cores := make([]*dirCore, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range cores {
		wg.Go(func() { cores[i], errs[i] = startDirCore(t, db, dir, nil) })
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, "1", postgrestest.Exec(t, db, "SELECT count(*) FROM atrium.plugins WHERE name = 'projects'"))
	assert.Equal(t, "1", postgrestest.Exec(t, db, "SELECT count(*) FROM atrium.plugins"))
	assert.Equal(t, 1, cores[0].logs.count(registeredFromDir)+cores[1].logs.count(registeredFromDir), "one of them registered it")
	for _, c := range cores {
		c.op = c.operatorToken()
		c.waitFor("projects", 10*time.Second, "running", func(p api.PluginStatus) bool { return p.State == "running" })
		assert.Zero(t, c.logs.count(notRegistered))
	}
	admin := cores[0].tenant("acme", "projects")
	for _, c := range cores {
		c.call(http.MethodPost, "/api/v1/projects", admin, map[string]any{"name": "Apollo"}).want(t, http.StatusCreated, nil)
	}
}
