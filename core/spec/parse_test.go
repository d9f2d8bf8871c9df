package spec_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

func query(t *testing.T, raw string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(raw)
	require.NoError(t, err)
	return v
}

func TestParseDefaults(t *testing.T) {
	s, err := spec.Parse(url.Values{}, tasks, spec.Options{})
	require.NoError(t, err)
	assert.Empty(t, s.Filters)
	assert.Empty(t, s.Sort)
	assert.Nil(t, s.After)
	assert.Equal(t, 50, s.PageSize())
	assert.Equal(t, []spec.SortKey{{Field: "id", Desc: true}}, s.Order(tasks), "newest first")
}

func TestParseReadsEveryPart(t *testing.T) {
	assignee := uuid.New()
	s, err := spec.Parse(query(t, "limit=200&sort=title,-due_date&status=todo&status=done&priority=-3"+
		"&urgent=true&assignee_id="+assignee.String()+"&created_at=2025-01-31T10:00:00.5%2B01:00&title=a%20b"), tasks, spec.Options{})
	require.NoError(t, err)
	assert.Equal(t, 200, s.PageSize())
	assert.Equal(t, []spec.SortKey{{Field: "title"}, {Field: "due_date", Desc: true}}, s.Sort)
	assert.ElementsMatch(t, []spec.Filter{
		{Field: "status", Values: []any{"todo", "done"}},
		{Field: "priority", Values: []any{int64(-3)}},
		{Field: "urgent", Values: []any{true}},
		{Field: "assignee_id", Values: []any{assignee.String()}},
		{Field: "created_at", Values: []any{time.Date(2025, 1, 31, 9, 0, 0, 5e8, time.UTC)}},
		{Field: "title", Values: []any{"a b"}},
	}, s.Filters)
}

func TestParseLeavesReservedParametersToTheCaller(t *testing.T) {
	project := uuid.New()
	s, err := spec.Parse(query(t, "since=2025-01-01T00:00:00Z&until=whenever&cursor="), tasks, spec.Options{
		Reserved: []string{"since", "until"},
		Filters:  []spec.Filter{spec.Equal("project_id", project.String())},
	})
	require.NoError(t, err)
	assert.Equal(t, []spec.Filter{spec.Equal("project_id", project.String())}, s.Filters, "caller filters, normalized")
	assert.Nil(t, s.After, "an empty cursor is the first page")
}

func TestParseBlamesTheCallerForItsOwnFilters(t *testing.T) {
	_, err := spec.Parse(url.Values{}, tasks, spec.Options{Filters: []spec.Filter{spec.Equal("nope", 1)}})
	require.Error(t, err)
	assert.Equal(t, kernel.KindInternal, kernel.KindOf(err))
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		query, param, message string
	}{
		{"limit=0", "limit", "from 1 to 200"},
		{"limit=201", "limit", "from 1 to 200"},
		{"limit=ten", "limit", "whole number"},
		{"limit=", "limit", "whole number"},
		{"limit=5&limit=6", "limit", "once"},
		{"cursor=a&cursor=b", "cursor", "once"},
		{"nope=1", "nope", "not a filter of this list; filters: assignee_id, created_at, due_date, id, priority, status, title, urgent"},
		{"project_id=" + uuid.NewString(), "project_id", "not a filter"},
		{"limit", "limit", "whole number"},
		{"sort=nope", "sort", `cannot sort by "nope"; sortable fields: created_at, due_date, priority, status, title`},
		{"sort=urgent", "sort", `cannot sort by "urgent"`},
		{"sort=", "sort", `cannot sort by ""`},
		{"sort=-", "sort", `cannot sort by ""`},
		{"sort=title,", "sort", `cannot sort by ""`},
		{"sort=title,-title", "sort", `"title" is given twice`},
		{"sort=title&sort=status", "sort", "once"},
		{"assignee_id=42", "assignee_id", "must be a UUID"},
		{"created_at=2025-01-31", "created_at", "RFC 3339"},
		{"created_at=2025-01-31T10:00:00+01:00", "created_at", "RFC 3339"}, // an unescaped + is a space
		{"status=open", "status", "one of todo, doing, done"},
		{"status=todo&status=open", "status", "one of todo, doing, done"},
		{"priority=1.5", "priority", "whole number"},
		{"priority=99999999999999999999", "priority", "whole number"},
		{"urgent=yes", "urgent", "true or false"},
		{"title=%00", "title", "without NUL"},
		{"title=%ff", "title", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			_, err := spec.Parse(query(t, tt.query), tasks, spec.Options{})
			require.Error(t, err)
			require.ErrorIs(t, err, spec.ErrInvalidQuery)
			var e *kernel.Error
			require.True(t, errors.As(err, &e))
			assert.Equal(t, kernel.KindBadRequest, e.Kind)
			require.Len(t, e.Fields, 1, e.Error())
			assert.Equal(t, tt.param, e.Fields[0].Field)
			assert.Contains(t, e.Fields[0].Message, tt.message)
		})
	}
}

func TestParseReportsEveryBadParameter(t *testing.T) {
	_, err := spec.Parse(query(t, "b=1&a=2&limit=0&sort=x&status=x"), tasks, spec.Options{})
	var e *kernel.Error
	require.True(t, errors.As(err, &e))
	var params []string
	for _, f := range e.Fields {
		params = append(params, f.Field)
	}
	assert.Equal(t, []string{"a", "b", "limit", "sort", "status"}, params)
}

func TestParseBoundsHostileQueries(t *testing.T) {
	v := url.Values{}
	for i := range 1000 {
		v.Set("k"+string(rune('a'+i%26))+uuid.NewString(), "x")
	}
	v["status"] = make([]string, 101)
	_, err := spec.Parse(v, tasks, spec.Options{})
	var e *kernel.Error
	require.True(t, errors.As(err, &e))
	assert.Len(t, e.Fields, 10)

	_, err = spec.Parse(url.Values{"status": make([]string, 101)}, tasks, spec.Options{})
	require.ErrorIs(t, err, spec.ErrInvalidQuery)
	assert.Contains(t, err.Error(), "at most 100 values")

	_, err = spec.Parse(url.Values{"status": {}}, tasks, spec.Options{})
	require.ErrorIs(t, err, spec.ErrInvalidQuery)
}
