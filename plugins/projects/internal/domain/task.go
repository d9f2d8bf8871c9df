package domain

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// TaskStatus is where a task stands in the workflow.
type TaskStatus string

// The task statuses.
const (
	TaskTodo  TaskStatus = "todo"
	TaskDoing TaskStatus = "doing"
	TaskDone  TaskStatus = "done"
)

// transitions is the task workflow. Work is started before it is finished,
// so "doing" is never skipped on the way to done; it can be put back to
// todo; a done task can be reopened, back to todo.
//
//	todo  -> doing   start
//	doing -> todo    put back
//	doing -> done    finish
//	done  -> todo    reopen
var transitions = map[TaskStatus][]TaskStatus{
	TaskTodo:  {TaskDoing},
	TaskDoing: {TaskTodo, TaskDone},
	TaskDone:  {TaskTodo},
}

// ParseTaskStatus reads a status from input or storage.
func ParseTaskStatus(s string) (TaskStatus, error) {
	switch st := TaskStatus(s); st {
	case TaskTodo, TaskDoing, TaskDone:
		return st, nil
	}
	return "", fmt.Errorf("must be one of %s, %s, %s", TaskTodo, TaskDoing, TaskDone)
}

// CanBecome reports whether the workflow lets a task go from s to next.
// Staying where it is always is allowed.
func (s TaskStatus) CanBecome(next TaskStatus) bool {
	return s == next || slices.Contains(transitions[s], next)
}

// Task is a piece of work inside a project.
type Task struct {
	id         uuid.UUID
	projectID  uuid.UUID
	title      string
	status     TaskStatus
	assigneeID *uuid.UUID
	dueDate    *Date
	createdAt  time.Time
	updatedAt  time.Time
}

// NewTask adds a task, in status todo, to project p. The title is required,
// one line, at most MaxTitleLen characters; assignee and due date are
// optional. An archived project takes no new tasks (ConflictError).
func NewTask(id uuid.UUID, p *Project, title string, assignee *uuid.UUID, due *Date, now time.Time) (*Task, error) {
	var fe fieldErrors
	t := &Task{
		id:         id,
		projectID:  p.ID(),
		title:      checkLabel(&fe, "title", title, MaxTitleLen),
		status:     TaskTodo,
		assigneeID: assignee,
		dueDate:    due,
		createdAt:  now,
		updatedAt:  now,
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	if err := p.CanTakeTasks(); err != nil {
		return nil, err
	}
	return t, nil
}

// UnmarshalTaskFromStorage rebuilds a stored task without checking rules;
// only an unknown status (corrupt storage) is an error.
func UnmarshalTaskFromStorage(id, projectID uuid.UUID, title, status string, assignee *uuid.UUID, due *Date,
	createdAt, updatedAt time.Time,
) (*Task, error) {
	st, err := ParseTaskStatus(status)
	if err != nil {
		return nil, fmt.Errorf("task %s: status %q %w", id, status, err)
	}
	return &Task{id: id, projectID: projectID, title: title, status: st, assigneeID: assignee, dueDate: due,
		createdAt: createdAt, updatedAt: updatedAt}, nil
}

func (t *Task) ID() uuid.UUID          { return t.id }
func (t *Task) ProjectID() uuid.UUID   { return t.projectID }
func (t *Task) Title() string          { return t.title }
func (t *Task) Status() TaskStatus     { return t.status }
func (t *Task) AssigneeID() *uuid.UUID { return t.assigneeID }
func (t *Task) DueDate() *Date         { return t.dueDate }
func (t *Task) CreatedAt() time.Time   { return t.createdAt }
func (t *Task) UpdatedAt() time.Time   { return t.updatedAt }

// Clearable is a change to a field that may be emptied: unset leaves the
// field alone, set with a nil Value clears it.
type Clearable[T any] struct {
	Set   bool
	Value *T
}

// TaskChanges is a partial update: nil or unset fields stay as they are.
type TaskChanges struct {
	Title      *string
	Status     *TaskStatus
	AssigneeID Clearable[uuid.UUID]
	DueDate    Clearable[Date]
}

// Apply updates the task, which belongs to project p, and returns what
// actually changed; updated_at moves only when something did. The tasks of
// an archived project cannot change (ConflictError), and a status change
// must follow the workflow (ConflictError naming both statuses).
func (t *Task) Apply(ch TaskChanges, p *Project, now time.Time) ([]Change, error) {
	var fe fieldErrors
	next := *t
	if ch.Title != nil {
		next.title = checkLabel(&fe, "title", *ch.Title, MaxTitleLen)
	}
	if err := fe.err(); err != nil {
		return nil, err
	}
	if err := p.CanTakeTasks(); err != nil {
		return nil, err
	}
	if ch.Status != nil {
		if !t.status.CanBecome(*ch.Status) {
			return nil, &ConflictError{Reason: fmt.Sprintf("a task cannot go from %s to %s; allowed from %s: %v",
				t.status, *ch.Status, t.status, transitions[t.status])}
		}
		next.status = *ch.Status
	}
	if ch.AssigneeID.Set {
		next.assigneeID = ch.AssigneeID.Value
	}
	if ch.DueDate.Set {
		next.dueDate = ch.DueDate.Value
	}

	var changes []Change
	if next.title != t.title {
		changes = append(changes, Change{Field: "title"})
	}
	if next.status != t.status {
		changes = append(changes, Change{Field: "status", From: string(t.status), To: string(next.status)})
	}
	if !equalPtr(next.assigneeID, t.assigneeID, func(a, b uuid.UUID) bool { return a == b }) {
		changes = append(changes, Change{Field: "assignee_id", From: stringOrNil(t.assigneeID), To: stringOrNil(next.assigneeID)})
	}
	if !equalPtr(next.dueDate, t.dueDate, Date.Equal) {
		changes = append(changes, Change{Field: "due_date", From: stringOrNil(t.dueDate), To: stringOrNil(next.dueDate)})
	}
	if len(changes) > 0 {
		next.updatedAt = now
		*t = next
	}
	return changes, nil
}

// CanBeDeleted reports whether the task may go: not while its project is
// archived.
func (t *Task) CanBeDeleted(p *Project) error { return p.CanTakeTasks() }

func equalPtr[T any](a, b *T, eq func(T, T) bool) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return eq(*a, *b)
}

// stringOrNil is the audit log's form of an optional value.
func stringOrNil[T fmt.Stringer](v *T) any {
	if v == nil {
		return nil
	}
	return (*v).String()
}
