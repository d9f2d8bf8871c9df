package api

import (
	"time"

	"github.com/atriumhq/atrium/plugins/projects/internal/domain"
)

// Project is a project as clients see it.
type Project struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Status      string    `json:"status"`
	OwnerID     string    `json:"owner_id"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ProjectList is one page of projects.
type ProjectList struct {
	Items      []Project `json:"items"`
	NextCursor *string   `json:"next_cursor"`
}

// CreateProjectRequest is the body of POST /api/v1/projects. The creator
// owns the project; it starts active.
type CreateProjectRequest struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// UpdateProjectRequest is the body of PATCH /api/v1/projects/{id}: the
// fields to change, none of which may be null. An archived project accepts
// only "status": "active" (with other changes or not).
type UpdateProjectRequest struct {
	Name        *string `json:"name,omitempty"`
	Description *string `json:"description,omitempty"`
	Status      *string `json:"status,omitempty"`
}

// Task is a task as clients see it; assignee_id and due_date are null when
// unset.
type Task struct {
	ID         string    `json:"id"`
	ProjectID  string    `json:"project_id"`
	Title      string    `json:"title"`
	Status     string    `json:"status"`
	AssigneeID *string   `json:"assignee_id"`
	DueDate    *string   `json:"due_date"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// TaskList is one page of a project's tasks.
type TaskList struct {
	Items      []Task  `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// CreateTaskRequest is the body of POST /api/v1/projects/{id}/tasks. A new
// task is in status todo; due_date is a date, 2025-01-31.
type CreateTaskRequest struct {
	Title      string  `json:"title"`
	AssigneeID *string `json:"assignee_id,omitempty"`
	DueDate    *string `json:"due_date,omitempty"`
}

// UpdateTaskRequest is the body of PATCH .../tasks/{task_id}: the fields to
// change. assignee_id and due_date may be null, which clears them; title
// and status may not.
type UpdateTaskRequest struct {
	Title      *string `json:"title,omitempty"`
	Status     *string `json:"status,omitempty"`
	AssigneeID *string `json:"assignee_id,omitempty"`
	DueDate    *string `json:"due_date,omitempty"`
}

// ProjectDeleted is the payload of projects.project.deleted.
type ProjectDeleted struct {
	ID string `json:"id"`
}

// TaskDeleted is the payload of projects.task.deleted.
type TaskDeleted struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
}

func projectOut(p *domain.Project) Project {
	return Project{
		ID: p.ID().String(), Name: p.Name(), Description: p.Description(), Status: string(p.Status()),
		OwnerID: p.OwnerID().String(), CreatedAt: p.CreatedAt(), UpdatedAt: p.UpdatedAt(),
	}
}

func taskOut(t *domain.Task) Task {
	out := Task{
		ID: t.ID().String(), ProjectID: t.ProjectID().String(), Title: t.Title(), Status: string(t.Status()),
		CreatedAt: t.CreatedAt(), UpdatedAt: t.UpdatedAt(),
	}
	if a := t.AssigneeID(); a != nil {
		s := a.String()
		out.AssigneeID = &s
	}
	if d := t.DueDate(); d != nil {
		s := d.String()
		out.DueDate = &s
	}
	return out
}

// cursor is a page's next_cursor: null on the last page.
func cursor(next string) *string {
	if next == "" {
		return nil
	}
	return &next
}
