package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/plugins/projects/internal/api"
	"github.com/atriumhq/atrium/sdk/plugintest"
)

func (e *env) testProjectCRUD(t *testing.T) {
	res := e.admin.Post("/api/v1/projects", map[string]any{"name": " Apollo ", "description": "To the moon"}).Want(t, http.StatusCreated)
	var p api.Project
	res.Decode(t, &p)
	assert.Equal(t, "/api/v1/projects/"+p.ID, res.Header.Get("Location"))
	assert.Equal(t, "Apollo", p.Name)
	assert.Equal(t, "To the moon", p.Description)
	assert.Equal(t, "active", p.Status)
	assert.Equal(t, e.adminID, p.OwnerID, "the creator owns the project")
	assert.Equal(t, time.UTC, p.CreatedAt.Location())
	assert.Equal(t, p.CreatedAt, p.UpdatedAt)

	var got api.Project
	e.admin.Get(projectPath(p.ID)).Want(t, http.StatusOK).Decode(t, &got)
	assert.Equal(t, p, got)

	var patched api.Project
	e.admin.Patch(projectPath(p.ID), map[string]any{"name": "Apollo 11", "description": ""}).Want(t, http.StatusOK).Decode(t, &patched)
	assert.Equal(t, "Apollo 11", patched.Name)
	assert.Empty(t, patched.Description)
	assert.True(t, patched.UpdatedAt.After(p.UpdatedAt))
	assert.Equal(t, p.CreatedAt, patched.CreatedAt)
	e.admin.Get(projectPath(p.ID)).Want(t, http.StatusOK).Decode(t, &got)
	assert.Equal(t, patched, got, "the change is stored")

	var same api.Project
	e.admin.Patch(projectPath(p.ID), map[string]any{"name": "Apollo 11"}).Want(t, http.StatusOK).Decode(t, &same)
	assert.Equal(t, patched.UpdatedAt, same.UpdatedAt, "a patch that changes nothing leaves updated_at")

	e.admin.Delete(projectPath(p.ID)).Want(t, http.StatusNoContent)
	wantProblem(t, e.admin.Get(projectPath(p.ID)), http.StatusNotFound, "not_found")
	wantProblem(t, e.admin.Delete(projectPath(p.ID)), http.StatusNotFound, "not_found")
	wantProblem(t, e.admin.Patch(projectPath(p.ID), map[string]any{"name": "x"}), http.StatusNotFound, "not_found")
	wantProblem(t, e.admin.Get(projectPath("not-a-uuid")), http.StatusNotFound, "not_found")
}

func (e *env) testValidation(t *testing.T) {
	p := createProject(t, e.admin, map[string]any{"name": "Validation"})
	task := createTask(t, e.admin, p.ID, map[string]any{"title": "Check"})
	tests := []struct {
		name, method, path string
		body               any
		fields             []string
	}{
		{"missing name", "POST", "/api/v1/projects", map[string]any{"description": "x"}, []string{"name"}},
		{"blank name", "POST", "/api/v1/projects", map[string]any{"name": "  "}, []string{"name"}},
		{"long name", "POST", "/api/v1/projects", map[string]any{"name": strings.Repeat("n", 201)}, []string{"name"}},
		{"name and description", "POST", "/api/v1/projects", map[string]any{"name": "", "description": strings.Repeat("d", 4001)}, []string{"name", "description"}},
		{"unknown field", "POST", "/api/v1/projects", map[string]any{"name": "a", "owner_id": e.adminID}, []string{"owner_id"}},
		{"status on create", "POST", "/api/v1/projects", map[string]any{"name": "a", "status": "archived"}, []string{"status"}},
		{"wrong type", "POST", "/api/v1/projects", map[string]any{"name": 5}, []string{"name"}},
		{"empty patch", "PATCH", projectPath(p.ID), map[string]any{}, []string{"body"}},
		{"null name", "PATCH", projectPath(p.ID), map[string]any{"name": nil}, []string{"name"}},
		{"bad status", "PATCH", projectPath(p.ID), map[string]any{"status": "closed"}, []string{"status"}},
		{"unknown patch field", "PATCH", projectPath(p.ID), map[string]any{"owner_id": e.adminID}, []string{"owner_id"}},
		{"case-folded field", "PATCH", projectPath(p.ID), map[string]any{"Name": "x"}, []string{"Name"}},
		{"missing title", "POST", tasksPath(p.ID), map[string]any{}, []string{"title"}},
		{"bad assignee and date", "POST", tasksPath(p.ID), map[string]any{"title": "a", "assignee_id": "bob", "due_date": "tomorrow"}, []string{"assignee_id", "due_date"}},
		{"impossible date", "POST", tasksPath(p.ID), map[string]any{"title": "a", "due_date": "2025-02-30"}, []string{"due_date"}},
		{"status on task create", "POST", tasksPath(p.ID), map[string]any{"title": "a", "status": "done"}, []string{"status"}},
		{"null title", "PATCH", taskPath(task), map[string]any{"title": nil}, []string{"title"}},
		{"null status", "PATCH", taskPath(task), map[string]any{"status": nil}, []string{"status"}},
		{"bad task status", "PATCH", taskPath(task), map[string]any{"status": "blocked"}, []string{"status"}},
		{"long title", "PATCH", taskPath(task), map[string]any{"title": strings.Repeat("t", 201)}, []string{"title"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := wantProblem(t, e.admin.Do(tt.method, tt.path, tt.body), http.StatusUnprocessableEntity, "validation_failed")
			for _, f := range tt.fields {
				assert.Contains(t, fields, f)
			}
			assert.Len(t, fields, len(tt.fields), "%v", fields)
		})
	}

	for name, body := range map[string]string{"malformed": `{"name":`, "trailing": `{"name":"a"} {}`, "empty": ``, "not an object": `["a"]`} {
		res := rawPost(t, e, "/api/v1/projects", body)
		fields := wantProblem(t, res, http.StatusBadRequest, "malformed_json")
		assert.Empty(t, fields, name)
	}

	// Nothing was written by the refused requests.
	var got api.Project
	e.admin.Get(projectPath(p.ID)).Want(t, http.StatusOK).Decode(t, &got)
	assert.Equal(t, "Validation", got.Name)
}

// rawPost sends body as it is, as the acme admin, for bodies a Go value
// cannot express.
func rawPost(t *testing.T, e *env, path, body string) *plugintest.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.core.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.admin.Token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return &plugintest.Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
}

func (e *env) testRoles(t *testing.T) {
	p := createProject(t, e.admin, map[string]any{"name": "Roles"})
	task := createTask(t, e.admin, p.ID, map[string]any{"title": "Roles"})

	// viewer: reads only.
	wantProblem(t, e.viewer.Post("/api/v1/projects", map[string]any{"name": "Nope"}), http.StatusForbidden, "forbidden")
	e.viewer.Get("/api/v1/projects").Want(t, http.StatusOK)
	e.viewer.Get(projectPath(p.ID)).Want(t, http.StatusOK)
	e.viewer.Get(tasksPath(p.ID)).Want(t, http.StatusOK)
	e.viewer.Get(taskPath(task)).Want(t, http.StatusOK)
	wantProblem(t, e.viewer.Patch(projectPath(p.ID), map[string]any{"name": "x"}), http.StatusForbidden, "forbidden")
	wantProblem(t, e.viewer.Post(tasksPath(p.ID), map[string]any{"title": "x"}), http.StatusForbidden, "forbidden")
	wantProblem(t, e.viewer.Patch(taskPath(task), map[string]any{"title": "x"}), http.StatusForbidden, "forbidden")
	wantProblem(t, e.viewer.Delete(taskPath(task)), http.StatusForbidden, "forbidden")

	// member: reads, creates and updates; deletes nothing.
	mine := createProject(t, e.member, map[string]any{"name": "Member's"})
	e.member.Patch(projectPath(p.ID), map[string]any{"description": "by a member"}).Want(t, http.StatusOK)
	memberTask := createTask(t, e.member, p.ID, map[string]any{"title": "Member's"})
	e.member.Patch(taskPath(memberTask), map[string]any{"status": "doing"}).Want(t, http.StatusOK)
	wantProblem(t, e.member.Delete(taskPath(memberTask)), http.StatusForbidden, "forbidden")
	wantProblem(t, e.member.Delete(projectPath(mine.ID)), http.StatusForbidden, "forbidden")

	// admin: everything.
	e.admin.Delete(taskPath(memberTask)).Want(t, http.StatusNoContent)
	e.admin.Delete(projectPath(mine.ID)).Want(t, http.StatusNoContent)
}

func (e *env) testTenantIsolation(t *testing.T) {
	p := createProject(t, e.admin, map[string]any{"name": "Acme's secret"})
	task := createTask(t, e.admin, p.ID, map[string]any{"title": "Acme's task"})
	globex := e.core.Tenant("globex").Admin

	wantProblem(t, globex.Get(projectPath(p.ID)), http.StatusNotFound, "not_found")
	wantProblem(t, globex.Patch(projectPath(p.ID), map[string]any{"name": "mine"}), http.StatusNotFound, "not_found")
	wantProblem(t, globex.Delete(projectPath(p.ID)), http.StatusNotFound, "not_found")
	wantProblem(t, globex.Get(tasksPath(p.ID)), http.StatusNotFound, "not_found")
	wantProblem(t, globex.Post(tasksPath(p.ID), map[string]any{"title": "x"}), http.StatusNotFound, "not_found")
	wantProblem(t, globex.Get(taskPath(task)), http.StatusNotFound, "not_found")
	var list api.ProjectList
	globex.Get("/api/v1/projects").Want(t, http.StatusOK).Decode(t, &list)
	assert.Empty(t, list.Items)

	e.admin.Get(projectPath(p.ID)).Want(t, http.StatusOK)
}

func (e *env) testTenantWithout(t *testing.T) {
	initech := e.core.TenantWithout("initech").Admin
	wantProblem(t, initech.Get("/api/v1/projects"), http.StatusNotFound, "not_found")
	wantProblem(t, initech.Post("/api/v1/projects", map[string]any{"name": "x"}), http.StatusNotFound, "not_found")
	wantProblem(t, initech.Get(projectPath("0190a6f0-0000-7000-8000-000000000001")), http.StatusNotFound, "not_found")
}

func (e *env) testArchived(t *testing.T) {
	p := createProject(t, e.admin, map[string]any{"name": "Archive me"})
	task := createTask(t, e.admin, p.ID, map[string]any{"title": "Before"})

	var archived api.Project
	e.member.Patch(projectPath(p.ID), map[string]any{"status": "archived"}).Want(t, http.StatusOK).Decode(t, &archived)
	require.Equal(t, "archived", archived.Status)

	wantProblem(t, e.admin.Post(tasksPath(p.ID), map[string]any{"title": "After"}), http.StatusConflict, "conflict")
	wantProblem(t, e.admin.Patch(taskPath(task), map[string]any{"title": "Edited"}), http.StatusConflict, "conflict")
	wantProblem(t, e.admin.Delete(taskPath(task)), http.StatusConflict, "conflict")
	wantProblem(t, e.admin.Patch(projectPath(p.ID), map[string]any{"name": "Renamed"}), http.StatusConflict, "conflict")
	e.admin.Get(taskPath(task)).Want(t, http.StatusOK)
	e.admin.Get(tasksPath(p.ID)).Want(t, http.StatusOK)

	var back api.Project
	e.member.Patch(projectPath(p.ID), map[string]any{"status": "active", "name": "Back"}).Want(t, http.StatusOK).Decode(t, &back)
	assert.Equal(t, "active", back.Status)
	assert.Equal(t, "Back", back.Name)
	createTask(t, e.admin, p.ID, map[string]any{"title": "After"})

	// An archived project can still be deleted, tasks and all.
	e.admin.Patch(projectPath(p.ID), map[string]any{"status": "archived"}).Want(t, http.StatusOK)
	e.admin.Delete(projectPath(p.ID)).Want(t, http.StatusNoContent)
	wantProblem(t, e.admin.Get(taskPath(task)), http.StatusNotFound, "not_found")
}
