package app_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
)

// Lists filtered by the tenant's policy, end to end with the real projects
// plugin binary: a viewer's list holds exactly the projects a decision on
// each would let the viewer read, page after full page, whether the policy
// translates to SQL or falls back to deciding rows, and a policy change
// applies to the next list.

const hideArchived = `package tenant.lists

deny contains "viewers do not see archived projects" if {
	"viewer" in input.subject.roles
	input.resource.attributes.status == "archived"
}
`

// hideSecret has no SQL form (startswith): the host decides each row.
const hideSecret = `package tenant.lists

deny contains "viewers do not see secret projects" if {
	"viewer" in input.subject.roles
	startswith(input.resource.attributes.name, "secret")
}
`

type listedProject struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// walkProjects pages through GET /api/v1/projects with limit and returns
// every item, checking that every page but the last is full.
func walkProjects(t *testing.T, s *pluginServer, token string, limit int) []listedProject {
	t.Helper()
	var all []listedProject
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 1000, "paging ends")
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Items      []listedProject `json:"items"`
			NextCursor *string         `json:"next_cursor"`
		}
		s.call(http.MethodGet, "/api/v1/projects?"+q.Encode(), token, nil).want(t, http.StatusOK, &page)
		all = append(all, page.Items...)
		if page.NextCursor == nil {
			return all
		}
		require.Len(t, page.Items, limit, "a page with a next page is full")
		cursor = *page.NextCursor
	}
}

// exactlyOnce checks that got holds each of want once and nothing else.
func exactlyOnce(t *testing.T, got []listedProject, want map[string]bool) {
	t.Helper()
	seen := map[string]int{}
	for _, p := range got {
		seen[p.ID]++
		require.True(t, want[p.ID], "project %s (%s, %s) is listed but should not be", p.ID, p.Name, p.Status)
	}
	for id := range want {
		require.Equal(t, 1, seen[id], "project %s listed %d times", id, seen[id])
	}
}

func TestListsFilteredByTenantPolicy(t *testing.T) {
	s := startPluginCore(t, nil)
	s.install("projects", "projects")
	s.mustRegister("projects", "projects")
	admin := s.tenant("acme", "projects")
	s.createUser(admin, "viewer@acme.test", "viewer")
	viewer := s.signIn("acme", "viewer@acme.test", userPassword).AccessToken

	const n = 500
	var projects []listedProject
	for i := range n {
		name := fmt.Sprintf("p-%03d", i)
		if i%5 == 0 {
			name = fmt.Sprintf("secret-%03d", i)
		}
		var p listedProject
		s.call(http.MethodPost, "/api/v1/projects", admin, map[string]any{"name": name}).want(t, http.StatusCreated, &p)
		if i%4 == 0 {
			s.call(http.MethodPatch, "/api/v1/projects/"+p.ID, admin, map[string]any{"status": "archived"}).want(t, http.StatusOK, &p)
		}
		projects = append(projects, p)
	}
	visible := func(hide func(listedProject) bool) map[string]bool {
		out := map[string]bool{}
		for _, p := range projects {
			if !hide(p) {
				out[p.ID] = true
			}
		}
		return out
	}
	everything := visible(func(listedProject) bool { return false })
	fallbacks := func() float64 { return s.metric("atrium_policy_filter_fallbacks_total") }

	t.Run("translated to SQL", func(t *testing.T) {
		s.call(http.MethodPut, "/api/v1/policies/lists", admin, map[string]string{"rego": hideArchived}).want(t, http.StatusOK, nil)
		before := fallbacks()
		want := visible(func(p listedProject) bool { return p.Status == "archived" })
		require.Len(t, want, n-n/4)
		exactlyOnce(t, walkProjects(t, s, viewer, 20), want)
		exactlyOnce(t, walkProjects(t, s, admin, 200), everything) // the rule is the viewers'
		assert.Equal(t, before, fallbacks(), "no row decided one by one")

		var d api.EvaluateResponse
		s.call(http.MethodPost, "/api/v1/policies/evaluate", admin, map[string]any{
			"mode": "filter", "action": "projects.project.read", "resource_type": "project",
			"subject": map[string]any{"id": "u1", "roles": []string{"viewer"}},
		}).want(t, http.StatusOK, &d)
		require.NotNil(t, d.Filter)
		assert.Equal(t, `NOT (("status" = $1::text) IS TRUE)`, d.Filter.SQL) // attributes are nullable in this notation
		assert.Equal(t, []any{"archived"}, d.Filter.Params)
		assert.False(t, *d.Fallback)

		status, doc := get(t, s.base+"/openapi.json")
		require.Equal(t, http.StatusOK, status)
		for _, field := range []string{`"resource_type"`, `"mode"`, `"fallback"`, `"params"`} {
			assert.Contains(t, doc, field, "the OpenAPI document describes the filter mode")
		}

		// Bad input: a clear problem.
		r := s.call(http.MethodPost, "/api/v1/policies/evaluate", admin, map[string]any{"mode": "filter", "action": "projects.project.read"})
		r.problem(t, http.StatusUnprocessableEntity, "validation_failed")
		r = s.call(http.MethodPost, "/api/v1/policies/evaluate", admin, map[string]any{"mode": "sql", "action": "projects.project.read"})
		r.problem(t, http.StatusUnprocessableEntity, "validation_failed")
	})

	t.Run("falls back to deciding rows", func(t *testing.T) {
		s.call(http.MethodPut, "/api/v1/policies/lists", admin, map[string]string{"rego": hideSecret}).want(t, http.StatusOK, nil)
		before := fallbacks()
		want := visible(func(p listedProject) bool { return strings.HasPrefix(p.Name, "secret") })
		require.Len(t, want, n-n/5)
		got := walkProjects(t, s, viewer, 20)
		exactlyOnce(t, got, want)
		assert.GreaterOrEqual(t, fallbacks()-before, float64(len(got)/20), "each page counted")

		var d api.EvaluateResponse
		s.call(http.MethodPost, "/api/v1/policies/evaluate", admin, map[string]any{
			"mode": "filter", "action": "projects.project.read", "resource_type": "project",
			"subject": map[string]any{"id": "u1", "roles": []string{"viewer"}},
		}).want(t, http.StatusOK, &d)
		assert.True(t, *d.Fallback)
	})

	t.Run("a policy change applies at once", func(t *testing.T) {
		s.call(http.MethodDelete, "/api/v1/policies/lists", admin, nil).want(t, http.StatusNoContent, nil)
		exactlyOnce(t, walkProjects(t, s, viewer, 200), everything)
		s.call(http.MethodPut, "/api/v1/policies/lists", admin, map[string]string{"rego": hideArchived}).want(t, http.StatusOK, nil)
		exactlyOnce(t, walkProjects(t, s, viewer, 200), visible(func(p listedProject) bool { return p.Status == "archived" }))
		s.call(http.MethodDelete, "/api/v1/policies/lists", admin, nil).want(t, http.StatusNoContent, nil)
	})

	t.Run("a list never shows what a decision refuses", func(t *testing.T) {
		// Values with quotes, SQL and unicode, and odd attribute names,
		// reach the database only as parameters.
		odd := []string{`x'); DROP TABLE projects; --`, "ünï \"quoted\" \u202e", `a\'b`}
		for _, name := range odd {
			var p listedProject
			s.call(http.MethodPost, "/api/v1/projects", admin, map[string]any{"name": name}).want(t, http.StatusCreated, &p)
			projects = append(projects, p)
		}
		const rego = `package tenant.lists

deny contains "odd names" if {
	"viewer" in input.subject.roles
	input.resource.attributes.name in {"x'); DROP TABLE projects; --", "ünï \"quoted\" \u202e"}
}

deny contains "odd attributes are absent" if {
	input.resource.attributes["we\"ird ünï'; --"] == "q"
}

deny contains "owners of archived" if {
	"viewer" in input.subject.roles
	input.resource.attributes.status == "archived"
	not input.resource.owner_id == input.subject.id
}
`
		s.call(http.MethodPut, "/api/v1/policies/lists", admin, map[string]string{"rego": rego}).want(t, http.StatusOK, nil)
		got := walkProjects(t, s, viewer, 50)
		listed := map[string]bool{}
		for _, p := range got {
			listed[p.ID] = true
		}
		// Every project, listed exactly when the viewer may read it.
		for i, p := range projects {
			if i%7 != 0 && i < n { // a sample of the many, and every odd one
				continue
			}
			r := s.call(http.MethodGet, "/api/v1/projects/"+p.ID, viewer, nil)
			require.NoError(t, r.err)
			assert.Equal(t, r.status == http.StatusOK, listed[p.ID], "%s %q: GET %d, listed %v", p.ID, p.Name, r.status, listed[p.ID])
		}
		assert.Len(t, got, n-n/4+1, "the archived and two odd names hidden")
		exactlyOnce(t, walkProjects(t, s, admin, 200), visible(func(listedProject) bool { return false }))
	})
}
