package query_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/query"
)

var tasks = query.NewFields("tasks", "id", map[string]query.Field{
	"id":          {Column: "id", Type: query.UUID},
	"project_id":  {Column: "project_id", Type: query.UUID},
	"title":       {Column: "title", Type: query.String, Filter: true, Sort: true},
	"status":      {Column: "status", Type: query.Enum, Values: []string{"todo", "doing", "done"}, Filter: true},
	"assignee_id": {Column: "assignee_id", Type: query.UUID, Filter: true, Nullable: true},
	"due_date":    {Column: "due_date", Type: query.Date, Sort: true, Nullable: true},
	"created_at":  {Column: "t.created_at", Type: query.Time, Filter: true, Sort: true},
	"priority":    {Column: "priority", Type: query.Int, Filter: true},
})

func values(t *testing.T, raw string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(raw)
	require.NoError(t, err)
	return v
}

// fields returns the offending parameters of an error of kind (the core's
// 400 invalid_query or invalid_cursor).
func fields(t *testing.T, err error, kind sdk.Kind) map[string]string {
	t.Helper()
	var e *sdk.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, kind, e.Kind, "%v", err)
	out := map[string]string{}
	for _, f := range e.Fields {
		out[f.Field] = f.Message
	}
	return out
}

func TestParseDefaults(t *testing.T) {
	s, err := query.Parse(url.Values{}, tasks, query.Options{})
	require.NoError(t, err)
	assert.Empty(t, s.Filters)
	assert.Nil(t, s.After)
	assert.Equal(t, query.DefaultLimit, s.Limit)
	assert.Equal(t, []query.SortKey{{Field: "id", Desc: true}}, s.Order())

	s, err = query.Parse(url.Values{}, tasks, query.Options{Limit: 20, Sort: []query.SortKey{{Field: "created_at", Desc: true}}})
	require.NoError(t, err)
	assert.Equal(t, 20, s.Limit)
	assert.Equal(t, []query.SortKey{{Field: "created_at", Desc: true}, {Field: "id", Desc: true}}, s.Order())
}

func TestParseReadsEveryPart(t *testing.T) {
	assignee := uuid.New()
	s, err := query.Parse(values(t, "limit=200&sort=title,-due_date&status=todo&status=done&priority=-3"+
		"&assignee_id="+strings.ToUpper(assignee.String())+"&created_at=2025-01-31T10:00:00.5%2B01:00&title=a%20b"), tasks, query.Options{})
	require.NoError(t, err)
	assert.Equal(t, 200, s.Limit)
	assert.Equal(t, []query.SortKey{{Field: "title"}, {Field: "due_date", Desc: true}}, s.Sort)
	assert.Equal(t, []query.SortKey{{Field: "title"}, {Field: "due_date", Desc: true}, {Field: "id", Desc: true}}, s.Order())
	assert.ElementsMatch(t, []query.Filter{
		{Field: "status", Values: []any{"todo", "done"}},
		{Field: "priority", Values: []any{int64(-3)}},
		{Field: "assignee_id", Values: []any{assignee.String()}},
		{Field: "created_at", Values: []any{time.Date(2025, 1, 31, 9, 0, 0, 5e8, time.UTC)}},
		{Field: "title", Values: []any{"a b"}},
	}, s.Filters)
}

func TestParseScope(t *testing.T) {
	project := uuid.New()
	s, err := query.Parse(values(t, "cursor="), tasks, query.Options{Scope: []query.Filter{query.Equal("project_id", project)}})
	require.NoError(t, err)
	assert.Equal(t, []query.Filter{query.Equal("project_id", project.String())}, s.Filters, "scope filters, normalised")
	assert.Nil(t, s.After, "an empty cursor is the first page")

	for name, opts := range map[string]query.Options{
		"unknown field": {Scope: []query.Filter{query.Equal("nope", "x")}},
		"wrong type":    {Scope: []query.Filter{query.Equal("project_id", "not a uuid")}},
		"NULL":          {Scope: []query.Filter{query.Equal("project_id", nil)}},
		"no values":     {Scope: []query.Filter{{Field: "project_id"}}},
		"bad sort":      {Sort: []query.SortKey{{Field: "nope"}}},
	} {
		_, err := query.Parse(url.Values{}, tasks, opts)
		assert.ErrorIs(t, err, sdk.ErrInternal, name)
	}
}

// The engine's tests cover every refusal; these check that they reach the
// plugin as sdk.KindInvalidQuery naming the parameter.
func TestParseNamesEveryOffendingParameter(t *testing.T) {
	tests := []struct{ query, field, message string }{
		{"limit=0", "limit", "from 1 to 200"},
		{"sort=owner", "sort", `cannot sort by "owner"; sortable fields: created_at, due_date, title`},
		{"owner=me", "owner", "is not a filter of this list; filters: assignee_id, created_at, priority, status, title"},
		{"title=" + strings.Repeat("x", 1025), "title", "at most 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.query[:min(len(tt.query), 30)], func(t *testing.T) {
			_, err := query.Parse(values(t, tt.query), tasks, query.Options{})
			got := fields(t, err, sdk.KindInvalidQuery)
			require.Contains(t, got, tt.field)
			assert.Contains(t, got[tt.field], tt.message)
		})
	}

	_, err := query.Parse(values(t, "limit=0&sort=owner&owner=x&status=later"), tasks, query.Options{})
	assert.Len(t, fields(t, err, sdk.KindInvalidQuery), 4, "every problem at once")
}

func TestParseNeedsFields(t *testing.T) {
	_, err := query.Parse(url.Values{}, query.Fields{}, query.Options{})
	assert.True(t, errors.Is(err, sdk.ErrInternal))
}

func TestNewFieldsRefusesMalformedAllowLists(t *testing.T) {
	assert.PanicsWithValue(t, `query: list x: field "id": column "id; DROP TABLE x" is not a plain lower-case identifier`, func() {
		query.NewFields("x", "id", map[string]query.Field{"id": {Column: "id; DROP TABLE x", Type: query.UUID}})
	})
	assert.Panics(t, func() { query.NewFields("", "id", map[string]query.Field{"id": {Column: "id", Type: query.UUID}}) })
}
