package app_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/core/tenancy"
)

type note struct {
	ID   int64  `json:"id"`
	Text string `json:"text"`
}

type noteList struct {
	Items []note `json:"items"`
}

func routeOf(p api.PluginStatus, method, path string) *api.PluginRoute {
	i := slices.IndexFunc(p.Routes, func(r api.PluginRoute) bool { return r.Method == method && r.Path == path })
	if i < 0 {
		return nil
	}
	return &p.Routes[i]
}

// Plugin binaries registered through the operator API serve their routes
// through the tenant pipeline: tokens, permissions, the unit of work and the
// audit log, with the plugin's typed errors as problem documents.
func TestPluginServesItsRoutesThroughTheTenantPipeline(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, nil)
	s.install("testplugin", "testplugin")
	s.install("notesplugin", "notes")
	reg := s.mustRegister("testplugin", "testplugin")
	assert.Equal(t, "1.0.0", reg.Version)
	s.mustRegister("notes", "notes")

	// The operator sees each plugin running, with its routes and permissions.
	tp := s.plugin("testplugin")
	assert.Equal(t, "running", tp.State)
	assert.Equal(t, reg.PID, tp.PID)
	assert.Zero(t, tp.Restarts)
	items := routeOf(tp, http.MethodPost, "/api/v1/testplugin/items")
	require.NotNil(t, items, "%+v", tp.Routes)
	assert.Equal(t, "testplugin.item.write", items.Permission)
	assert.True(t, items.Mutates)
	assert.NotNil(t, routeOf(tp, http.MethodGet, "/api/v1/testplugin/items/{id}"))
	assert.Len(t, tp.Permissions, 2)
	assert.NotNil(t, routeOf(s.plugin("notes"), http.MethodGet, "/api/v1/notes/{id}"))

	admin := s.tenant("acme", "testplugin", "notes")
	s.createUser(admin, "mia@acme.test", "member")
	s.createUser(admin, "vic@acme.test", "viewer")
	_, member := s.login("acme", "mia@acme.test", userPassword)
	_, viewer := s.login("acme", "vic@acme.test", userPassword)

	// Create and read, through the host's SQL in the tenant's schema.
	var first, second note
	s.call(http.MethodPost, "/api/v1/notes", member, map[string]string{"text": "first"}).want(t, http.StatusCreated, &first)
	s.call(http.MethodPost, "/api/v1/notes", member, map[string]string{"text": "second"}).want(t, http.StatusCreated, &second)
	require.NotEqual(t, first.ID, second.ID)
	var got note
	s.call(http.MethodGet, "/api/v1/notes/"+strconv.FormatInt(first.ID, 10), viewer, nil).want(t, http.StatusOK, &got)
	assert.Equal(t, first, got)
	var all noteList
	s.call(http.MethodGet, "/api/v1/notes", viewer, nil).want(t, http.StatusOK, &all)
	assert.Equal(t, []note{first, second}, all.Items)

	// The SDK test plugin's echo and host services round-trip; the
	// mutating route is audited under its permission.
	var echoed map[string]any
	s.call(http.MethodPost, "/api/v1/testplugin/echo", viewer, map[string]any{"name": "x", "count": 3}).want(t, http.StatusOK, &echoed)
	assert.Equal(t, "x", echoed["name"])
	var svc map[string]any
	s.call(http.MethodPost, "/api/v1/testplugin/services", member, nil).want(t, http.StatusOK, &svc)
	assert.Equal(t, map[string]any{"cache": "v", "found": true, "blob": "blob!", "blobType": "text/plain",
		"blobAbsent": true, "forbidden": false}, svc)

	// The plugin sees the request's principal and tenant; what it logs
	// joins the core's log under its name.
	var who struct {
		ID        string
		Principal struct{ Email string }
		Tenant    struct{ Slug string }
		RequestID string
	}
	s.call(http.MethodGet, "/api/v1/testplugin/whoami/42", viewer, nil).want(t, http.StatusOK, &who)
	assert.Equal(t, "42", who.ID)
	assert.Equal(t, "vic@acme.test", who.Principal.Email)
	assert.Equal(t, "acme", who.Tenant.Slug)
	assert.NotEmpty(t, who.RequestID)
	assert.NotEmpty(t, s.logs.find(`"plugin":"testplugin"`, "whoami called", `"id":"42"`))

	// Typed errors keep their kind across the boundary.
	s.call(http.MethodGet, "/api/v1/notes/999999", viewer, nil).problem(t, http.StatusNotFound, "not_found")
	s.call(http.MethodGet, "/api/v1/notes/nine", viewer, nil).problem(t, http.StatusUnprocessableEntity, "validation_failed")
	p := s.call(http.MethodGet, "/api/v1/testplugin/missing/7", viewer, nil).problem(t, http.StatusNotFound, "not_found")
	assert.Contains(t, p.Detail, "item 7")
	s.call(http.MethodGet, "/api/v1/testplugin/nothing/here", viewer, nil).problem(t, http.StatusNotFound, "not_found")
	s.call(http.MethodDelete, "/api/v1/testplugin/echo", viewer, nil).problem(t, http.StatusMethodNotAllowed, "method_not_allowed")

	// A panicking handler is a 500; the plugin's process and the core live on.
	p = s.call(http.MethodGet, "/api/v1/testplugin/panic", viewer, nil).problem(t, http.StatusInternalServerError, "internal")
	assert.NotContains(t, p.Detail, "boom", "a plugin's internal error stays in the log")
	s.healthy(admin)
	assert.Equal(t, reg.PID, s.plugin("testplugin").PID, "a handler's panic does not cost the process")
	s.call(http.MethodPost, "/api/v1/testplugin/echo", viewer, map[string]any{"name": "after"}).want(t, http.StatusOK, nil)

	// Permissions per role: a viewer reads but may not write, and the
	// refusal is audited; no token at all is a 401.
	s.call(http.MethodPost, "/api/v1/testplugin/items", viewer, map[string]string{"name": "x"}).problem(t, http.StatusForbidden, "forbidden")
	s.call(http.MethodPost, "/api/v1/notes", viewer, map[string]string{"text": "no"}).problem(t, http.StatusForbidden, "forbidden")
	s.call(http.MethodGet, "/api/v1/notes", "", nil).problem(t, http.StatusUnauthorized, "unauthenticated")

	recs := s.auditLog(admin, "")
	created := find(recs, "notes.note.write", audit.Success)
	require.NotNil(t, created, "a plugin's mutation is audited")
	assert.Equal(t, "mia@acme.test", created.Actor.Email)
	assert.Contains(t, string(created.Details), `"note":`+strconv.FormatInt(second.ID, 10), "with the plugin's own detail")
	wrote := find(recs, "testplugin.item.write", audit.Success)
	require.NotNil(t, wrote, "the test plugin's mutating /services call")
	assert.Contains(t, string(wrote.Details), `"item":"7"`)
	denied := find(recs, "testplugin.item.write", audit.Deny)
	require.NotNil(t, denied, "the viewer's refusal")
	assert.Equal(t, "vic@acme.test", denied.Actor.Email)
	assert.NotNil(t, find(recs, "notes.note.write", audit.Deny))
	assert.Nil(t, find(recs, "notes.note.read", audit.Success), "reads are not audited")

	s.healthy(admin)
	assert.Positive(t, s.metric(`atrium_plugin_calls_total{outcome="ok",plugin="notes"}`))
	assert.Equal(t, 1.0, s.metric(`atrium_plugin_state{plugin="testplugin",state="running"}`))
}

// Each tenant's plugin data lives in its own schema: another tenant that
// enabled the plugin sees none of it, a tenant that did not enable it gets
// 404 as if the routes did not exist, and enabling it later migrates the
// plugin's tables into that tenant's schema.
func TestPluginDataIsPerTenantAndRoutesPerEnablement(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, nil)
	s.install("notesplugin", "notes")
	s.mustRegister("notes", "notes")
	acme := s.tenant("acme", "notes")
	globex := s.tenant("globex", "notes")
	initech := s.tenant("initech")

	var a1, a2 note
	s.call(http.MethodPost, "/api/v1/notes", acme, map[string]string{"text": "acme one"}).want(t, http.StatusCreated, &a1)
	s.call(http.MethodPost, "/api/v1/notes", acme, map[string]string{"text": "acme two"}).want(t, http.StatusCreated, &a2)

	// Globex: none of acme's rows, by ID or in a list.
	s.call(http.MethodGet, "/api/v1/notes/"+strconv.FormatInt(a2.ID, 10), globex, nil).problem(t, http.StatusNotFound, "not_found")
	var list noteList
	s.call(http.MethodGet, "/api/v1/notes", globex, nil).want(t, http.StatusOK, &list)
	assert.Empty(t, list.Items)
	var g1 note
	s.call(http.MethodPost, "/api/v1/notes", globex, map[string]string{"text": "globex one"}).want(t, http.StatusCreated, &g1)
	s.call(http.MethodGet, "/api/v1/notes", acme, nil).want(t, http.StatusOK, &list)
	assert.Equal(t, []note{a1, a2}, list.Items, "acme's list is untouched by globex")

	// Initech has not enabled the plugin: 404 on every route, exactly like
	// a path nothing serves, even for a write its admin could make.
	noRoute := s.call(http.MethodGet, "/api/v1/nothing", initech, nil).problem(t, http.StatusNotFound, "not_found")
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/notes"},
		{http.MethodGet, "/api/v1/notes/1"},
		{http.MethodPost, "/api/v1/notes"},
		{http.MethodDelete, "/api/v1/notes"}, // not even a 405
	} {
		p := s.call(r.method, r.path, initech, map[string]string{"text": "x"}).problem(t, http.StatusNotFound, "not_found")
		assert.Equal(t, noRoute.Title, p.Title)
	}
	assert.False(t, s.tableExists("initech", "notes"), "no plugin tables before it is enabled")

	// Enabling it later migrates the plugin's tables, and the routes work.
	s.enable("initech", "notes")
	assert.True(t, s.tableExists("initech", "notes"))
	var i1 note
	s.call(http.MethodPost, "/api/v1/notes", initech, map[string]string{"text": "initech one"}).want(t, http.StatusCreated, &i1)
	s.call(http.MethodGet, "/api/v1/notes", initech, nil).want(t, http.StatusOK, &list)
	assert.Equal(t, []note{i1}, list.Items)

	// Disabling it hides the routes again; the data stays in the schema.
	s.enable("acme")
	s.call(http.MethodGet, "/api/v1/notes", acme, nil).problem(t, http.StatusNotFound, "not_found")
	s.enable("acme", "notes")
	s.call(http.MethodGet, "/api/v1/notes", acme, nil).want(t, http.StatusOK, &list)
	assert.Equal(t, []note{a1, a2}, list.Items)
}

// tableExists reports whether the tenant's schema has table.
func (s *pluginServer) tableExists(slug, table string) bool {
	s.t.Helper()
	return postgrestest.Exec(s.t, s.db, "SELECT to_regclass($1) IS NOT NULL", tenancy.SchemaName(slug)+"."+table) == "true"
}

// A plugin's writes belong to the request's unit of work: a handler that
// fails or panics after writing leaves nothing. Its SQL is checked by the
// host (no core tables, no session changes) and runs as the tenant's role,
// which PostgreSQL keeps out of other schemas.
func TestPluginWritesAreOneUnitOfWorkAndItsSQLIsGuarded(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, nil)
	s.install("notesplugin", "notes")
	s.mustRegister("notes", "notes")
	acme := s.tenant("acme", "notes")
	globex := s.tenant("globex", "notes")

	var kept note
	s.call(http.MethodPost, "/api/v1/notes", acme, map[string]string{"text": "kept"}).want(t, http.StatusCreated, &kept)
	p := s.call(http.MethodPost, "/api/v1/notes/fail", acme, map[string]string{"text": "ghost"}).problem(t, http.StatusConflict, "conflict")
	assert.Contains(t, p.Detail, "was written, then the handler changed its mind")
	s.call(http.MethodPost, "/api/v1/notes/panic", acme, map[string]string{"text": "ghost"}).problem(t, http.StatusInternalServerError, "internal")
	var list noteList
	s.call(http.MethodGet, "/api/v1/notes", acme, nil).want(t, http.StatusOK, &list)
	assert.Equal(t, []note{kept}, list.Items, "the failed requests' inserts were rolled back")
	// The rolled-back inserts used sequence values; the next note is still
	// written and read back normally.
	var next note
	s.call(http.MethodPost, "/api/v1/notes", acme, map[string]string{"text": "next"}).want(t, http.StatusCreated, &next)
	s.call(http.MethodGet, "/api/v1/notes/"+strconv.FormatInt(next.ID, 10), acme, nil).want(t, http.StatusOK, nil)
	failed := find(s.auditLog(acme, "outcome=error"), "notes.note.write", audit.Failure)
	require.NotNil(t, failed, "a failed mutation is audited as such")

	// A route not declared Mutates runs in a read-only transaction: its
	// write fails rather than commit without an audit record.
	s.call(http.MethodPost, "/api/v1/notes/quiet", acme, map[string]string{"text": "unaudited"}).problem(t, http.StatusInternalServerError, "internal")
	assert.NotEmpty(t, s.logs.find(`"plugin":"notes"`, "read-only transaction", "not declared Mutates"))
	s.call(http.MethodGet, "/api/v1/notes", acme, nil).want(t, http.StatusOK, &list)
	assert.Equal(t, []note{kept, next}, list.Items, "nothing written")

	refused := []string{
		"SELECT * FROM users",
		`SELECT email FROM "users"`,
		"SELECT * FROM t_globex.users",
		"DELETE FROM audit_log",
		"SET ROLE postgres",
		"RESET ROLE",
		"SELECT set_config('search_path', 't_globex', true)",
		"SELECT 1; SELECT 2",
		"CREATE TABLE evil (id int)",
	}
	// A refusal is the plugin's bug: a 500 for the client, the reason in
	// the core's log under the plugin's name.
	for _, sql := range refused {
		p := s.call(http.MethodPost, "/api/v1/notes/sql", acme, map[string]string{"sql": sql}).
			problem(t, http.StatusInternalServerError, "internal")
		assert.NotContains(t, p.Detail, "SQL", sql)
	}
	for _, why := range []string{"relation users is not plugin notes's own", "relation audit_log is not plugin notes's own",
		"relation t_globex.users is schema-qualified", "one statement at a time", "statements, not SET\"", "statements, not RESET\"",
		"function pg_catalog.set_config is not one plugins may call", "statements, not CREATE\""} {
		assert.NotEmpty(t, s.logs.find(`"plugin":"notes"`, "SQL refused: ", why), why)
	}
	// Behind the check, the plugin's SQL runs as its own runtime role in
	// the tenant, logged in as it: PostgreSQL keeps it to its own tables
	// (core/postgres/boundary_test.go tries the rest without the check).
	inst := postgrestest.Exec(t, s.db, "SELECT id FROM atrium.installation")
	_, acmeNotes := tenancy.PluginRoles(inst, "acme", "notes")
	_, globexNotes := tenancy.PluginRoles(inst, "globex", "notes")
	// (By role: behind PgBouncer, the session's end resets a server
	// connection's application_name to the one it started with.)
	users := postgrestest.Exec(t, s.db, `SELECT string_agg(DISTINCT usename, ',') FROM pg_stat_activity
		WHERE usename LIKE 'atp\_%' AND datname = current_database()`)
	assert.Contains(t, strings.Split(users, ","), acmeNotes, "acme's notes SQL ran on connections of acme's notes role")
	assert.Subset(t, []string{acmeNotes, globexNotes}, strings.Split(users, ","), "as no other role")
	var rows map[string]int
	s.call(http.MethodPost, "/api/v1/notes/sql", acme, map[string]string{"sql": "SELECT id FROM notes"}).want(t, http.StatusOK, &rows)
	assert.Equal(t, 2, rows["rows"])
	s.call(http.MethodGet, "/api/v1/notes", globex, nil).want(t, http.StatusOK, &list)
	assert.Empty(t, list.Items)
	s.healthy(acme)
}
