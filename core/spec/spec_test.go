package spec_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/spec"
)

// tasks is the allow-list the tests use: every type, a domain-only field
// (project_id) and nullable ones.
var tasks = spec.NewFields("tasks", "id", map[string]spec.Field{
	"id":          {Column: "id", Type: spec.UUID, Filter: true},
	"title":       {Column: "title", Type: spec.String, Filter: true, Sort: true},
	"status":      {Column: "status", Type: spec.Enum, Values: []string{"todo", "doing", "done"}, Filter: true, Sort: true},
	"assignee_id": {Column: "assignee_id", Type: spec.UUID, Filter: true, Nullable: true},
	"due_date":    {Column: "due_date", Type: spec.Time, Filter: true, Sort: true, Nullable: true},
	"created_at":  {Column: "created_at", Type: spec.Time, Filter: true, Sort: true},
	"priority":    {Column: "priority", Type: spec.Int, Filter: true, Sort: true},
	"urgent":      {Column: "urgent", Type: spec.Bool, Filter: true},
	"project_id":  {Column: "project_id", Type: spec.UUID},
})

type status string

func TestOrderAppendsTheTiebreak(t *testing.T) {
	tests := []struct {
		sort []spec.SortKey
		want []spec.SortKey
	}{
		{nil, []spec.SortKey{{Field: "id", Desc: true}}},
		{[]spec.SortKey{{Field: "title"}}, []spec.SortKey{{Field: "title"}, {Field: "id"}}},
		{
			[]spec.SortKey{{Field: "title"}, {Field: "due_date", Desc: true}},
			[]spec.SortKey{{Field: "title"}, {Field: "due_date", Desc: true}, {Field: "id", Desc: true}},
		},
		{[]spec.SortKey{{Field: "id"}, {Field: "title"}}, []spec.SortKey{{Field: "id"}}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, spec.Spec{Sort: tt.sort}.Order(tasks))
	}
}

func TestPageSize(t *testing.T) {
	assert.Equal(t, spec.DefaultLimit, spec.Spec{}.PageSize())
	assert.Equal(t, 7, spec.Spec{Limit: 7}.PageSize())
	assert.Equal(t, spec.MaxLimit, spec.Spec{Limit: 5000}.PageSize())
}

func TestNormalizeConvertsCloseRelatives(t *testing.T) {
	id := uuid.New()
	at := time.Date(2025, 1, 31, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	s, err := spec.Spec{Filters: []spec.Filter{
		spec.OneOf("status", status("todo"), status("done")),
		spec.Equal("priority", int32(3)),
		spec.Equal("project_id", &id),
		spec.Equal("created_at", sql.NullTime{Time: at, Valid: true}),
		spec.Equal("id", id.String()),
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
	for name, s := range map[string]spec.Spec{
		"unknown filter":  {Filters: []spec.Filter{spec.Equal("nope", 1)}},
		"wrong type":      {Filters: []spec.Filter{spec.Equal("project_id", "x")}},
		"enum value":      {Filters: []spec.Filter{spec.Equal("status", "open")}},
		"NULL filter":     {Filters: []spec.Filter{spec.Equal("title", nil)}},
		"empty one-of":    {Filters: []spec.Filter{spec.OneOf[string]("title")}},
		"unsupported":     {Filters: []spec.Filter{spec.Equal("title", []string{"a"})}},
		"unknown sort":    {Sort: []spec.SortKey{{Field: "nope"}}},
		"sorted twice":    {Sort: []spec.SortKey{{Field: "title"}, {Field: "title", Desc: true}}},
		"short cursor":    {After: &spec.Cursor{Values: []any{"x"}}, Sort: []spec.SortKey{{Field: "title"}}},
		"NULL tiebreak":   {After: &spec.Cursor{Values: []any{nil}}},
		"NULL non-null":   {After: &spec.Cursor{Values: []any{nil, uuid.New()}}, Sort: []spec.SortKey{{Field: "title"}}},
		"bad cursor type": {After: &spec.Cursor{Values: []any{"soon", uuid.New()}}, Sort: []spec.SortKey{{Field: "due_date"}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Normalize(tasks)
			require.Error(t, err)
			assert.NotErrorIs(t, err, spec.ErrInvalidQuery)
		})
	}
}

func TestNewFieldsPanicsOnMalformedLists(t *testing.T) {
	ok := spec.Field{Column: "id", Type: spec.UUID}
	for name, build := range map[string]func(){
		"no resource": func() { spec.NewFields("", "id", map[string]spec.Field{"id": ok}) },
		"no tiebreak": func() { spec.NewFields("r", "id", map[string]spec.Field{"x": ok}) },
		"nullable tiebrk": func() {
			spec.NewFields("r", "id", map[string]spec.Field{"id": {Column: "id", Type: spec.UUID, Nullable: true}})
		},
		"reserved name": func() { spec.NewFields("r", "id", map[string]spec.Field{"id": ok, "sort": ok}) },
		"no column":     func() { spec.NewFields("r", "id", map[string]spec.Field{"id": {Type: spec.UUID}}) },
		"no type":       func() { spec.NewFields("r", "id", map[string]spec.Field{"id": {Column: "id"}}) },
		"enum no values": func() {
			spec.NewFields("r", "id", map[string]spec.Field{"id": ok, "s": {Column: "s", Type: spec.Enum}})
		},
		"values not enum": func() {
			spec.NewFields("r", "id", map[string]spec.Field{"id": ok, "s": {Column: "s", Type: spec.String, Values: []string{"a"}}})
		},
	} {
		assert.Panics(t, build, name)
	}
	f := spec.NewFields("r", "id", map[string]spec.Field{"id": ok})
	assert.Equal(t, "r", f.List())
	assert.Equal(t, "id", f.Tiebreak())
}
