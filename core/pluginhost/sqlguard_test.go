package pluginhost_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/query"
)

func TestCheckSQLAllows(t *testing.T) {
	for _, sql := range append(allowedSQL, queryBuilt(t)...) {
		assert.NoError(t, pluginhost.CheckSQL(plugin, sql), sql)
	}
}

func TestCheckSQLRefuses(t *testing.T) {
	for _, c := range refusedSQL {
		err := pluginhost.CheckSQL(plugin, c.sql)
		if !assert.Error(t, err, c.sql) {
			continue
		}
		assert.True(t, errors.Is(err, sdk.ErrInternal), "a plugin's bug, not the client's: %q: %v", c.sql, err)
		assert.Contains(t, err.Error(), "SQL refused: ", c.sql)
		assert.Contains(t, err.Error(), c.why, c.sql)
	}
}

// TestCheckSQLOtherPlugins: the same statement is allowed or refused by
// whose it is, and verdicts cached for one plugin do not leak to another.
func TestCheckSQLOtherPlugins(t *testing.T) {
	sql := "SELECT id FROM notes WHERE id = $1"
	require.Error(t, pluginhost.CheckSQL("projects", sql))
	require.NoError(t, pluginhost.CheckSQL("notes", sql))
	require.Error(t, pluginhost.CheckSQL("projects", sql), "from the cache, still refused")
	require.NoError(t, pluginhost.CheckSQL("testplugin", "SELECT count(*) FROM testplugin_items"))
	require.NoError(t, pluginhost.CheckSQL("testplugin", "UPDATE testplugin_items SET touched = true"))
	require.NoError(t, pluginhost.CheckSQL("testplugin", "INSERT INTO testplugin_items (name) VALUES ($1)"))
	require.NoError(t, pluginhost.CheckSQL("testplugin", "SELECT id, name, price, active, created, note, meta FROM testplugin_items WHERE id = $1"))
	require.NoError(t, pluginhost.CheckSQL("notes", "INSERT INTO notes (text) VALUES ($1) RETURNING id"))
	require.Error(t, pluginhost.CheckSQL("", "SELECT * FROM _x"), "no plugin owns anything")
	require.Error(t, pluginhost.CheckSQL("pg", "SELECT * FROM pg_class"), "pg_ names are the catalog's")
}

func TestOwns(t *testing.T) {
	for _, name := range []string{"projects", "projects_tasks", "projects_", "projects_x_y"} {
		assert.True(t, pluginhost.Owns("projects", name), name)
	}
	for _, name := range []string{"project", "projectsx", "projectsx_y", "Projects", "PROJECTS_tasks", "tasks", "users", "x_projects", ""} {
		assert.False(t, pluginhost.Owns("projects", name), name)
	}
	for _, p := range []string{"", "p", "pg", "Projects", "pro_jects", "1projects", strings.Repeat("a", 32)} {
		assert.False(t, pluginhost.Owns(p, p+"_x"), "plugin %q", p)
	}
}

// queryBuilt is what sdk/query builds for the projects plugin's lists
// (the fields of plugins/projects/internal/store), first pages and next
// pages, every sort.
func queryBuilt(t testing.TB) []string {
	t.Helper()
	tasks := query.NewFields("tasks", "id", map[string]query.Field{
		"id":          {Column: "id", Type: query.UUID},
		"project_id":  {Column: "project_id", Type: query.UUID},
		"title":       {Column: "title", Type: query.String, Sort: true},
		"status":      {Column: "status", Type: query.Enum, Values: []string{"todo", "doing", "done"}, Filter: true},
		"assignee_id": {Column: "assignee_id", Type: query.UUID, Filter: true, Nullable: true},
		"due_date":    {Column: "due_date", Type: query.Date, Sort: true, Nullable: true},
		"created_at":  {Column: "created_at", Type: query.Time, Sort: true},
	})
	last := map[string]any{"id": "7d2c5a6e-3f53-4a0f-9a57-8f1c1f2b9a10", "title": "x", "due_date": nil, "created_at": time.Now()}
	var out []string
	for _, params := range []string{"", "sort=title&status=todo&status=done", "sort=-due_date&assignee_id=7d2c5a6e-3f53-4a0f-9a57-8f1c1f2b9a10", "sort=due_date", "sort=-created_at&limit=10"} {
		vals, err := url.ParseQuery(params)
		require.NoError(t, err)
		spec, err := query.Parse(vals, tasks, query.Options{Sort: []query.SortKey{{Field: "created_at", Desc: true}}})
		require.NoError(t, err, params)
		for range 2 { // the first page, then the next
			c, err := query.SQL(spec, 1)
			require.NoError(t, err)
			out = append(out, "SELECT "+taskColumns+" FROM projects_tasks WHERE project_id = $1 AND "+c.Where+" "+c.OrderLimit)
			cursor, err := spec.Cursor(last)
			require.NoError(t, err)
			vals.Set("cursor", cursor)
			spec, err = query.Parse(vals, tasks, query.Options{Sort: []query.SortKey{{Field: "created_at", Desc: true}}})
			require.NoError(t, err, params)
		}
	}
	return out
}

// TestAllowListsArePinned: widening what plugins may call or use is a
// security review. Changing an allow-list means changing its digest here,
// in the same reviewed change.
func TestAllowListsArePinned(t *testing.T) {
	digest := func(names []string) string {
		s := slices.Sorted(slices.Values(names))
		sum := sha256.Sum256([]byte(strings.Join(s, "\n")))
		return hex.EncodeToString(sum[:8])
	}
	assert.Equal(t, "dad183bae3b4bbf9", digest(pluginhost.AllowedFunctions), "allowedFunctions changed: review it, then pin it")
	assert.Equal(t, "f8a76a9ec577071c", digest(pluginhost.AllowedTypes), "allowedTypes changed: review it, then pin it")
	for _, name := range pluginhost.AllowedFunctions {
		for _, bad := range []string{"pg_", "set_config", "current_", "lo_", "dblink", "xml", "ts_stat", "ts_rewrite",
			"advisory", "nextval", "currval", "setval", "lastval", "to_reg", "privilege", "description", "version", "txid", "xact"} {
			assert.NotContains(t, name, bad, "a function plugins never need")
		}
	}
}
