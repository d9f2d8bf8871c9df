package api

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/plugins/projects/internal/app"
	"github.com/atriumhq/atrium/plugins/projects/internal/domain"
	"github.com/atriumhq/atrium/plugins/projects/internal/store"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/query"
)

// listTasks: GET /api/v1/projects/{id}/tasks?status=&assignee_id=&sort=&limit=&cursor=
func listTasks(c *sdk.Context, svc *app.Service) error {
	projectID, err := pathID(c, "id", "project")
	if err != nil {
		return err
	}
	spec, err := query.Parse(c.QueryValues(), store.TaskFields, query.Options{
		Sort:  newestFirst,
		Scope: []query.Filter{query.Equal("project_id", projectID)}, // binds cursors to the project
	})
	if err != nil {
		return err
	}
	page, err := svc.ListTasks(c, projectID, spec)
	if err != nil {
		return err
	}
	out := TaskList{Items: make([]Task, len(page.Items)), NextCursor: cursor(page.NextCursor)}
	for i, t := range page.Items {
		out.Items[i] = taskOut(t)
	}
	return c.JSON(http.StatusOK, out)
}

// createTask: POST /api/v1/projects/{id}/tasks {title, assignee_id?, due_date?}
func createTask(c *sdk.Context, svc *app.Service) error {
	projectID, err := pathID(c, "id", "project")
	if err != nil {
		return err
	}
	var in CreateTaskRequest
	if err := c.Bind(&in); err != nil {
		return err
	}
	var f form
	cmd := app.CreateTask{Title: in.Title, AssigneeID: f.uuid("assignee_id", in.AssigneeID), DueDate: f.date("due_date", in.DueDate)}
	if err := f.err(); err != nil {
		return err
	}
	t, err := svc.CreateTask(c, projectID, cmd)
	if err != nil {
		return err
	}
	if err := c.Emit(EventTaskCreated, taskOut(t)); err != nil {
		return err
	}
	c.SetHeader("Location", "/api/v1/projects/"+projectID.String()+"/tasks/"+t.ID().String())
	return c.JSON(http.StatusCreated, taskOut(t))
}

// taskIDs reads the project and task ids of a task's path.
func taskIDs(c *sdk.Context) (projectID, taskID uuid.UUID, err error) {
	if projectID, err = pathID(c, "id", "project"); err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	if taskID, err = pathID(c, "task_id", "task"); err != nil {
		return uuid.Nil, uuid.Nil, err
	}
	return projectID, taskID, nil
}

// getTask: GET /api/v1/projects/{id}/tasks/{task_id}
func getTask(c *sdk.Context, svc *app.Service) error {
	projectID, taskID, err := taskIDs(c)
	if err != nil {
		return err
	}
	t, err := svc.GetTask(c, projectID, taskID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, taskOut(t))
}

// updateTask: PATCH /api/v1/projects/{id}/tasks/{task_id}
// {title?, status?, assignee_id? (null clears), due_date? (null clears)}
func updateTask(c *sdk.Context, svc *app.Service) error {
	projectID, taskID, err := taskIDs(c)
	if err != nil {
		return err
	}
	var in UpdateTaskRequest
	nulls, err := bindPatch(c, &in, []string{"title", "status", "assignee_id", "due_date"})
	if err != nil {
		return err
	}
	var f form
	f.notNull(nulls, "title", "status")
	ch := domain.TaskChanges{
		Title:  in.Title,
		Status: f.taskStatus("status", in.Status),
		AssigneeID: domain.Clearable[uuid.UUID]{
			Set: in.AssigneeID != nil || nulls["assignee_id"], Value: f.uuid("assignee_id", in.AssigneeID),
		},
		DueDate: domain.Clearable[domain.Date]{
			Set: in.DueDate != nil || nulls["due_date"], Value: f.date("due_date", in.DueDate),
		},
	}
	if err := f.err(); err != nil {
		return err
	}
	t, err := svc.UpdateTask(c, projectID, taskID, ch)
	if err != nil {
		return err
	}
	if err := c.Emit(EventTaskUpdated, taskOut(t)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, taskOut(t))
}

// deleteTask: DELETE /api/v1/projects/{id}/tasks/{task_id}
func deleteTask(c *sdk.Context, svc *app.Service) error {
	projectID, taskID, err := taskIDs(c)
	if err != nil {
		return err
	}
	if err := svc.DeleteTask(c, projectID, taskID); err != nil {
		return err
	}
	if err := c.Emit(EventTaskDeleted, TaskDeleted{ID: taskID.String(), ProjectID: projectID.String()}); err != nil {
		return err
	}
	return c.NoContent()
}
