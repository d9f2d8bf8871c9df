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
	projectColumns   = "id, name, description, status, owner_id, created_at, updated_at"
	selectProject    = "SELECT " + projectColumns + " FROM projects WHERE id = $1"
	lockProject      = selectProject + " FOR UPDATE"
	lockProjectShare = selectProject + " FOR SHARE"
)

func scanProject(rows *sdk.Rows) (*domain.Project, error) {
	var (
		id, owner                 uuid.UUID
		name, description, status string
		createdAt, updatedAt      time.Time
	)
	if err := rows.Scan(&id, &name, &description, &status, &owner, &createdAt, &updatedAt); err != nil {
		return nil, fmt.Errorf("scan project: %w", err)
	}
	return domain.UnmarshalProjectFromStorage(id, name, description, status, owner, createdAt, updatedAt)
}

// AddProject inserts a new project.
func (s *Store) AddProject(ctx context.Context, p *domain.Project) error {
	_, err := s.db.Exec(ctx, "INSERT INTO projects ("+projectColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7)",
		p.ID(), p.Name(), p.Description(), string(p.Status()), p.OwnerID(), p.CreatedAt(), p.UpdatedAt())
	if err != nil {
		return fmt.Errorf("insert project: %w", err)
	}
	return nil
}

// GetProject reads one project.
func (s *Store) GetProject(ctx context.Context, id uuid.UUID) (*domain.Project, error) {
	return s.project(ctx, selectProject, id)
}

func (s *Store) project(ctx context.Context, sql string, id uuid.UUID) (*domain.Project, error) {
	rows, err := s.db.Query(ctx, sql, id)
	if err != nil {
		return nil, fmt.Errorf("read project: %w", err)
	}
	return first(rows, scanProject, "project", id)
}

// UpdateProject locks the project, lets update change it, and writes it
// back if it changed (the domain moves updated_at only then).
func (s *Store) UpdateProject(ctx context.Context, id uuid.UUID, update func(*domain.Project) error) (*domain.Project, error) {
	p, err := s.project(ctx, lockProject, id)
	if err != nil {
		return nil, err
	}
	before := p.UpdatedAt()
	if err := update(p); err != nil {
		return nil, err
	}
	if p.UpdatedAt().Equal(before) {
		return p, nil
	}
	_, err = s.db.Exec(ctx, "UPDATE projects SET name = $2, description = $3, status = $4, updated_at = $5 WHERE id = $1",
		p.ID(), p.Name(), p.Description(), string(p.Status()), p.UpdatedAt())
	if err != nil {
		return nil, fmt.Errorf("update project: %w", err)
	}
	return p, nil
}

// DeleteProject locks the project, lets check refuse, and deletes it; its
// tasks go with it (ON DELETE CASCADE).
func (s *Store) DeleteProject(ctx context.Context, id uuid.UUID, check func(*domain.Project) error) error {
	p, err := s.project(ctx, lockProject, id)
	if err != nil {
		return err
	}
	if err := check(p); err != nil {
		return err
	}
	if _, err := s.db.Exec(ctx, "DELETE FROM projects WHERE id = $1", id); err != nil {
		return fmt.Errorf("delete project: %w", err)
	}
	return nil
}

// ListProjects reads one page of projects in one statement.
func (s *Store) ListProjects(ctx context.Context, spec query.Spec) (domain.Page[*domain.Project], error) {
	c, err := query.SQL(spec, 0)
	if err != nil {
		return domain.Page[*domain.Project]{}, err
	}
	rows, err := s.db.Query(ctx, "SELECT "+projectColumns+" FROM projects WHERE "+c.Where+" "+c.OrderLimit, c.Args...)
	if err != nil {
		return domain.Page[*domain.Project]{}, fmt.Errorf("list projects: %w", err)
	}
	items, err := all(rows, scanProject)
	if err != nil {
		return domain.Page[*domain.Project]{}, err
	}
	return page(spec, items, func(p *domain.Project) map[string]any {
		return map[string]any{"id": p.ID(), "name": p.Name(), "created_at": p.CreatedAt()}
	})
}
