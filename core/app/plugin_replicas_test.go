package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/app"
)

// A plugin registered on one replica starts on the others, and stops on
// them when it is unregistered: they follow the catalog.
func TestPluginCatalogChangesReachOtherReplicas(t *testing.T) {
	a := startPluginCore(t, nil)
	// Replica b: the same database and plugin directory.
	cfg := testConfig(t, a.db)
	cfg.PluginDir, cfg.AuditCheckpointInterval = a.dir, 0
	var srv *api.Server
	b := fxtest.New(t, app.Options(cfg, testLogger()), fx.Populate(&srv))
	b.RequireStart()
	t.Cleanup(b.RequireStop)
	bOp := &server{t: t, base: "http://" + srv.Addr(), db: a.db}

	statusOn := func(s *server) (api.PluginStatus, bool) {
		var list api.PluginList
		status, _ := s.do(http.MethodGet, "/api/v1/plugins", s.operatorToken(), nil, &list)
		require.Equal(t, http.StatusOK, status)
		for _, p := range list.Items {
			if p.Name == "notes" {
				return p, true
			}
		}
		return api.PluginStatus{}, false
	}
	// The permission registry, as a tenant admin reads it on a replica.
	a.createTenant(a.op, "permco")
	_, admin := a.login("permco", "admin@permco.test", "tenant admin password")
	declared := func(s *server) bool {
		var perms api.PermissionList
		status, raw := s.do(http.MethodGet, "/api/v1/permissions", admin, nil, &perms)
		require.Equal(t, http.StatusOK, status, string(raw))
		for _, p := range perms.Items {
			if p.Name == "notes.note.read" {
				return true
			}
		}
		return false
	}

	a.install("notesplugin", "notes")
	a.mustRegister("notes", "notes")
	assert.Eventually(t, func() bool {
		p, ok := statusOn(bOp)
		return ok && p.State == "running" && p.PID > 0
	}, 15*time.Second, 50*time.Millisecond, "b launched the plugin registered on a")
	assert.True(t, declared(a.server), "a declares the plugin's permissions")
	assert.True(t, declared(bOp), "b declares the plugin's permissions")

	status, _ := a.do(http.MethodDelete, "/api/v1/plugins/notes", a.op, nil, nil)
	require.Equal(t, http.StatusNoContent, status)
	assert.Eventually(t, func() bool {
		_, ok := statusOn(bOp)
		return !ok
	}, 15*time.Second, 50*time.Millisecond, "b stopped the plugin unregistered on a")
	assert.False(t, declared(a.server), "a withdrew the plugin's permissions")
	assert.Eventually(t, func() bool { return !declared(bOp) }, 5*time.Second, 50*time.Millisecond,
		"b withdrew the plugin's permissions")
}
