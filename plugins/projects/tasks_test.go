package main

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/plugins/projects/internal/api"
)

func (e *env) testTaskCRUD(t *testing.T) {
	p := createProject(t, e.admin, map[string]any{"name": "Tasks"})
	assignee := uuid.NewString()
	res := e.member.Post(tasksPath(p.ID), map[string]any{"title": "Launch", "assignee_id": assignee, "due_date": "2025-07-16"}).
		Want(t, http.StatusCreated)
	var task api.Task
	res.Decode(t, &task)
	assert.Equal(t, taskPath(task), res.Header.Get("Location"))
	assert.Equal(t, p.ID, task.ProjectID)
	assert.Equal(t, "Launch", task.Title)
	assert.Equal(t, "todo", task.Status)
	require.NotNil(t, task.AssigneeID)
	assert.Equal(t, assignee, *task.AssigneeID)
	require.NotNil(t, task.DueDate)
	assert.Equal(t, "2025-07-16", *task.DueDate)

	var got api.Task
	e.viewer.Get(taskPath(task)).Want(t, http.StatusOK).Decode(t, &got)
	assert.Equal(t, task, got)

	// null clears; absent keeps.
	var patched api.Task
	e.member.Patch(taskPath(task), map[string]any{"title": "Launch!", "assignee_id": nil}).Want(t, http.StatusOK).Decode(t, &patched)
	assert.Equal(t, "Launch!", patched.Title)
	assert.Nil(t, patched.AssigneeID)
	assert.Equal(t, task.DueDate, patched.DueDate)
	e.member.Patch(taskPath(task), map[string]any{"due_date": nil}).Want(t, http.StatusOK).Decode(t, &patched)
	assert.Nil(t, patched.DueDate)
	e.admin.Get(taskPath(task)).Want(t, http.StatusOK).Decode(t, &got)
	assert.Equal(t, patched, got, "the change is stored")

	// A task is reached only through its own project.
	other := createProject(t, e.admin, map[string]any{"name": "Other"})
	wantProblem(t, e.admin.Get(tasksPath(other.ID)+"/"+task.ID), http.StatusNotFound, "not_found")
	wantProblem(t, e.admin.Get(tasksPath(p.ID)+"/not-a-uuid"), http.StatusNotFound, "not_found")
	wantProblem(t, e.admin.Get(tasksPath(uuid.NewString())), http.StatusNotFound, "not_found")
	wantProblem(t, e.admin.Post(tasksPath(uuid.NewString()), map[string]any{"title": "x"}), http.StatusNotFound, "not_found")

	e.admin.Delete(taskPath(task)).Want(t, http.StatusNoContent)
	wantProblem(t, e.admin.Get(taskPath(task)), http.StatusNotFound, "not_found")
	wantProblem(t, e.admin.Delete(taskPath(task)), http.StatusNotFound, "not_found")

	// Deleting a project deletes its tasks.
	left := createTask(t, e.admin, p.ID, map[string]any{"title": "Left behind"})
	e.admin.Delete(projectPath(p.ID)).Want(t, http.StatusNoContent)
	wantProblem(t, e.admin.Get(taskPath(left)), http.StatusNotFound, "not_found")
}

func (e *env) testWorkflow(t *testing.T) {
	p := createProject(t, e.admin, map[string]any{"name": "Workflow"})
	task := createTask(t, e.admin, p.ID, map[string]any{"title": "Move me"})
	move := func(status string) *api.Task {
		t.Helper()
		var out api.Task
		e.member.Patch(taskPath(task), map[string]any{"status": status}).Want(t, http.StatusOK).Decode(t, &out)
		assert.Equal(t, status, out.Status)
		return &out
	}
	refused := func(status string) {
		t.Helper()
		res := e.member.Patch(taskPath(task), map[string]any{"status": status})
		wantProblem(t, res, http.StatusConflict, "conflict")
		assert.Contains(t, res.Problem(t).Detail, "cannot go from")
	}

	refused("done") // todo -> done skips doing
	doing := move("doing")
	same := move("doing")
	assert.Equal(t, doing.UpdatedAt, same.UpdatedAt, "staying is no change")
	move("todo") // put back
	move("doing")
	move("done")
	refused("doing") // reopening goes back to todo
	move("todo")     // reopen

	var got api.Task
	e.admin.Get(taskPath(task)).Want(t, http.StatusOK).Decode(t, &got)
	assert.Equal(t, "todo", got.Status)
}
