package opa_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/internal/listquery"
)

// projectColumns is how a list of projects maps the resource.
var projectColumns = access.ListColumns{
	ID:    &access.Column{Name: "id", Type: listquery.UUID},
	Owner: &access.Column{Name: "owner_id", Type: listquery.UUID},
	Attributes: map[string]access.Column{
		"status":   {Name: "status", Type: listquery.Enum},
		"name":     {Name: "name", Type: listquery.String},
		"priority": {Name: "priority", Type: listquery.Int, Nullable: true},
		"pinned":   {Name: "p.pinned", Type: listquery.Bool, Nullable: true},
		"due":      {Name: "due", Type: listquery.Date, Nullable: true},
		"seen":     {Name: "seen", Type: listquery.Time, Nullable: true},
	},
}

// viewer reads projects.
func viewer() access.Input {
	return access.Input{
		Subject: access.Subject{ID: "0190a0b0-0000-7000-8000-000000000001", Type: "user", Roles: []string{"viewer"},
			Permissions: []string{"projects.project.read"}},
		Action:   "projects.project.read",
		Resource: access.Resource{Type: "project"},
		Tenant:   access.TenantInput{ID: "t1", Slug: "acme"},
		Request:  access.RequestInput{Method: "GET", Path: "/api/v1/projects", IP: "10.0.0.7", Time: "2026-03-04T10:00:00Z"},
	}
}

func filterFor(t *testing.T, in access.Input, offset int, regos ...string) access.Filter {
	t.Helper()
	e := newEngine(t, opa.Options{})
	src := &source{sets: map[string]policy.Set{"t1": set(1, regos...)}}
	f, err := e.Filter(context.Background(), "t1", src, in, projectColumns, offset)
	require.NoError(t, err)
	return f
}

func TestFilterTranslates(t *testing.T) {
	const head = "package tenant\n"
	for _, tc := range []struct {
		name     string
		rego     string
		sql      string
		params   []any
		fallback bool
	}{
		{name: "no tenant policy", sql: "TRUE"},
		{name: "archived hidden from viewers", rego: `deny contains "no" if {
			"viewer" in input.subject.roles
			input.resource.attributes.status == "archived"
		}`, sql: `NOT ("status" = $3::text)`, params: []any{"archived"}},
		{name: "a rule for other roles does not apply", rego: `deny contains "no" if {
			"member" in input.subject.roles
			input.resource.attributes.status == "archived"
		}`, sql: "TRUE"},
		{name: "a rule for another action does not apply", rego: `deny contains "no" if {
			input.action == "projects.project.update"
			input.resource.attributes.status == "archived"
		}`, sql: "TRUE"},
		{name: "deny without a condition on the resource", rego: `deny contains "no" if "viewer" in input.subject.roles`, sql: "FALSE"},
		{name: "only the owner's", rego: `deny contains "no" if input.resource.owner_id != input.subject.id`,
			sql: `NOT (NOT ("owner_id" = $3::uuid))`, params: []any{"0190a0b0-0000-7000-8000-000000000001"}},
		{name: "in a set", rego: `deny contains "no" if input.resource.attributes.name in {"a", "b'; DROP TABLE x; --"}`,
			sql: `NOT (("name" = $3::text OR "name" = $4::text))`, params: []any{"a", "b'; DROP TABLE x; --"}},
		{name: "not", rego: `deny contains "no" if not input.resource.attributes.status == "active"`,
			sql: `NOT (NOT ("status" = $3::text))`, params: []any{"active"}},
		{name: "integer ordering on a nullable column", rego: `deny contains "no" if input.resource.attributes.priority > 3`,
			sql: `NOT (("priority" > $3::numeric) IS TRUE)`, params: []any{"3"}},
		{name: "text ordering is byte order", rego: `deny contains "no" if input.resource.attributes.name < "m"`,
			sql: `NOT ("name" COLLATE "C" < $3::text COLLATE "C")`, params: []any{"m"}},
		{name: "a qualified boolean column", rego: `deny contains "no" if input.resource.attributes.pinned`,
			sql: `NOT ("p"."pinned" IS TRUE)`},
		{name: "a wrong type never equals", rego: `deny contains "no" if input.resource.attributes.status == 1`, sql: "TRUE"},
		{name: "an attribute the list lacks is absent", rego: `deny contains "no" if input.resource.attributes.secret == true`, sql: "TRUE"},
		{name: "not an attribute the list lacks", rego: `deny contains "no" if not input.resource.attributes.secret`, sql: "FALSE"},
		{name: "a uuid that is not canonical never equals", rego: `deny contains "no" if input.resource.id == "ABC"`, sql: "TRUE"},
		{name: "a date", rego: `deny contains "no" if input.resource.attributes.due == "2026-01-31"`,
			sql: `NOT (("due" = $3::date) IS TRUE)`, params: []any{"2026-01-31"}},
		{name: "startswith falls back", rego: `deny contains "no" if startswith(input.resource.attributes.name, "secret")`,
			sql: "TRUE", fallback: true},
		{name: "a time attribute falls back", rego: `deny contains "no" if input.resource.attributes.seen == "x"`,
			sql: "TRUE", fallback: true},
		{name: "the translatable part still applies", rego: `deny contains "a" if input.resource.attributes.status == "archived"
			deny contains "b" if startswith(input.resource.attributes.name, "secret")`,
			sql: `NOT ("status" = $3::text)`, params: []any{"archived"}, fallback: true},
		{name: "a reason built from the resource falls back", rego: `deny contains msg if {
			input.resource.attributes.status == "archived"
			msg := sprintf("%s is archived", [input.resource.id])
		}`, sql: "TRUE", fallback: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var regos []string
			if tc.rego != "" {
				regos = []string{head + tc.rego}
			}
			f := filterFor(t, viewer(), 2, regos...)
			assert.Equal(t, tc.sql, f.SQL)
			if len(f.Params) == 0 {
				f.Params = nil
			}
			assert.Equal(t, tc.params, f.Params)
			assert.Equal(t, tc.fallback, f.Fallback)
		})
	}
}

func TestFilterGrantsByTenantAllow(t *testing.T) {
	in := viewer()
	in.Action = "projects.project.delete" // not held: only a tenant allow grants it
	f := filterFor(t, in, 0, `package tenant
allow contains "owners delete their own" if input.resource.owner_id == input.subject.id
deny contains "archived stays" if input.resource.attributes.status == "archived"`)
	assert.Equal(t, `("owner_id" = $1::uuid) AND NOT ("status" = $2::text)`, f.SQL)
	assert.False(t, f.Fallback)

	in.Action = "identity.user.read" // reserved: never granted by a tenant
	f = filterFor(t, in, 0, `package tenant
allow contains "all" if true`)
	assert.Equal(t, "FALSE", f.SQL)
}

func TestFilterRefusesBadColumns(t *testing.T) {
	e := newEngine(t, opa.Options{})
	src := &source{sets: map[string]policy.Set{"t1": set(1)}}
	cols := access.ListColumns{Attributes: map[string]access.Column{"x": {Name: `x"; DROP TABLE y; --`, Type: listquery.String}}}
	_, err := e.Filter(context.Background(), "t1", src, viewer(), cols, 0)
	require.Error(t, err)
}

// sqlTokens is everything a filter's SQL may hold: quoted lower-case
// identifiers, placeholders, casts, keywords and operators; never a value.
var sqlTokens = regexp.MustCompile(`^(?:\s+|"[a-z_][a-z0-9_]*"|\$[0-9]+|::(?:text|uuid|date|numeric)|COLLATE "C"|NOT|AND|OR|IS|TRUE|FALSE|NULL|[()=<>.])*$`)

// FuzzFilterSQL: whatever attribute names and values a tenant policy uses
// (quotes, unicode, SQL), they reach the filter only as placeholders.
func FuzzFilterSQL(f *testing.F) {
	f.Add("status", "archived", "==")
	f.Add(`a"; DROP TABLE x; --`, `'); DELETE FROM projects; --`, "!=")
	f.Add("ünï", "\u202e\x00", "<")
	f.Add("name", `\"`, ">=")
	e := newEngine(f, opa.Options{Deadline: 5 * time.Second})
	ops := map[string]bool{"==": true, "!=": true, "<": true, ">": true, "<=": true, ">=": true}
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, attr, value, op string) {
		if !ops[op] {
			return
		}
		key, _ := json.Marshal(attr)
		val, _ := json.Marshal(value)
		rego := fmt.Sprintf("package tenant\ndeny contains \"x\" if input.resource.attributes[%s] %s %s\n"+
			"deny contains \"y\" if input.resource.attributes.name in {%s, \"a\"}", key, op, val, val)
		tenant := fmt.Sprintf("t%d", n.Add(1))
		src := &source{sets: map[string]policy.Set{tenant: set(1, rego)}}
		cols := projectColumns
		cols.Attributes = maps.Clone(cols.Attributes)
		cols.Attributes[attr] = access.Column{Name: "c", Type: listquery.String, Nullable: true}
		in := viewer()
		in.Tenant.ID = tenant
		got, err := e.Filter(context.Background(), tenant, src, in, cols, 0)
		if err != nil {
			return // does not compile: never activated
		}
		if !sqlTokens.MatchString(got.SQL) {
			t.Fatalf("a value reached the SQL: %q", got.SQL)
		}
		if want := strings.Count(got.SQL, "$"); want != len(got.Params) {
			t.Fatalf("%d placeholders, %d params: %q", want, len(got.Params), got.SQL)
		}
	})
}
