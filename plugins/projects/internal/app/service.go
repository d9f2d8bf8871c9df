// Package app holds the projects plugin's use cases: each one loads what it
// acts on, asks the guard whether the principal may, applies the domain's
// rules, stores the result and describes the change for the audit log.
// It knows neither SQL nor HTTP: the repositories, the guard and the
// auditor are interfaces the adapters implement.
package app

import (
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/plugins/projects/internal/domain"
)

// The plugin's permissions: a route needs one, and the guard is asked for
// one about the resource a use case acts on.
const (
	ProjectRead   = "projects.project.read"
	ProjectCreate = "projects.project.create"
	ProjectUpdate = "projects.project.update"
	ProjectDelete = "projects.project.delete"
	TaskRead      = "projects.task.read"
	TaskCreate    = "projects.task.create"
	TaskUpdate    = "projects.task.update"
	TaskDelete    = "projects.task.delete"
)

// Guard decides whether the principal may perform action on one existing
// resource; a refusal is an error (the SDK's Forbidden). The decision may
// come when the use case returns, before anything of its answer reaches
// the client and before its changes commit: its refusal then replaces the
// answer and the changes roll back (every effect of this plugin is in the
// request's transaction). Collection-level permissions are the route's,
// checked before a use case runs.
type Guard interface {
	Project(action string, p *domain.Project) error
	Task(action string, t *domain.Task) error
}

// Auditor adds detail to the request's audit record, which is written in
// the same transaction as the change.
type Auditor interface {
	Audit(detail map[string]any) error
}

// Service runs the use cases of one request: the repositories and the
// guard are bound to the request's unit of work and principal.
type Service struct {
	projects domain.ProjectRepository
	tasks    domain.TaskRepository
	guard    Guard
	audit    Auditor
	now      func() time.Time
	newID    func() (uuid.UUID, error)
}

// Deps are what a Service needs.
type Deps struct {
	Projects domain.ProjectRepository
	Tasks    domain.TaskRepository
	Guard    Guard
	Audit    Auditor
	// Now and NewID default to the clock (UTC, to the microsecond
	// PostgreSQL keeps) and UUIDv7, whose order follows creation time.
	Now   func() time.Time
	NewID func() (uuid.UUID, error)
}

// New returns the service of one request.
func New(d Deps) *Service {
	s := &Service{projects: d.Projects, tasks: d.Tasks, guard: d.Guard, audit: d.Audit, now: d.Now, newID: d.NewID}
	if s.now == nil {
		s.now = func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
	}
	if s.newID == nil {
		s.newID = uuid.NewV7
	}
	return s
}

func (s *Service) id() (uuid.UUID, error) {
	id, err := s.newID()
	if err != nil {
		return uuid.Nil, fmt.Errorf("new id: %w", err)
	}
	return id, nil
}

// auditChanges records an update: the fields it changed, and from and to
// values where the domain gives them.
func (s *Service) auditChanges(detail map[string]any, changes []domain.Change) error {
	if len(changes) == 0 {
		return nil
	}
	fields := make([]string, len(changes))
	for i, c := range changes {
		fields[i] = c.Field
		if c.From != nil || c.To != nil {
			detail[c.Field] = map[string]any{"from": c.From, "to": c.To}
		}
	}
	detail["changed"] = fields
	if err := s.audit.Audit(detail); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}
