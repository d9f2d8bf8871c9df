package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/plugins/projects/internal/domain"
)

var (
	t0 = time.Date(2025, 1, 31, 9, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
)

func ptr[T any](v T) *T { return &v }

func fieldsOf(t *testing.T, err error) []string {
	t.Helper()
	var ve *domain.ValidationError
	require.ErrorAs(t, err, &ve)
	var out []string
	for _, f := range ve.Fields {
		out = append(out, f.Field)
	}
	return out
}

func isConflict(err error) bool {
	var ce *domain.ConflictError
	return errors.As(err, &ce)
}

func project(t *testing.T) *domain.Project {
	t.Helper()
	p, err := domain.NewProject(uuid.New(), "  Apollo  ", "to the moon", uuid.New(), t0)
	require.NoError(t, err)
	return p
}

func TestNewProject(t *testing.T) {
	p := project(t)
	assert.Equal(t, "Apollo", p.Name(), "surrounding blanks dropped")
	assert.Equal(t, domain.ProjectActive, p.Status())
	assert.Equal(t, t0, p.CreatedAt())

	for name, tt := range map[string]struct {
		name, description string
		fields            []string
	}{
		"empty name":       {"", "", []string{"name"}},
		"blank name":       {" \t ", "", []string{"name"}},
		"long name":        {strings.Repeat("é", domain.MaxNameLen+1), "", []string{"name"}},
		"two-line name":    {"a\nb", "", []string{"name"}},
		"NUL description":  {"a", "x\x00y", []string{"description"}},
		"long description": {"a", strings.Repeat("x", domain.MaxDescriptionLen+1), []string{"description"}},
		"both":             {"", strings.Repeat("x", domain.MaxDescriptionLen+1), []string{"name", "description"}},
	} {
		_, err := domain.NewProject(uuid.New(), tt.name, tt.description, uuid.New(), t0)
		assert.Equal(t, tt.fields, fieldsOf(t, err), name)
	}
	_, err := domain.NewProject(uuid.New(), strings.Repeat("é", domain.MaxNameLen), "line\nbreaks\tand tabs", uuid.New(), t0)
	assert.NoError(t, err, "limits count characters, not bytes")
}

func TestProjectApply(t *testing.T) {
	p := project(t)
	changes, err := p.Apply(domain.ProjectChanges{Name: ptr("Apollo"), Description: ptr("to the moon")}, t1)
	require.NoError(t, err)
	assert.Empty(t, changes, "same values change nothing")
	assert.Equal(t, t0, p.UpdatedAt())

	changes, err = p.Apply(domain.ProjectChanges{Name: ptr("Artemis"), Status: ptr(domain.ProjectArchived)}, t1)
	require.NoError(t, err)
	assert.Equal(t, []domain.Change{{Field: "name"}, {Field: "status", From: "active", To: "archived"}}, changes)
	assert.Equal(t, t1, p.UpdatedAt())
	assert.True(t, p.Archived())

	_, err = p.Apply(domain.ProjectChanges{Name: ptr("")}, t1)
	assert.Equal(t, []string{"name"}, fieldsOf(t, err), "validation before state")
}

func TestArchivedProjectIsReadOnlyUntilUnarchived(t *testing.T) {
	p := project(t)
	_, err := p.Apply(domain.ProjectChanges{Status: ptr(domain.ProjectArchived)}, t1)
	require.NoError(t, err)

	_, err = p.Apply(domain.ProjectChanges{Name: ptr("Renamed")}, t1)
	assert.True(t, isConflict(err), "an edit of an archived project: %v", err)
	_, err = p.Apply(domain.ProjectChanges{Name: ptr("Renamed"), Status: ptr(domain.ProjectArchived)}, t1)
	assert.True(t, isConflict(err), "staying archived does not allow edits")
	assert.Equal(t, "Apollo", p.Name(), "a refused change changes nothing")

	changes, err := p.Apply(domain.ProjectChanges{Status: ptr(domain.ProjectArchived)}, t1)
	require.NoError(t, err, "archiving again is a no-op")
	assert.Empty(t, changes)

	changes, err = p.Apply(domain.ProjectChanges{Name: ptr("Renamed"), Status: ptr(domain.ProjectActive)}, t1)
	require.NoError(t, err, "un-archiving may come with edits")
	assert.Len(t, changes, 2)
	assert.False(t, p.Archived())
}

func TestNewTask(t *testing.T) {
	p := project(t)
	assignee := uuid.New()
	due, err := domain.ParseDate("2025-02-28")
	require.NoError(t, err)
	task, err := domain.NewTask(uuid.New(), p, " Launch ", &assignee, &due, t0)
	require.NoError(t, err)
	assert.Equal(t, "Launch", task.Title())
	assert.Equal(t, domain.TaskTodo, task.Status())
	assert.Equal(t, p.ID(), task.ProjectID())
	assert.Equal(t, "2025-02-28", task.DueDate().String())

	_, err = domain.NewTask(uuid.New(), p, "", nil, nil, t0)
	assert.Equal(t, []string{"title"}, fieldsOf(t, err))

	_, err = p.Apply(domain.ProjectChanges{Status: ptr(domain.ProjectArchived)}, t1)
	require.NoError(t, err)
	_, err = domain.NewTask(uuid.New(), p, "Late", nil, nil, t1)
	assert.True(t, isConflict(err), "an archived project takes no new tasks: %v", err)
}

func TestTaskWorkflow(t *testing.T) {
	allowed := map[[2]domain.TaskStatus]bool{
		{domain.TaskTodo, domain.TaskDoing}: true,
		{domain.TaskDoing, domain.TaskTodo}: true,
		{domain.TaskDoing, domain.TaskDone}: true,
		{domain.TaskDone, domain.TaskTodo}:  true,
	}
	all := []domain.TaskStatus{domain.TaskTodo, domain.TaskDoing, domain.TaskDone}
	for _, from := range all {
		for _, to := range all {
			want := from == to || allowed[[2]domain.TaskStatus{from, to}]
			assert.Equal(t, want, from.CanBecome(to), "%s -> %s", from, to)
		}
	}

	p := project(t)
	task, err := domain.NewTask(uuid.New(), p, "Launch", nil, nil, t0)
	require.NoError(t, err)
	_, err = task.Apply(domain.TaskChanges{Status: ptr(domain.TaskDone)}, p, t1)
	assert.True(t, isConflict(err), "todo -> done skips doing")
	assert.Contains(t, err.Error(), "from todo to done")

	changes, err := task.Apply(domain.TaskChanges{Status: ptr(domain.TaskDoing)}, p, t1)
	require.NoError(t, err)
	assert.Equal(t, []domain.Change{{Field: "status", From: "todo", To: "doing"}}, changes)
}

func TestTaskApplyClearsAndSets(t *testing.T) {
	p := project(t)
	a, b := uuid.New(), uuid.New()
	due := domain.DateOf(t0)
	task, err := domain.NewTask(uuid.New(), p, "Launch", &a, &due, t0)
	require.NoError(t, err)

	changes, err := task.Apply(domain.TaskChanges{AssigneeID: domain.Clearable[uuid.UUID]{Set: true, Value: &a}}, p, t1)
	require.NoError(t, err)
	assert.Empty(t, changes, "the same assignee is no change")
	assert.Equal(t, t0, task.UpdatedAt())

	changes, err = task.Apply(domain.TaskChanges{
		AssigneeID: domain.Clearable[uuid.UUID]{Set: true, Value: &b},
		DueDate:    domain.Clearable[domain.Date]{Set: true},
	}, p, t1)
	require.NoError(t, err)
	assert.Equal(t, []domain.Change{
		{Field: "assignee_id", From: a.String(), To: b.String()},
		{Field: "due_date", From: "2025-01-31", To: nil},
	}, changes)
	assert.Nil(t, task.DueDate())
	assert.Equal(t, t1, task.UpdatedAt())
}

func TestTasksOfArchivedProjectsAreFrozen(t *testing.T) {
	p := project(t)
	task, err := domain.NewTask(uuid.New(), p, "Launch", nil, nil, t0)
	require.NoError(t, err)
	_, err = p.Apply(domain.ProjectChanges{Status: ptr(domain.ProjectArchived)}, t1)
	require.NoError(t, err)

	_, err = task.Apply(domain.TaskChanges{Title: ptr("Renamed")}, p, t1)
	assert.True(t, isConflict(err))
	assert.True(t, isConflict(task.CanBeDeleted(p)))
}

func TestParsers(t *testing.T) {
	for _, s := range []string{"", "2025-02-30", "2025-1-1", "31/01/2025", "2025-01-31T00:00:00Z"} {
		_, err := domain.ParseDate(s)
		assert.Error(t, err, s)
	}
	_, err := domain.ParseTaskStatus("blocked")
	assert.EqualError(t, err, "must be one of todo, doing, done")
	_, err = domain.ParseProjectStatus("closed")
	assert.EqualError(t, err, "must be one of active, archived")
	_, err = domain.UnmarshalProjectFromStorage(uuid.New(), "a", "", "closed", uuid.New(), t0, t0)
	assert.Error(t, err, "corrupt storage")
}
