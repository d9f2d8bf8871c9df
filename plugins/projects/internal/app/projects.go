package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/plugins/projects/internal/domain"
	"github.com/atriumhq/atrium/sdk/query"
)

// CreateProject is the input of a new project.
type CreateProject struct {
	Name        string
	Description string
}

// CreateProject starts an active project owned by the principal. The
// route's permission (projects.project.create) is the whole check: there is
// no existing resource to decide about.
func (s *Service) CreateProject(ctx context.Context, owner uuid.UUID, in CreateProject) (*domain.Project, error) {
	id, err := s.id()
	if err != nil {
		return nil, err
	}
	p, err := domain.NewProject(id, in.Name, in.Description, owner, s.now())
	if err != nil {
		return nil, err
	}
	if err := s.projects.AddProject(ctx, p); err != nil {
		return nil, err
	}
	// The core's record names the route; only the plugin knows the new id.
	// resource_id names the record's resource: the core cannot know a new id.
	if err := s.audit.Audit(map[string]any{"resource_id": id.String(), "name": p.Name()}); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return p, nil
}

// GetProject returns a project the principal may read.
func (s *Service) GetProject(ctx context.Context, id uuid.UUID) (*domain.Project, error) {
	p, err := s.projects.GetProject(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := s.guard.Project(ProjectRead, p); err != nil {
		return nil, err
	}
	return p, nil
}

// ListProjects returns one page of the tenant's projects. Lists are
// decided at the collection level (the route's projects.project.read):
// asking the policy about every row would cost a round trip per row.
func (s *Service) ListProjects(ctx context.Context, spec query.Spec) (domain.Page[*domain.Project], error) {
	return s.projects.ListProjects(ctx, spec)
}

// UpdateProject applies a partial update the principal may make (decided
// on the project as it was) and records which fields changed.
func (s *Service) UpdateProject(ctx context.Context, id uuid.UUID, ch domain.ProjectChanges) (*domain.Project, error) {
	var changes []domain.Change
	p, err := s.projects.UpdateProject(ctx, id, func(p *domain.Project) error {
		if err := s.guard.Project(ProjectUpdate, p); err != nil {
			return err
		}
		var err error
		changes, err = p.Apply(ch, s.now())
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := s.auditChanges(map[string]any{"project_id": id.String()}, changes); err != nil {
		return nil, err
	}
	return p, nil
}

// DeleteProject deletes a project and, with it, its tasks.
func (s *Service) DeleteProject(ctx context.Context, id uuid.UUID) error {
	var name string
	err := s.projects.DeleteProject(ctx, id, func(p *domain.Project) error {
		name = p.Name()
		return s.guard.Project(ProjectDelete, p)
	})
	if err != nil {
		return err
	}
	if err := s.audit.Audit(map[string]any{"project_id": id.String(), "name": name}); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}
