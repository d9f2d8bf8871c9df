package main

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/plugins/projects/internal/api"
	"github.com/atriumhq/atrium/sdk/plugintest"
)

// page is a list response of either kind.
type page[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// walk follows next_cursor from path (which has a query string) to the
// last page and returns every item and the number of pages.
func walk[T any](t *testing.T, c *plugintest.Client, path string) ([]T, int) {
	t.Helper()
	var all []T
	next := ""
	for pages := 1; pages < 100; pages++ {
		var p page[T]
		c.Get(path+next).Want(t, http.StatusOK).Decode(t, &p)
		all = append(all, p.Items...)
		if p.NextCursor == nil {
			return all, pages
		}
		require.NotEmpty(t, p.Items, "a page with a next cursor has items")
		next = "&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	t.Fatalf("%s: more than 100 pages", path)
	return nil, 0
}

func names(ps []api.Project) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

func (e *env) testProjectLists(t *testing.T) {
	// A user of its own: filtered by owner, the list holds exactly these.
	lister := e.acme.User("lister@acme.test", "member")
	var me struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	lister.Get("/api/v1/auth/me").Want(t, http.StatusOK).Decode(t, &me)
	createProject(t, e.admin, map[string]any{"name": "p-admin's"})
	var made []string
	for i, n := range []string{"c", "a", "g", "e", "b", "f", "d"} {
		p := createProject(t, lister, map[string]any{"name": "p-" + n})
		made = append(made, p.Name)
		if i%2 == 1 {
			lister.Patch(projectPath(p.ID), map[string]any{"status": "archived"}).Want(t, http.StatusOK)
		}
	}
	sorted := slices.Sorted(slices.Values(made))
	base := "/api/v1/projects?owner_id=" + me.User.ID

	got, pages := walk[api.Project](t, e.viewer, base+"&limit=3")
	assert.Equal(t, reversed(made), names(got), "newest first by default")
	assert.Equal(t, 3, pages)

	got, pages = walk[api.Project](t, e.viewer, base+"&limit=2&sort=name")
	assert.Equal(t, sorted, names(got))
	assert.Equal(t, 4, pages)

	got, _ = walk[api.Project](t, e.viewer, base+"&limit=1&sort=-name")
	assert.Equal(t, reversed(sorted), names(got))

	got, _ = walk[api.Project](t, e.viewer, base+"&limit=2&sort=created_at&status=archived")
	assert.Equal(t, []string{"p-a", "p-e", "p-f"}, names(got))

	got, _ = walk[api.Project](t, e.viewer, base+"&status=active&status=archived")
	assert.Len(t, got, 7)

	var exact page[api.Project]
	e.viewer.Get(base+"&limit=7").Want(t, http.StatusOK).Decode(t, &exact)
	assert.Len(t, exact.Items, 7)
	assert.Nil(t, exact.NextCursor, "a full last page has no next cursor")

	var all page[api.Project]
	e.viewer.Get("/api/v1/projects?limit=200").Want(t, http.StatusOK).Decode(t, &all)
	assert.Greater(t, len(all.Items), 7, "without the filter, everyone's projects")
}

func (e *env) testTaskLists(t *testing.T) {
	p := createProject(t, e.admin, map[string]any{"name": "Many tasks"})
	alice, bob := uuid.NewString(), uuid.NewString()
	dues := []any{"2025-03-01", nil, "2025-01-15", "2025-03-01", nil, "2025-02-01", "2025-01-15", nil, "2025-03-01"}
	var tasks []api.Task
	for i, due := range dues {
		body := map[string]any{"title": fmt.Sprintf("t%d", 9-i), "due_date": due}
		switch i % 3 {
		case 0:
			body["assignee_id"] = alice
		case 1:
			body["assignee_id"] = bob
		}
		task := createTask(t, e.admin, p.ID, body)
		if i%4 == 0 {
			e.admin.Patch(taskPath(task), map[string]any{"status": "doing"}).Want(t, http.StatusOK).Decode(t, &task)
		}
		tasks = append(tasks, task)
	}
	ids := func(ts []api.Task) []string {
		out := make([]string, len(ts))
		for i, task := range ts {
			out[i] = task.ID
		}
		return out
	}
	// byDue orders as the contract says: NULLs last both ways, then id in
	// the direction of the sort.
	byDue := func(desc bool) []string {
		s := slices.Clone(tasks)
		slices.SortFunc(s, func(a, b api.Task) int {
			switch {
			case a.DueDate == nil && b.DueDate == nil:
			case a.DueDate == nil:
				return 1
			case b.DueDate == nil:
				return -1
			case *a.DueDate != *b.DueDate:
				return sign(desc) * strings.Compare(*a.DueDate, *b.DueDate)
			}
			return sign(desc) * strings.Compare(a.ID, b.ID)
		})
		return ids(s)
	}
	base := tasksPath(p.ID) + "?"

	got, pages := walk[api.Task](t, e.viewer, base+"sort=due_date&limit=2")
	assert.Equal(t, byDue(false), ids(got), "due date ascending, undated last")
	assert.Equal(t, 5, pages)
	got, _ = walk[api.Task](t, e.viewer, base+"sort=-due_date&limit=2")
	assert.Equal(t, byDue(true), ids(got), "due date descending, undated still last")

	got, _ = walk[api.Task](t, e.viewer, base+"sort=title&limit=4")
	assert.Equal(t, []string{"t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"}, titles(got))
	got, _ = walk[api.Task](t, e.viewer, base+"limit=4")
	assert.Equal(t, reversed(ids(tasks)), ids(got), "newest first by default")

	got, _ = walk[api.Task](t, e.viewer, base+"limit=1&assignee_id="+alice)
	assert.Equal(t, []string{"t9", "t6", "t3"}, reversed(titles(got)))
	got, _ = walk[api.Task](t, e.viewer, base+"status=doing&sort=title")
	assert.Equal(t, []string{"t1", "t5", "t9"}, titles(got))
	got, _ = walk[api.Task](t, e.viewer, base+"status=todo&status=doing")
	assert.Len(t, got, 9)
	got, _ = walk[api.Task](t, e.viewer, base+"status=done")
	assert.Empty(t, got)
}

func titles(ts []api.Task) []string {
	out := make([]string, len(ts))
	for i, task := range ts {
		out[i] = task.Title
	}
	return out
}

func reversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func sign(desc bool) int {
	if desc {
		return -1
	}
	return 1
}

func (e *env) testListQueries(t *testing.T) {
	a := createProject(t, e.admin, map[string]any{"name": "Cursor A"})
	b := createProject(t, e.admin, map[string]any{"name": "Cursor B"})
	for range 3 {
		createTask(t, e.admin, a.ID, map[string]any{"title": "a"})
		createTask(t, e.admin, b.ID, map[string]any{"title": "b"})
	}
	cursorOf := func(path string) string {
		var p page[item]
		e.admin.Get(path).Want(t, http.StatusOK).Decode(t, &p)
		require.NotNil(t, p.NextCursor, path)
		return url.QueryEscape(*p.NextCursor)
	}
	tasksA := cursorOf(tasksPath(a.ID) + "?limit=1")
	projects := cursorOf("/api/v1/projects?limit=1")

	// The core's answers: 400 invalid_cursor for a cursor, 400 invalid_query
	// for the rest of the query string.
	tests := []struct{ path, field, code string }{
		{tasksPath(b.ID) + "?limit=1&cursor=" + tasksA, "cursor", "invalid_cursor"},         // another project's
		{tasksPath(a.ID) + "?limit=1&cursor=" + projects, "cursor", "invalid_cursor"},       // another list's
		{tasksPath(a.ID) + "?sort=title&cursor=" + tasksA, "cursor", "invalid_cursor"},      // another sort's
		{tasksPath(a.ID) + "?status=todo&cursor=" + tasksA, "cursor", "invalid_cursor"},     // another filter's
		{tasksPath(a.ID) + "?cursor=" + tasksA[:len(tasksA)-3], "cursor", "invalid_cursor"}, // truncated
		{tasksPath(a.ID) + "?cursor=not-a-cursor", "cursor", "invalid_cursor"},              // garbage
		{"/api/v1/projects?limit=0", "limit", "invalid_query"},
		{"/api/v1/projects?limit=201", "limit", "invalid_query"},
		{"/api/v1/projects?sort=owner_id", "sort", "invalid_query"}, // filterable, not sortable
		{"/api/v1/projects?sort=-description", "sort", "invalid_query"},
		{"/api/v1/projects?name=Cursor%20A", "name", "invalid_query"}, // sortable, not filterable
		{"/api/v1/projects?status=closed", "status", "invalid_query"},
		{"/api/v1/projects?color=red", "color", "invalid_query"},
		{"/api/v1/projects?owner_id=me", "owner_id", "invalid_query"},
		{tasksPath(a.ID) + "?assignee_id=bob", "assignee_id", "invalid_query"},
		{tasksPath(a.ID) + "?project_id=" + b.ID, "project_id", "invalid_query"}, // the scope is not the client's
		{tasksPath(a.ID) + "?due_date=2025-01-01", "due_date", "invalid_query"},
		{tasksPath(a.ID) + "?sort=status", "sort", "invalid_query"},
		{tasksPath(a.ID) + "?limit=2&limit=3", "limit", "invalid_query"},
	}
	for _, tt := range tests {
		fields := wantProblem(t, e.admin.Get(tt.path), http.StatusBadRequest, tt.code)
		assert.Contains(t, fields, tt.field, tt.path)
	}

	// The cursor works where it was made, with another page size too.
	var rest page[api.Task]
	e.admin.Get(tasksPath(a.ID)+"?limit=5&cursor="+tasksA).Want(t, http.StatusOK).Decode(t, &rest)
	assert.Len(t, rest.Items, 2)
	assert.Nil(t, rest.NextCursor)
}

// item is any list item, when only the cursor matters.
type item = map[string]any
