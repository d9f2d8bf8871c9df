package domain

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ProjectStatus is where a project stands.
type ProjectStatus string

// The project statuses. An archived project is frozen: see Project.Apply
// and NewTask.
const (
	ProjectActive   ProjectStatus = "active"
	ProjectArchived ProjectStatus = "archived"
)

// ParseProjectStatus reads a status from input or storage.
func ParseProjectStatus(s string) (ProjectStatus, error) {
	switch st := ProjectStatus(s); st {
	case ProjectActive, ProjectArchived:
		return st, nil
	}
	return "", fmt.Errorf("must be one of %s, %s", ProjectActive, ProjectArchived)
}

// Project is a body of work its owner started. Its fields are private so
// that every change goes through the rules below.
type Project struct {
	id          uuid.UUID
	name        string
	description string
	status      ProjectStatus
	ownerID     uuid.UUID
	createdAt   time.Time
	updatedAt   time.Time
}

// NewProject starts an active project owned by owner, checking the name
// (required, one line, at most MaxNameLen characters) and the description
// (at most MaxDescriptionLen characters).
func NewProject(id uuid.UUID, name, description string, owner uuid.UUID, now time.Time) (*Project, error) {
	var fe fieldErrors
	p := &Project{
		id:          id,
		name:        checkLabel(&fe, "name", name, MaxNameLen),
		description: checkProse(&fe, "description", description, MaxDescriptionLen),
		status:      ProjectActive,
		ownerID:     owner,
		createdAt:   now,
		updatedAt:   now,
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// UnmarshalProjectFromStorage rebuilds a stored project. It checks no rule
// (they held when the project was written); only an unknown status, which
// means the storage is corrupt, is an error.
func UnmarshalProjectFromStorage(id uuid.UUID, name, description, status string, owner uuid.UUID, createdAt, updatedAt time.Time) (*Project, error) {
	st, err := ParseProjectStatus(status)
	if err != nil {
		return nil, fmt.Errorf("project %s: status %q %w", id, status, err)
	}
	return &Project{id: id, name: name, description: description, status: st, ownerID: owner,
		createdAt: createdAt, updatedAt: updatedAt}, nil
}

func (p *Project) ID() uuid.UUID          { return p.id }
func (p *Project) Name() string           { return p.name }
func (p *Project) Description() string    { return p.description }
func (p *Project) Status() ProjectStatus  { return p.status }
func (p *Project) OwnerID() uuid.UUID     { return p.ownerID }
func (p *Project) CreatedAt() time.Time   { return p.createdAt }
func (p *Project) UpdatedAt() time.Time   { return p.updatedAt }
func (p *Project) Archived() bool         { return p.status == ProjectArchived }
func (p *Project) sameAs(q *Project) bool { return *p == *q }

// ProjectChanges is a partial update: nil fields stay as they are.
type ProjectChanges struct {
	Name        *string
	Description *string
	Status      *ProjectStatus
}

// Change is one field an update changed. From and To are set for the
// fields worth recording in the audit log (statuses, assignees, dates), not
// for free text.
type Change struct {
	Field    string
	From, To any
}

// Apply updates the project and returns what actually changed; updated_at
// moves only when something did.
//
// An archived project is read-only: the only change it accepts is being
// un-archived (status: active), and that change may come with other edits
// in the same request. Anything else is a ConflictError.
func (p *Project) Apply(ch ProjectChanges, now time.Time) ([]Change, error) {
	var fe fieldErrors
	next := *p
	if ch.Name != nil {
		next.name = checkLabel(&fe, "name", *ch.Name, MaxNameLen)
	}
	if ch.Description != nil {
		next.description = checkProse(&fe, "description", *ch.Description, MaxDescriptionLen)
	}
	if ch.Status != nil {
		next.status = *ch.Status
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	if p.Archived() && next.status == ProjectArchived && !next.sameAs(p) {
		return nil, &ConflictError{Reason: "the project is archived: un-archive it (status: active) to edit it"}
	}
	var changes []Change
	if next.name != p.name {
		changes = append(changes, Change{Field: "name"})
	}
	if next.description != p.description {
		changes = append(changes, Change{Field: "description"})
	}
	if next.status != p.status {
		changes = append(changes, Change{Field: "status", From: string(p.status), To: string(next.status)})
	}
	if len(changes) > 0 {
		next.updatedAt = now
		*p = next
	}
	return changes, nil
}

// CanTakeTasks reports, as a ConflictError, that an archived project takes
// no new tasks and lets none of its tasks change.
func (p *Project) CanTakeTasks() error {
	if p.Archived() {
		return &ConflictError{Reason: "the project is archived: its tasks cannot be added, changed or deleted"}
	}
	return nil
}
