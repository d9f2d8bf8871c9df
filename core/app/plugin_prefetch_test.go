package app_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

func prefetches(s *pluginServer, plugin, outcome string) float64 {
	return max(0, s.metric(`atrium_plugin_prefetches_total{outcome="`+outcome+`",plugin="`+plugin+`"}`))
}

// TestPluginReadsArePrefetched: once a read route has begun the same way a
// few times, the host runs its first statement ahead of the handler, and
// the handler's answer is the same as without: the record, a 404 for an
// unknown id, the other statement when the handler runs another. A path
// the statement fails on is rolled back before the plugin runs.
func TestPluginReadsArePrefetched(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, nil)
	s.install("projects", "projects")
	s.install("notesplugin", "notes")
	s.mustRegister("projects", "projects")
	s.mustRegister("notes", "notes")
	admin := s.tenant("acme", "projects", "notes")

	var project map[string]any
	s.call(http.MethodPost, "/api/v1/projects", admin, map[string]any{"name": "Apollo", "description": "to the moon"}).
		want(t, http.StatusCreated, &project)
	for range 10 {
		var got map[string]any
		s.call(http.MethodGet, "/api/v1/projects/"+project["id"].(string), admin, nil).want(t, http.StatusOK, &got)
		assert.Equal(t, project, got)
	}
	used := prefetches(s, "projects", "used")
	assert.GreaterOrEqual(t, used, 5.0, "learned after a few requests, then prefetched")

	// No such project: the handler used the prefetch and answered 404.
	s.call(http.MethodGet, "/api/v1/projects/01a23c68-d007-72cf-beaa-158cade16e67", admin, nil).problem(t, http.StatusNotFound, "not_found")
	assert.Equal(t, used+1, prefetches(s, "projects", "used"))

	// Not a UUID: PostgreSQL refuses the prefetched statement, which is
	// rolled back; the handler answers as it always does.
	s.call(http.MethodGet, "/api/v1/projects/not-a-uuid", admin, nil).problem(t, http.StatusNotFound, "not_found")
	assert.Equal(t, 1.0, prefetches(s, "projects", "failed"))
	var got map[string]any
	s.call(http.MethodGet, "/api/v1/projects/"+project["id"].(string), admin, nil).want(t, http.StatusOK, &got)
	assert.Equal(t, project, got)

	// An integer path parameter, and a handler whose first statement is
	// another one this time: it gets that statement's rows.
	var n note
	s.call(http.MethodPost, "/api/v1/notes", admin, map[string]string{"text": "quiet"}).want(t, http.StatusCreated, &n)
	path := "/api/v1/notes/" + strconv.FormatInt(n.ID, 10)
	for range 5 {
		s.call(http.MethodGet, path, admin, nil).want(t, http.StatusOK, &n)
		assert.Equal(t, "quiet", n.Text)
	}
	require.Positive(t, prefetches(s, "notes", "used"))
	s.call(http.MethodGet, path+"?upper=1", admin, nil).want(t, http.StatusOK, &n)
	assert.Equal(t, "QUIET", n.Text)
	assert.Equal(t, 1.0, prefetches(s, "notes", "unused"))
}

// TestAPrefetchNeverWrites: a read route whose handler tries to insert
// what its path says (PostgreSQL refuses it: the read's transaction is READ
// ONLY) is learned like any other, and the host's prefetch of it is refused
// and rolled back just the same: the table holds nothing, however many
// times it is tried, with odd spellings of the path.
func TestAPrefetchNeverWrites(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, nil)
	s.install("notesplugin", "notes")
	s.mustRegister("notes", "notes")
	admin := s.tenant("acme", "notes")
	for _, text := range []string{"x", "x", "x", "x", "x", "x", "x", "x", "x%20y", "%00", "x'y", "x", "x"} {
		r := s.call(http.MethodGet, "/api/v1/notes/write/"+text, admin, nil)
		assert.NotEqual(t, http.StatusOK, r.status, "%s", r)
	}
	assert.Positive(t, prefetches(s, "notes", "failed"), "the host tried the statement it learned")
	assert.Equal(t, "0", postgrestest.Exec(t, s.db, "SELECT count(*) FROM t_acme.notes"))
	var list noteList
	s.call(http.MethodGet, "/api/v1/notes", admin, nil).want(t, http.StatusOK, &list)
	assert.Empty(t, list.Items)
}
