// Package api is the projects plugin's HTTP port: its manifest (routes,
// permissions, migrations) and the handlers that turn requests into use
// cases of package app and their results into JSON.
package api

import (
	"net/http"

	"github.com/atriumhq/atrium/plugins/projects/internal/app"
	"github.com/atriumhq/atrium/plugins/projects/internal/store"
	"github.com/atriumhq/atrium/sdk"
)

// Version is the plugin's version, which the catalog records on
// registration: bump it with every release.
const Version = "1.0.0"

// Plugin is the projects plugin as sdk.Serve and sdk/plugintest take it.
// Its routes live under /api/v1/projects.
func Plugin() sdk.Plugin {
	return sdk.Plugin{
		Name:        "projects",
		Version:     Version,
		Permissions: permissions,
		Migrations:  store.Migrations(),
		Emits:       emits,
		Routes: []sdk.Route{
			{Method: http.MethodGet, Path: "", Permission: app.ProjectRead, Summary: "List projects",
				Response: ProjectList{}, Handler: handle(listProjects)},
			{Method: http.MethodPost, Path: "", Permission: app.ProjectCreate, Mutates: true, Summary: "Create a project",
				Request: CreateProjectRequest{}, Response: Project{}, Handler: handle(createProject)},
			{Method: http.MethodGet, Path: "/{id}", Permission: app.ProjectRead, Summary: "Get a project",
				Response: Project{}, Handler: handle(getProject)},
			{Method: http.MethodPatch, Path: "/{id}", Permission: app.ProjectUpdate, Mutates: true, Summary: "Update a project",
				Request: UpdateProjectRequest{}, Response: Project{}, Handler: handle(updateProject)},
			{Method: http.MethodDelete, Path: "/{id}", Permission: app.ProjectDelete, Mutates: true,
				Summary: "Delete a project and its tasks", Handler: handle(deleteProject)},

			{Method: http.MethodGet, Path: "/{id}/tasks", Permission: app.TaskRead, Summary: "List a project's tasks",
				Response: TaskList{}, Handler: handle(listTasks)},
			{Method: http.MethodPost, Path: "/{id}/tasks", Permission: app.TaskCreate, Mutates: true, Summary: "Add a task to a project",
				Request: CreateTaskRequest{}, Response: Task{}, Handler: handle(createTask)},
			{Method: http.MethodGet, Path: "/{id}/tasks/{task_id}", Permission: app.TaskRead, Summary: "Get a task",
				Response: Task{}, Handler: handle(getTask)},
			{Method: http.MethodPatch, Path: "/{id}/tasks/{task_id}", Permission: app.TaskUpdate, Mutates: true, Summary: "Update a task",
				Request: UpdateTaskRequest{}, Response: Task{}, Handler: handle(updateTask)},
			{Method: http.MethodDelete, Path: "/{id}/tasks/{task_id}", Permission: app.TaskDelete, Mutates: true,
				Summary: "Delete a task", Handler: handle(deleteTask)},
		},
	}
}

// The integration events the plugin emits (docs/events.md), each when its
// change commits.
const (
	EventProjectCreated = "projects.project.created"
	EventProjectUpdated = "projects.project.updated"
	EventProjectDeleted = "projects.project.deleted"
	EventTaskCreated    = "projects.task.created"
	EventTaskUpdated    = "projects.task.updated"
	EventTaskDeleted    = "projects.task.deleted"
)

var emits = []sdk.EventType{
	{Type: EventProjectCreated, Description: "A project was created: the project as GET returns it", Payload: Project{}},
	{Type: EventProjectUpdated, Description: "A project was changed: the project as it is now", Payload: Project{}},
	{Type: EventProjectDeleted, Description: "A project was deleted, with its tasks", Payload: ProjectDeleted{}},
	{Type: EventTaskCreated, Description: "A task was added: the task as GET returns it", Payload: Task{}},
	{Type: EventTaskUpdated, Description: "A task was changed: the task as it is now", Payload: Task{}},
	{Type: EventTaskDeleted, Description: "A task was deleted", Payload: TaskDeleted{}},
}

// permissions leave Roles empty: the core's defaults by verb are what we
// want (admin all; member read, create, update; viewer read).
var permissions = []sdk.Permission{
	{Name: app.ProjectRead, Description: "List and read projects"},
	{Name: app.ProjectCreate, Description: "Create projects (the creator owns them)"},
	{Name: app.ProjectUpdate, Description: "Rename, describe, archive and un-archive projects"},
	{Name: app.ProjectDelete, Description: "Delete projects with all their tasks"},
	{Name: app.TaskRead, Description: "List and read the tasks of projects"},
	{Name: app.TaskCreate, Description: "Add tasks to active projects"},
	{Name: app.TaskUpdate, Description: "Edit, assign, schedule and move tasks through their workflow"},
	{Name: app.TaskDelete, Description: "Delete tasks of active projects"},
}
