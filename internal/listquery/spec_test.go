package listquery_test

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/internal/listquery"
)

// tasks is the allow-list the tests use: every type, a caller-only field
// (project_id), a qualified column and nullable ones.
var tasks = must(listquery.NewFields("tasks", "id", map[string]listquery.Field{
	"id":          {Column: "id", Type: listquery.UUID, Filter: true},
	"title":       {Column: "title", Type: listquery.String, Filter: true, Sort: true},
	"status":      {Column: "status", Type: listquery.Enum, Values: []string{"todo", "doing", "done"}, Filter: true, Sort: true},
	"assignee_id": {Column: "assignee_id", Type: listquery.UUID, Filter: true, Nullable: true},
	"due_date":    {Column: "due_date", Type: listquery.Date, Filter: true, Sort: true, Nullable: true},
	"created_at":  {Column: "t.created_at", Type: listquery.Time, Filter: true, Sort: true},
	"priority":    {Column: "priority", Type: listquery.Int, Filter: true, Sort: true},
	"urgent":      {Column: "urgent", Type: listquery.Bool, Filter: true},
	"project_id":  {Column: "project_id", Type: listquery.UUID},
}))

func must(f listquery.Fields, err error) listquery.Fields {
	if err != nil {
		panic(err)
	}
	return f
}

// mistake asserts that err is the client's mistake of fault and returns the
// parameters it names.
func mistake(t *testing.T, err error, fault listquery.Fault) []listquery.FieldError {
	t.Helper()
	var e *listquery.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, fault, e.Fault, "%v", err)
	return e.Fields
}

type status string

func TestOrderAppendsTheTiebreak(t *testing.T) {
	tests := []struct {
		sort []listquery.SortKey
		want []listquery.SortKey
	}{
		{nil, []listquery.SortKey{{Field: "id", Desc: true}}},
		{[]listquery.SortKey{{Field: "title"}}, []listquery.SortKey{{Field: "title"}, {Field: "id"}}},
		{
			[]listquery.SortKey{{Field: "title"}, {Field: "due_date", Desc: true}},
			[]listquery.SortKey{{Field: "title"}, {Field: "due_date", Desc: true}, {Field: "id", Desc: true}},
		},
		{[]listquery.SortKey{{Field: "id"}, {Field: "title"}}, []listquery.SortKey{{Field: "id"}}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, listquery.Spec{Sort: tt.sort}.Order(tasks))
	}
}

func TestPageSize(t *testing.T) {
	assert.Equal(t, listquery.DefaultLimit, listquery.Spec{}.PageSize())
	assert.Equal(t, 7, listquery.Spec{Limit: 7}.PageSize())
	assert.Equal(t, listquery.MaxLimit, listquery.Spec{Limit: 5000}.PageSize())
}

func TestNormalizeConvertsCloseRelatives(t *testing.T) {
	id := uuid.New()
	at := time.Date(2025, 1, 31, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	s, err := listquery.Spec{Filters: []listquery.Filter{
		listquery.OneOf("status", status("todo"), status("done")),
		listquery.Equal("priority", int32(3)),
		listquery.Equal("project_id", &id),
		listquery.Equal("created_at", sql.NullTime{Time: at, Valid: true}),
		listquery.Equal("id", id.String()),
	}}.Normalize(tasks)
	require.NoError(t, err)
	assert.Equal(t, []any{"todo", "done"}, s.Filters[0].Values)
	assert.Equal(t, []any{int64(3)}, s.Filters[1].Values)
	assert.Equal(t, []any{id.String()}, s.Filters[2].Values)
	assert.Equal(t, []any{at.UTC()}, s.Filters[3].Values)
	assert.Equal(t, []any{id.String()}, s.Filters[4].Values)
}

// Normalize errors are the domain's mistakes, so they are not client errors.
func TestNormalizeRefusesMalformedSpecs(t *testing.T) {
	for name, s := range map[string]listquery.Spec{
		"unknown filter":  {Filters: []listquery.Filter{listquery.Equal("nope", 1)}},
		"wrong type":      {Filters: []listquery.Filter{listquery.Equal("project_id", "x")}},
		"enum value":      {Filters: []listquery.Filter{listquery.Equal("status", "open")}},
		"NULL filter":     {Filters: []listquery.Filter{listquery.Equal("title", nil)}},
		"empty one-of":    {Filters: []listquery.Filter{listquery.OneOf[string]("title")}},
		"unsupported":     {Filters: []listquery.Filter{listquery.Equal("title", []string{"a"})}},
		"unknown sort":    {Sort: []listquery.SortKey{{Field: "nope"}}},
		"sorted twice":    {Sort: []listquery.SortKey{{Field: "title"}, {Field: "title", Desc: true}}},
		"short cursor":    {After: &listquery.Cursor{Values: []any{"x"}}, Sort: []listquery.SortKey{{Field: "title"}}},
		"NULL tiebreak":   {After: &listquery.Cursor{Values: []any{nil}}},
		"NULL non-null":   {After: &listquery.Cursor{Values: []any{nil, uuid.New()}}, Sort: []listquery.SortKey{{Field: "title"}}},
		"bad cursor type": {After: &listquery.Cursor{Values: []any{"soon", uuid.New()}}, Sort: []listquery.SortKey{{Field: "due_date"}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Normalize(tasks)
			var e *listquery.Error
			require.Error(t, err)
			assert.False(t, errors.As(err, &e), "not the client's mistake")
		})
	}
}

func TestNewFieldsRefusesMalformedLists(t *testing.T) {
	ok := listquery.Field{Column: "id", Type: listquery.UUID}
	for name, fields := range map[string]map[string]listquery.Field{
		"no tiebreak":     {"x": ok},
		"nullable tiebrk": {"id": {Column: "id", Type: listquery.UUID, Nullable: true}},
		"reserved name":   {"id": ok, "sort": ok},
		"odd name":        {"id": ok, "a-b": ok},
		"no column":       {"id": {Type: listquery.UUID}},
		"injected column": {"id": {Column: "id; DROP TABLE x", Type: listquery.UUID}},
		"quoted column":   {"id": {Column: `"id"`, Type: listquery.UUID}},
		"no type":         {"id": {Column: "id"}},
		"enum no values":  {"id": ok, "s": {Column: "s", Type: listquery.Enum}},
		"values not enum": {"id": ok, "s": {Column: "s", Type: listquery.String, Values: []string{"a"}}},
	} {
		_, err := listquery.NewFields("r", "id", fields)
		assert.Error(t, err, name)
	}
	_, err := listquery.NewFields("", "id", map[string]listquery.Field{"id": ok})
	assert.Error(t, err, "no list name")
	f := must(listquery.NewFields("r", "id", map[string]listquery.Field{"id": ok}))
	assert.Equal(t, "r", f.List())
	assert.Equal(t, "id", f.Tiebreak())
}
