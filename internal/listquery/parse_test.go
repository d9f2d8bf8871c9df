package listquery_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/internal/listquery"
)

func query(t *testing.T, raw string) url.Values {
	t.Helper()
	v, err := url.ParseQuery(raw)
	require.NoError(t, err)
	return v
}

func TestParseDefaults(t *testing.T) {
	s, err := listquery.Parse(url.Values{}, tasks, listquery.Options{})
	require.NoError(t, err)
	assert.Empty(t, s.Filters)
	assert.Empty(t, s.Sort)
	assert.Nil(t, s.After)
	assert.Equal(t, 50, s.PageSize())
	assert.Equal(t, []listquery.SortKey{{Field: "id", Desc: true}}, s.Order(tasks), "newest first")
}

func TestParseReadsEveryPart(t *testing.T) {
	assignee := uuid.New()
	s, err := listquery.Parse(query(t, "limit=200&sort=title,-due_date&status=todo&status=done&priority=-3"+
		"&urgent=true&assignee_id="+assignee.String()+"&created_at=2025-01-31T10:00:00.5%2B01:00&title=a%20b"), tasks, listquery.Options{})
	require.NoError(t, err)
	assert.Equal(t, 200, s.PageSize())
	assert.Equal(t, []listquery.SortKey{{Field: "title"}, {Field: "due_date", Desc: true}}, s.Sort)
	assert.ElementsMatch(t, []listquery.Filter{
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
	s, err := listquery.Parse(query(t, "since=2025-01-01T00:00:00Z&until=whenever&cursor="), tasks, listquery.Options{
		Reserved: []string{"since", "until"},
		Filters:  []listquery.Filter{listquery.Equal("project_id", project.String())},
	})
	require.NoError(t, err)
	assert.Equal(t, []listquery.Filter{listquery.Equal("project_id", project.String())}, s.Filters, "caller filters, normalized")
	assert.Nil(t, s.After, "an empty cursor is the first page")
}

func TestParseBlamesTheCallerForItsOwnFilters(t *testing.T) {
	_, err := listquery.Parse(url.Values{}, tasks, listquery.Options{Filters: []listquery.Filter{listquery.Equal("nope", 1)}})
	var e *listquery.Error
	require.Error(t, err)
	assert.False(t, errors.As(err, &e), "the caller's mistake, not the client's")
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
			_, err := listquery.Parse(query(t, tt.query), tasks, listquery.Options{})
			fields := mistake(t, err, listquery.BadQuery)
			require.Len(t, fields, 1, "%v", err)
			assert.Equal(t, tt.param, fields[0].Field)
			assert.Contains(t, fields[0].Message, tt.message)
		})
	}
}

func TestParseReportsEveryBadParameter(t *testing.T) {
	_, err := listquery.Parse(query(t, "b=1&a=2&limit=0&sort=x&status=x"), tasks, listquery.Options{})
	fields := mistake(t, err, listquery.BadQuery)
	var params []string
	for _, f := range fields {
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
	_, err := listquery.Parse(v, tasks, listquery.Options{})
	assert.Len(t, mistake(t, err, listquery.BadQuery), 10)

	for raw, message := range map[string]string{
		"status=" + strings.Repeat("&status=todo", 101): "at most 100 values",
		"title=" + strings.Repeat("x", 1025):            "at most 1024 bytes",
	} {
		_, err = listquery.Parse(query(t, raw), tasks, listquery.Options{})
		assert.Contains(t, mistake(t, err, listquery.BadQuery)[0].Message, message)
	}

	_, err = listquery.Parse(url.Values{"status": {}}, tasks, listquery.Options{})
	assert.NotEmpty(t, mistake(t, err, listquery.BadQuery))
}

func TestParseTakesTheCallersDefaults(t *testing.T) {
	byTitle := []listquery.SortKey{{Field: "title"}}
	s, err := listquery.Parse(url.Values{}, tasks, listquery.Options{Sort: byTitle, Limit: 20})
	require.NoError(t, err)
	assert.Equal(t, byTitle, s.Sort)
	assert.Equal(t, 20, s.PageSize())

	s, err = listquery.Parse(query(t, "sort=-priority&limit=3"), tasks, listquery.Options{Sort: byTitle, Limit: 20})
	require.NoError(t, err)
	assert.Equal(t, []listquery.SortKey{{Field: "priority", Desc: true}}, s.Sort)
	assert.Equal(t, 3, s.PageSize())

	_, err = listquery.Parse(url.Values{}, tasks, listquery.Options{Sort: []listquery.SortKey{{Field: "nope"}}})
	var e *listquery.Error
	require.Error(t, err)
	assert.False(t, errors.As(err, &e), "the caller's mistake, not the client's")

	_, err = listquery.Parse(url.Values{}, listquery.Fields{}, listquery.Options{})
	require.Error(t, err)
	assert.False(t, errors.As(err, &e))
}
