package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/plugins/projects/internal/api"
)

// guardRego is a tenant policy deciding on every resource attribute the
// plugin promises: a project's name and owner_id, a task's status,
// assignee_id and due_date.
const guardRego = `package tenant.guard

deny contains "classified projects are closed" if {
	input.resource.type == "project"
	input.resource.attributes.name == "Classified"
}

deny contains "only owners edit projects" if {
	input.action == "projects.project.update"
	input.resource.attributes.owner_id != input.subject.id
}

deny contains "done tasks are kept" if {
	input.action == "projects.task.delete"
	input.resource.type == "task"
	input.resource.attributes.status == "done"
}

deny contains "the auditor's tasks are frozen" if {
	input.action == "projects.task.update"
	input.resource.attributes.assignee_id == "00000000-0000-4000-8000-00000000a0d1"
}

deny contains "tasks due in 2000 are history" if {
	input.action == "projects.task.update"
	startswith(input.resource.attributes.due_date, "2000-")
}
`

func (e *env) testPolicy(t *testing.T) {
	tenant := e.core.Tenant("policyco")
	admin := tenant.Admin
	member := tenant.User("member@policyco.test", "member")
	admin.Put("/api/v1/policies/guard", map[string]any{"rego": guardRego}).Want(t, http.StatusOK)

	classified := createProject(t, admin, map[string]any{"name": "Classified"})
	open := createProject(t, admin, map[string]any{"name": "Open"})

	// A deny on a resource attribute refuses that project only.
	res := admin.Get(projectPath(classified.ID))
	wantProblem(t, res, http.StatusForbidden, "forbidden")
	admin.Get(projectPath(open.ID)).Want(t, http.StatusOK)
	wantProblem(t, admin.Post(tasksPath(classified.ID), map[string]any{"title": "x"}), http.StatusForbidden, "forbidden")
	wantProblem(t, admin.Get(tasksPath(classified.ID)), http.StatusForbidden, "forbidden")
	var list api.ProjectList
	admin.Get("/api/v1/projects").Want(t, http.StatusOK).Decode(t, &list)
	require.Len(t, list.Items, 1, "a project the policy refuses is not listed")
	assert.Equal(t, open.ID, list.Items[0].ID)

	// owner_id: a member edits its own project, not the admin's.
	wantProblem(t, member.Patch(projectPath(open.ID), map[string]any{"name": "Mine"}), http.StatusForbidden, "forbidden")
	own := createProject(t, member, map[string]any{"name": "Member's"})
	member.Patch(projectPath(own.ID), map[string]any{"name": "Still mine"}).Want(t, http.StatusOK)

	// status: done tasks cannot be deleted, others can.
	done := createTask(t, admin, open.ID, map[string]any{"title": "Done"})
	admin.Patch(taskPath(done), map[string]any{"status": "doing"}).Want(t, http.StatusOK)
	admin.Patch(taskPath(done), map[string]any{"status": "done"}).Want(t, http.StatusOK)
	wantProblem(t, admin.Delete(taskPath(done)), http.StatusForbidden, "forbidden")
	todo := createTask(t, admin, open.ID, map[string]any{"title": "Todo"})
	admin.Delete(taskPath(todo)).Want(t, http.StatusNoContent)

	// assignee_id and due_date.
	audited := createTask(t, admin, open.ID, map[string]any{"title": "Audited", "assignee_id": "00000000-0000-4000-8000-00000000a0d1"})
	wantProblem(t, admin.Patch(taskPath(audited), map[string]any{"title": "Edited"}), http.StatusForbidden, "forbidden")
	old := createTask(t, admin, open.ID, map[string]any{"title": "Old", "due_date": "2000-06-30"})
	wantProblem(t, admin.Patch(taskPath(old), map[string]any{"title": "Edited"}), http.StatusForbidden, "forbidden")
	admin.Patch(taskPath(done), map[string]any{"title": "Edited"}).Want(t, http.StatusOK)

	var got api.Task
	admin.Get(taskPath(audited)).Want(t, http.StatusOK).Decode(t, &got)
	assert.Equal(t, "Audited", got.Title, "a refused change is not written")

	// The refusal is in the audit log with the policy's reason.
	var records auditList
	admin.Get("/api/v1/audit?outcome=deny&limit=200").Want(t, http.StatusOK).Decode(t, &records)
	found := slices.ContainsFunc(records.Items, func(r auditRecord) bool {
		return r.Action == "projects.project.read" && r.Resource.ID == classified.ID &&
			slices.Contains(r.Reasons, "classified projects are closed")
	})
	assert.True(t, found, "a deny record for the classified project: %+v", records.Items)
}

func (e *env) testAudit(t *testing.T) {
	p := createProject(t, e.admin, map[string]any{"name": "Audited"})
	task := createTask(t, e.admin, p.ID, map[string]any{"title": "Audited", "due_date": "2025-05-01"})
	e.member.Patch(taskPath(task), map[string]any{"status": "doing", "title": "Renamed", "due_date": nil}).Want(t, http.StatusOK)

	var records auditList
	e.admin.Get("/api/v1/audit?action=projects.task.update&limit=1").Want(t, http.StatusOK).Decode(t, &records)
	require.Len(t, records.Items, 1)
	r := records.Items[0]
	assert.Equal(t, "success", r.Outcome)
	assert.Equal(t, "task", r.Resource.Type)
	assert.Equal(t, task.ID, r.Resource.ID)
	assert.JSONEq(t, `{
		"project_id": "`+p.ID+`", "task_id": "`+task.ID+`",
		"changed": ["title", "status", "due_date"],
		"status": {"from": "todo", "to": "doing"},
		"due_date": {"from": "2025-05-01", "to": null}
	}`, string(r.Details))

	e.admin.Get("/api/v1/audit?action=projects.project.create&limit=1").Want(t, http.StatusOK).Decode(t, &records)
	require.Len(t, records.Items, 1)
	assert.Equal(t, p.ID, records.Items[0].Resource.ID, "the plugin named the new project")
	assert.JSONEq(t, `{"name": "Audited"}`, string(records.Items[0].Details))
}

// auditRecord is what the tests read of GET /api/v1/audit.
type auditRecord struct {
	Action   string          `json:"action"`
	Outcome  string          `json:"outcome"`
	Reasons  []string        `json:"reasons"`
	Details  json.RawMessage `json:"details"`
	Resource struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"resource"`
}

type auditList struct {
	Items []auditRecord `json:"items"`
}
