package app_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/sdk"
)

// TestOneDialect: the same mistake gets the same status, code and named
// field on every list and create route, the core's and the projects
// plugin's (api-contract.md, "Running it"), and a refused create writes
// nothing. The plugin is the real binary, using sdk/query and Context.Bind
// as any plugin author would.
func TestOneDialect(t *testing.T) {
	s := startPluginCore(t, nil)
	s.install("projects", "projects")
	s.mustRegister("projects", "projects")
	admin := s.tenant("acme", "projects")
	var project struct {
		ID string `json:"id"`
	}
	s.call(http.MethodPost, "/api/v1/projects", admin, map[string]any{"name": "Apollo"}).want(t, http.StatusCreated, &project)
	tasks := "/api/v1/projects/" + project.ID + "/tasks"

	// filter is a filterable field of each list; every list runs one
	// engine (internal/listquery), so a mistake that does not depend on the
	// list's fields gets the same message too.
	lists := []struct{ path, token, filter string }{
		{"/api/v1/users", admin, "status"},
		{"/api/v1/audit", admin, "outcome"},
		{"/api/v1/tenants", s.op, "status"},
		{"/api/v1/projects", admin, "status"},
		{tasks, admin, "status"},
	}
	long := strings.Repeat("x", 1025)
	queries := []struct{ name, query, code, field, message string }{
		{"zero limit", "limit=0", "invalid_query", "limit", "must be a whole number from 1 to 200"},
		{"limit over the maximum", "limit=201", "invalid_query", "limit", "must be a whole number from 1 to 200"},
		{"limit not a number", "limit=abc", "invalid_query", "limit", "must be a whole number from 1 to 200"},
		{"repeated limit", "limit=1&limit=2", "invalid_query", "limit", "must be given once"},
		{"repeated sort", "sort=id&sort=id", "invalid_query", "sort", "must be given once"},
		{"unknown filter", "colour=red", "invalid_query", "colour", ""},
		{"unknown sort field", "sort=colour", "invalid_query", "sort", ""},
		{"filter value over the cap", "{filter}=" + long, "invalid_query", "{filter}", "must be at most 1024 bytes"},
		{"too many values", "{filter}=a" + strings.Repeat("&{filter}=a", 100), "invalid_query", "{filter}", "takes at most 100 values"},
		{"garbage cursor", "cursor=garbage", "invalid_cursor", "cursor", "is not a cursor of this list"},
		{"repeated cursor", "cursor=a&cursor=b", "invalid_query", "cursor", "must be given once"},
	}
	for _, l := range lists {
		for _, q := range queries {
			t.Run("GET "+l.path+"?"+q.name, func(t *testing.T) {
				query := strings.ReplaceAll(q.query, "{filter}", l.filter)
				field := strings.ReplaceAll(q.field, "{filter}", l.filter)
				p := s.call(http.MethodGet, l.path+"?"+query, l.token, nil).problem(t, http.StatusBadRequest, q.code)
				assert.Contains(t, fieldsOf(p), field)
				if q.message != "" {
					assert.Contains(t, p.Errors, kernel.FieldError{Field: field, Message: q.message})
				}
			})
		}
	}

	creates := []struct {
		path, token, table string
		wrongType          string // a body whose field has the wrong JSON type
		field              string // that field, and the one an empty object lacks
	}{
		{"/api/v1/users", admin, "t_acme.users", `{"email": 5}`, "email"},
		{"/api/v1/roles", admin, "t_acme.roles", `{"name": 5}`, "name"},
		{"/api/v1/tenants", s.op, "atrium.tenants", `{"slug": 5}`, "slug"},
		{"/api/v1/projects", admin, "t_acme.projects", `{"name": 5}`, "name"},
		{tasks, admin, "t_acme.projects_tasks", `{"title": 5}`, "title"},
	}
	bodies := []struct {
		name, body string
		status     int
		code       string
		field      string // "" for none; "*" for the route's field
	}{
		{"not JSON", `{"name": "a"}`, http.StatusUnsupportedMediaType, "unsupported_media_type", ""},
		{"malformed JSON", `{"name":`, http.StatusBadRequest, "malformed_json", ""},
		{"broken JSON", `{"name" "a"}`, http.StatusBadRequest, "malformed_json", ""},
		{"empty body", ``, http.StatusBadRequest, "malformed_json", ""},
		{"trailing data", `{} {}`, http.StatusBadRequest, "malformed_json", ""},
		{"not an object", `[1]`, http.StatusBadRequest, "malformed_json", ""},
		{"unknown field", `{"colour": "red"}`, http.StatusUnprocessableEntity, "validation_failed", "colour"},
		{"wrong type", "", http.StatusUnprocessableEntity, "validation_failed", "*"},
		{"missing field", `{}`, http.StatusUnprocessableEntity, "validation_failed", "*"},
	}
	for _, c := range creates {
		for _, b := range bodies {
			t.Run("POST "+c.path+" "+b.name, func(t *testing.T) {
				body, field := b.body, b.field
				if b.name == "wrong type" {
					body = c.wrongType
				}
				if field == "*" {
					field = c.field
				}
				before := postgrestest.Exec(t, s.db, "SELECT count(*) FROM "+c.table)
				contentType := "application/json"
				if b.name == "not JSON" {
					contentType = "text/plain"
				}
				p := s.rawCall(http.MethodPost, c.path, c.token, contentType, body).problem(t, b.status, b.code)
				if field == "" {
					assert.Empty(t, p.Errors)
				} else {
					assert.Contains(t, fieldsOf(p), field)
				}
				assert.Equal(t, before, postgrestest.Exec(t, s.db, "SELECT count(*) FROM "+c.table), "nothing is written")
			})
		}
	}
}

func fieldsOf(p api.Problem) []string {
	out := make([]string, len(p.Errors))
	for i, f := range p.Errors {
		out[i] = f.Field
	}
	return out
}

// rawCall sends body as it is, declared as contentType, with token.
func (s *pluginServer) rawCall(method, path, token, contentType, body string) result {
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", contentType)
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: raw, err: err, header: resp.Header}
}

// TestKindsRoundTrip follows every error kind a plugin can raise from the
// plugin process (the SDK's wire form) through the host to the client's
// status and code, as Vault's translation test does for its plugins. A
// kind added to the SDK without an answer here, or without a mapping in
// the host (it would be a 500), fails.
func TestKindsRoundTrip(t *testing.T) {
	want := map[string]struct {
		status int
		code   string
	}{
		"internal":        {http.StatusInternalServerError, "internal"},
		"invalid":         {http.StatusUnprocessableEntity, "validation_failed"},
		"unauthenticated": {http.StatusUnauthorized, "unauthenticated"},
		"forbidden":       {http.StatusForbidden, "forbidden"},
		"not_found":       {http.StatusNotFound, "not_found"},
		"conflict":        {http.StatusConflict, "conflict"},
		"too_large":       {http.StatusRequestEntityTooLarge, "payload_too_large"},
		"unavailable":     {http.StatusServiceUnavailable, "unavailable"},
		"timeout":         {http.StatusGatewayTimeout, "timeout"},
		"bad_request":     {http.StatusBadRequest, "bad_request"},
		"invalid_query":   {http.StatusBadRequest, "invalid_query"},
		"invalid_cursor":  {http.StatusBadRequest, "invalid_cursor"},
		"malformed_json":  {http.StatusBadRequest, "malformed_json"},
		"rate_limited":    {http.StatusTooManyRequests, "rate_limited"},
		"unsupported":     {http.StatusUnsupportedMediaType, "unsupported_media_type"},
	}
	s := startPluginCore(t, nil)
	s.install("testplugin", "testplugin")
	s.mustRegister("testplugin", "testplugin")
	token := s.tenant("acme", "testplugin")

	seen := 0
	for k := range sdk.Kind(255) {
		name := k.String()
		if name == fmt.Sprintf("kind(%d)", k) {
			// Past the last kind: an unknown kind is a fault, never the
			// client's.
			s.call(http.MethodGet, fmt.Sprintf("/api/v1/testplugin/fail/%d", k), token, nil).problem(t, http.StatusInternalServerError, "internal")
			break
		}
		seen++
		w, ok := want[name]
		if !ok {
			t.Errorf("kind %s: no expected status and code; add it here and map it in pluginhost.kinds", name)
			continue
		}
		p := s.call(http.MethodGet, fmt.Sprintf("/api/v1/testplugin/fail/%d", k), token, nil).problem(t, w.status, w.code)
		if w.status == http.StatusInternalServerError {
			assert.NotContains(t, p.Detail, "refused as asked", "an internal error's text stays in the log")
			continue
		}
		assert.Equal(t, "refused as asked", p.Detail, name)
		assert.Equal(t, []string{"f"}, fieldsOf(p), name)
	}
	assert.Equal(t, len(want), seen, "every expected kind is a kind")
}
