package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/plugins/projects/internal/domain"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/query"
)

const (
	taskColumns = "id, project_id, title, status, assignee_id, due_date, created_at, updated_at"
	selectTask  = "SELECT " + taskColumns + " FROM projects_tasks WHERE id = $1 AND project_id = $2"
	lockTask    = selectTask + " FOR UPDATE"
)

func scanTask(rows *sdk.Rows) (*domain.Task, error) {
	var (
		id, projectID        uuid.UUID
		title, status        string
		assignee             uuid.NullUUID
		due                  *time.Time
		createdAt, updatedAt time.Time
	)
	if err := rows.Scan(&id, &projectID, &title, &status, &assignee, &due, &createdAt, &updatedAt); err != nil {
		return nil, fmt.Errorf("scan task: %w", err)
	}
	var assigneeID *uuid.UUID
	if assignee.Valid {
		assigneeID = &assignee.UUID
	}
	var dueDate *domain.Date
	if due != nil {
		d := domain.DateOf(*due)
		dueDate = &d
	}
	return domain.UnmarshalTaskFromStorage(id, projectID, title, status, assigneeID, dueDate, createdAt, updatedAt)
}

// dateArg is a due date as a DATE argument: "2025-01-31", or NULL.
func dateArg(d *domain.Date) any {
	if d == nil {
		return nil
	}
	return d.String()
}

// AddTask locks the project against a concurrent archive (FOR SHARE), lets
// build make the task, and inserts it.
func (s *Store) AddTask(ctx context.Context, projectID uuid.UUID, build func(*domain.Project) (*domain.Task, error)) (*domain.Task, error) {
	p, err := s.project(ctx, lockProjectShare, projectID)
	if err != nil {
		return nil, err
	}
	t, err := build(p)
	if err != nil {
		return nil, err
	}
	_, err = s.db.Exec(ctx, "INSERT INTO projects_tasks ("+taskColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
		t.ID(), t.ProjectID(), t.Title(), string(t.Status()), t.AssigneeID(), dateArg(t.DueDate()), t.CreatedAt(), t.UpdatedAt())
	if err != nil {
		return nil, fmt.Errorf("insert task: %w", err)
	}
	return t, nil
}

// GetTask reads one task of a project.
func (s *Store) GetTask(ctx context.Context, projectID, taskID uuid.UUID) (*domain.Task, error) {
	rows, err := s.db.Query(ctx, selectTask, taskID, projectID)
	if err != nil {
		return nil, fmt.Errorf("read task: %w", err)
	}
	return first(rows, scanTask, "task", taskID)
}

// locked reads a project (locked FOR SHARE, so it cannot be archived
// meanwhile) and one of its tasks (locked FOR UPDATE) in one round trip.
func (s *Store) locked(ctx context.Context, projectID, taskID uuid.UUID) (*domain.Project, *domain.Task, error) {
	res, err := s.db.Batch(ctx,
		sdk.Statement{SQL: lockProjectShare, Args: []any{projectID}},
		sdk.Statement{SQL: lockTask, Args: []any{taskID, projectID}},
	)
	if err != nil {
		return nil, nil, fmt.Errorf("read project and task: %w", err)
	}
	p, err := first(res[0].Rows, scanProject, "project", projectID)
	if err != nil {
		return nil, nil, err
	}
	t, err := first(res[1].Rows, scanTask, "task", taskID)
	if err != nil {
		return nil, nil, err
	}
	return p, t, nil
}

// UpdateTask locks the task and its project, lets update change the task,
// and writes it back if it changed (the domain moves updated_at only then).
func (s *Store) UpdateTask(ctx context.Context, projectID, taskID uuid.UUID, update func(*domain.Project, *domain.Task) error) (*domain.Task, error) {
	p, t, err := s.locked(ctx, projectID, taskID)
	if err != nil {
		return nil, err
	}
	before := t.UpdatedAt()
	if err := update(p, t); err != nil {
		return nil, err
	}
	if t.UpdatedAt().Equal(before) {
		return t, nil
	}
	_, err = s.db.Exec(ctx, "UPDATE projects_tasks SET title = $2, status = $3, assignee_id = $4, due_date = $5, updated_at = $6 WHERE id = $1",
		t.ID(), t.Title(), string(t.Status()), t.AssigneeID(), dateArg(t.DueDate()), t.UpdatedAt())
	if err != nil {
		return nil, fmt.Errorf("update task: %w", err)
	}
	return t, nil
}

// DeleteTask locks the task and its project, lets check refuse, and
// deletes the task.
func (s *Store) DeleteTask(ctx context.Context, projectID, taskID uuid.UUID, check func(*domain.Project, *domain.Task) error) error {
	p, t, err := s.locked(ctx, projectID, taskID)
	if err != nil {
		return err
	}
	if err := check(p, t); err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, "DELETE FROM projects_tasks WHERE id = $1", taskID); err != nil {
		return fmt.Errorf("delete task: %w", err)
	}
	return nil
}

// ListTasks reads the project and one page of its tasks in one round trip.
// The project id constrains the page here whatever the spec's scope says,
// so a spec built without it can never list another project's tasks.
func (s *Store) ListTasks(ctx context.Context, projectID uuid.UUID, spec query.Spec, check func(*domain.Project) error) (domain.Page[*domain.Task], error) {
	var none domain.Page[*domain.Task]
	c, err := query.SQL(spec, 1)
	if err != nil {
		return none, err
	}
	res, err := s.db.Batch(ctx,
		sdk.Statement{SQL: selectProject, Args: []any{projectID}},
		sdk.Statement{
			SQL:  "SELECT " + taskColumns + " FROM projects_tasks WHERE project_id = $1 AND " + c.Where + " " + c.OrderLimit,
			Args: append([]any{projectID}, c.Args...),
		},
	)
	if err != nil {
		return none, fmt.Errorf("list tasks: %w", err)
	}
	p, err := first(res[0].Rows, scanProject, "project", projectID)
	if err != nil {
		return none, err
	}
	if err := check(p); err != nil {
		return none, err
	}
	items, err := all(res[1].Rows, scanTask)
	if err != nil {
		return none, err
	}
	return page(spec, items, func(t *domain.Task) map[string]any {
		return map[string]any{"id": t.ID(), "title": t.Title(), "due_date": dateArg(t.DueDate()), "created_at": t.CreatedAt()}
	})
}
