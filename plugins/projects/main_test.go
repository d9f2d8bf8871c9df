package main

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/plugins/projects/internal/api"
	"github.com/atriumhq/atrium/sdk/plugintest"
)

// env is one core with the plugin attached, shared by every subtest: a core
// takes a second or two to start. Subtests use their own projects, so they
// do not depend on each other's data; those that need a tenant to
// themselves (policies) create one.
type env struct {
	core   *plugintest.Core
	acme   *plugintest.Tenant
	admin  *plugintest.Client
	member *plugintest.Client
	viewer *plugintest.Client
	// adminID is the acme admin's user id.
	adminID string
}

// TestProjectsPlugin drives the plugin end to end through the core's HTTP
// API: tokens, tenant scoping, the policy engine and the audit log are the
// real ones.
func TestProjectsPlugin(t *testing.T) {
	core := plugintest.Start(t, api.Plugin())
	e := &env{core: core, acme: core.Tenant("acme")}
	e.admin = e.acme.Admin
	e.member = e.acme.User("member@acme.test", "member")
	e.viewer = e.acme.User("viewer@acme.test", "viewer")
	var me struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	e.admin.Get("/api/v1/auth/me").Want(t, http.StatusOK).Decode(t, &me)
	e.adminID = me.User.ID

	t.Run("manifest", testManifest)
	t.Run("project CRUD", e.testProjectCRUD)
	t.Run("task CRUD", e.testTaskCRUD)
	t.Run("validation", e.testValidation)
	t.Run("roles", e.testRoles)
	t.Run("tenant isolation", e.testTenantIsolation)
	t.Run("tenant without the plugin", e.testTenantWithout)
	t.Run("archived projects", e.testArchived)
	t.Run("task workflow", e.testWorkflow)
	t.Run("project lists", e.testProjectLists)
	t.Run("task lists", e.testTaskLists)
	t.Run("list queries", e.testListQueries)
	t.Run("tenant policy", e.testPolicy)
	t.Run("audit", e.testAudit)
}

func testManifest(t *testing.T) {
	m, err := api.Plugin().Manifest()
	require.NoError(t, err)
	assert.Equal(t, "projects", m.Name)
	assert.Len(t, m.Permissions, 8)
	assert.Len(t, m.Routes, 10)
	require.Len(t, m.Migrations, 2)
}

// createProject creates a project as c and returns it.
func createProject(t *testing.T, c *plugintest.Client, body map[string]any) api.Project {
	t.Helper()
	var p api.Project
	c.Post("/api/v1/projects", body).Want(t, http.StatusCreated).Decode(t, &p)
	return p
}

// createTask adds a task to project id as c and returns it.
func createTask(t *testing.T, c *plugintest.Client, projectID string, body map[string]any) api.Task {
	t.Helper()
	var task api.Task
	c.Post(tasksPath(projectID), body).Want(t, http.StatusCreated).Decode(t, &task)
	return task
}

func projectPath(id string) string      { return "/api/v1/projects/" + id }
func tasksPath(projectID string) string { return projectPath(projectID) + "/tasks" }
func taskPath(task api.Task) string     { return tasksPath(task.ProjectID) + "/" + task.ID }

// wantProblem checks an error response's status and code, and returns the
// fields it names with their messages.
func wantProblem(t *testing.T, res *plugintest.Response, status int, code string) map[string]string {
	t.Helper()
	res.Want(t, status)
	p := res.Problem(t)
	assert.Equal(t, code, p.Code, "%s", res)
	fields := map[string]string{}
	for _, f := range p.Errors {
		fields[f.Field] = f.Message
	}
	return fields
}
