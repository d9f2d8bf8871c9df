// Package domain holds the projects bounded context's rules: projects and
// tasks, the statuses they move through, and what each state forbids. It
// knows no SQL and no HTTP; it declares the repositories it needs.
package domain

import (
	"context"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/sdk/query"
)

// Page is one page of a list and the cursor of the next ("" for none).
type Page[T any] struct {
	Items      []T
	NextCursor string
}

// ProjectRepository stores projects. Updates take a closure, in the manner
// of wild-workouts: the repository loads and locks the project, the closure
// applies the rules (and the authorization check) to it, and the repository
// writes the result, all in the request's transaction. A closure's error
// aborts the operation and is returned as is.
type ProjectRepository interface {
	AddProject(ctx context.Context, p *Project) error
	// GetProject returns a NotFoundError when there is no such project.
	GetProject(ctx context.Context, id uuid.UUID) (*Project, error)
	// UpdateProject writes the project only if update changed it.
	UpdateProject(ctx context.Context, id uuid.UUID, update func(p *Project) error) (*Project, error)
	DeleteProject(ctx context.Context, id uuid.UUID, check func(p *Project) error) error
	ListProjects(ctx context.Context, spec query.Spec) (Page[*Project], error)
}

// TaskRepository stores tasks. Every operation loads the task's project
// with it (in the same round trip), because the project's state decides
// what may happen to its tasks; a missing project is a NotFoundError for
// the project, a missing task one for the task.
type TaskRepository interface {
	// AddTask loads the project, lets build make the task, and stores it.
	AddTask(ctx context.Context, projectID uuid.UUID, build func(p *Project) (*Task, error)) (*Task, error)
	GetTask(ctx context.Context, projectID, taskID uuid.UUID) (*Task, error)
	// UpdateTask writes the task only if update changed it.
	UpdateTask(ctx context.Context, projectID, taskID uuid.UUID, update func(p *Project, t *Task) error) (*Task, error)
	DeleteTask(ctx context.Context, projectID, taskID uuid.UUID, check func(p *Project, t *Task) error) error
	// ListTasks lets check see the project before the page is returned.
	ListTasks(ctx context.Context, projectID uuid.UUID, spec query.Spec, check func(p *Project) error) (Page[*Task], error)
}
