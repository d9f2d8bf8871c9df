package pluginhost

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/atriumhq/atrium/sdk"
)

func TestRouteTable(t *testing.T) {
	tb := newTable(sdk.Manifest{Name: "projects", Routes: []sdk.RouteSpec{
		{Method: "GET", Path: ""},
		{Method: "POST", Path: ""},
		{Method: "GET", Path: "/{id}"},
		{Method: "GET", Path: "/{id}/tasks/{task_id}"},
	}})
	m, found, _ := tb.match("GET", "/api/v1/projects")
	assert.True(t, found)
	assert.Equal(t, 0, m.Index)
	assert.Equal(t, "/api/v1/projects", m.Template)

	m, found, _ = tb.match("POST", "/api/v1/projects/")
	assert.True(t, found, "a trailing slash is the same path")
	assert.Equal(t, 1, m.Index)

	m, found, _ = tb.match("GET", "/api/v1/projects/42/tasks/7")
	assert.True(t, found)
	assert.Equal(t, map[string]string{"id": "42", "task_id": "7"}, m.Params)
	assert.Equal(t, "/api/v1/projects/{id}/tasks/{task_id}", m.Template)

	_, found, pathFound := tb.match("DELETE", "/api/v1/projects/42")
	assert.False(t, found)
	assert.True(t, pathFound, "405, not 404")

	_, found, pathFound = tb.match("GET", "/api/v1/projects/42/nope")
	assert.False(t, found)
	assert.False(t, pathFound)

	assert.Equal(t, "projects", pluginOf("/api/v1/projects/1"))
	assert.Equal(t, "", pluginOf("/healthz"))
}
