package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/plugins/projects/internal/domain"
	"github.com/atriumhq/atrium/sdk/query"
)

// CreateTask is the input of a new task.
type CreateTask struct {
	Title      string
	AssigneeID *uuid.UUID
	DueDate    *domain.Date
}

// CreateTask adds a task to a project. The task does not exist yet, so the
// decision is about its project: the policy sees projects.task.create on
// the project (type "project", its status, owner and name), which lets a
// tenant refuse new tasks in some projects.
func (s *Service) CreateTask(ctx context.Context, projectID uuid.UUID, in CreateTask) (*domain.Task, error) {
	id, err := s.id()
	if err != nil {
		return nil, err
	}
	t, err := s.tasks.AddTask(ctx, projectID, func(p *domain.Project) (*domain.Task, error) {
		if err := s.guard.Project(TaskCreate, p); err != nil {
			return nil, err
		}
		return domain.NewTask(id, p, in.Title, in.AssigneeID, in.DueDate, s.now())
	})
	if err != nil {
		return nil, err
	}
	if err := s.audit.Audit(map[string]any{"resource_id": id.String(), "project_id": projectID.String()}); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return t, nil
}

// GetTask returns a task of the project the principal may read.
func (s *Service) GetTask(ctx context.Context, projectID, taskID uuid.UUID) (*domain.Task, error) {
	t, err := s.tasks.GetTask(ctx, projectID, taskID)
	if err != nil {
		return nil, err
	}
	if err := s.guard.Task(TaskRead, t); err != nil {
		return nil, err
	}
	return t, nil
}

// ListTasks returns one page of a project's tasks, decided (like
// CreateTask) as projects.task.read on the project.
func (s *Service) ListTasks(ctx context.Context, projectID uuid.UUID, spec query.Spec) (domain.Page[*domain.Task], error) {
	return s.tasks.ListTasks(ctx, projectID, spec, func(p *domain.Project) error {
		return s.guard.Project(TaskRead, p)
	})
}

// UpdateTask applies a partial update the principal may make (decided on
// the task as it was) and records which fields changed.
func (s *Service) UpdateTask(ctx context.Context, projectID, taskID uuid.UUID, ch domain.TaskChanges) (*domain.Task, error) {
	var changes []domain.Change
	t, err := s.tasks.UpdateTask(ctx, projectID, taskID, func(p *domain.Project, t *domain.Task) error {
		if err := s.guard.Task(TaskUpdate, t); err != nil {
			return err
		}
		var err error
		changes, err = t.Apply(ch, p, s.now())
		return err
	})
	if err != nil {
		return nil, err
	}
	detail := map[string]any{"project_id": projectID.String(), "task_id": taskID.String()}
	if err := s.auditChanges(detail, changes); err != nil {
		return nil, err
	}
	return t, nil
}

// DeleteTask deletes a task, unless its project is archived.
func (s *Service) DeleteTask(ctx context.Context, projectID, taskID uuid.UUID) error {
	return s.tasks.DeleteTask(ctx, projectID, taskID, func(p *domain.Project, t *domain.Task) error {
		if err := s.guard.Task(TaskDelete, t); err != nil {
			return err
		}
		return t.CanBeDeleted(p)
	})
}
