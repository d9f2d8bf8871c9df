package listquery_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/internal/listquery"
)

func TestSQL(t *testing.T) {
	project := uuid.New()
	at := time.Date(2025, 1, 31, 9, 0, 0, 0, time.UTC)
	due := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	scope := []listquery.Filter{listquery.Equal("project_id", project)}
	c := newCodec(t, 0)
	cursor := func(raw string, last map[string]any) string {
		s, err := listquery.Parse(query(t, raw), tasks, listquery.Options{Filters: scope})
		require.NoError(t, err)
		token, err := c.Next(s, tasks, last)
		require.NoError(t, err)
		return token
	}
	tests := []struct {
		name, query, where, orderLimit string
		args                           []any
	}{
		{
			name:  "first page, default order",
			where: `"project_id" = $2`, orderLimit: `ORDER BY "id" DESC LIMIT $3`,
			args: []any{project.String(), 51},
		},
		{
			name:  "filters",
			query: "status=todo&status=done&title=x&limit=10",
			where: `"project_id" = $2 AND "status" IN ($3, $4) AND "title" = $5`, orderLimit: `ORDER BY "id" DESC LIMIT $6`,
			args: []any{project.String(), "todo", "done", "x", 11},
		},
		{
			name:  "uniform keyset: a row comparison",
			query: "sort=-created_at&cursor=" + cursor("sort=-created_at", map[string]any{"created_at": at, "id": lastID}),
			where: `"project_id" = $2 AND ("t"."created_at", "id") < ($3, $4)`, orderLimit: `ORDER BY "t"."created_at" DESC, "id" DESC LIMIT $5`,
			args: []any{project.String(), at, lastID.String(), 51},
		},
		{
			name:       "nullable key, value present",
			query:      "sort=due_date&cursor=" + cursor("sort=due_date", map[string]any{"due_date": due, "id": lastID}),
			where:      `"project_id" = $2 AND (("due_date" > $3 OR "due_date" IS NULL) OR ("due_date" = $3 AND "id" > $4))`,
			orderLimit: `ORDER BY "due_date" ASC NULLS LAST, "id" ASC LIMIT $5`,
			args:       []any{project.String(), "2025-02-01", lastID.String(), 51},
		},
		{
			name:       "nullable key, NULL",
			query:      "sort=-due_date&cursor=" + cursor("sort=-due_date", map[string]any{"due_date": nil, "id": lastID}),
			where:      `"project_id" = $2 AND ("due_date" IS NULL AND "id" < $3)`,
			orderLimit: `ORDER BY "due_date" DESC NULLS LAST, "id" DESC LIMIT $4`,
			args:       []any{project.String(), lastID.String(), 51},
		},
		{
			name:       "mixed directions",
			query:      "sort=title,-created_at&cursor=" + cursor("sort=title,-created_at", map[string]any{"title": "a", "created_at": at, "id": lastID}),
			where:      `"project_id" = $2 AND ("title" > $3 OR ("title" = $3 AND "t"."created_at" < $4) OR ("title" = $3 AND "t"."created_at" = $4 AND "id" < $5))`,
			orderLimit: `ORDER BY "title" ASC, "t"."created_at" DESC, "id" DESC LIMIT $6`,
			args:       []any{project.String(), "a", at, lastID.String(), 51},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := listquery.Parse(query(t, tt.query), tasks, listquery.Options{Codec: c, Filters: scope})
			require.NoError(t, err)
			c, err := listquery.SQL(s, tasks, "", 1)
			require.NoError(t, err)
			assert.Equal(t, tt.where, c.Where)
			assert.Equal(t, tt.orderLimit, c.OrderLimit)
			assert.Equal(t, tt.args, c.Args)
		})
	}
}

// Client text reaches SQL only as arguments, never in the statement.
func TestSQLKeepsValuesOutOfTheText(t *testing.T) {
	evil := `x' OR 1=1; --`
	codec := newCodec(t, 0)
	s, err := listquery.Parse(url.Values{"title": {evil}}, tasks, listquery.Options{})
	require.NoError(t, err)
	token, err := codec.Next(s, tasks, map[string]any{"id": lastID})
	require.NoError(t, err)
	s, err = listquery.Parse(url.Values{"title": {evil}, "cursor": {token}}, tasks, listquery.Options{Codec: codec})
	require.NoError(t, err)
	c, err := listquery.SQL(s, tasks, "", 0)
	require.NoError(t, err)
	assert.NotContains(t, c.Where+c.OrderLimit, "OR 1=1")
	assert.Equal(t, []any{evil, lastID.String(), 51}, c.Args)
	assert.Equal(t, `"title" = $1 AND "id" < $2`, c.Where)
}

func TestSQLQualifiesByTable(t *testing.T) {
	s := listquery.Spec{Sort: []listquery.SortKey{{Field: "created_at"}}, Filters: []listquery.Filter{listquery.Equal("title", "x")}}
	c, err := listquery.SQL(s, tasks, "tasks", 0)
	require.NoError(t, err)
	assert.Equal(t, `"tasks"."title" = $1`, c.Where)
	assert.Equal(t, `ORDER BY "t"."created_at" ASC, "tasks"."id" ASC LIMIT $2`, c.OrderLimit, "a qualified column keeps its own table")
}

func TestSQLRefusesMalformedSpecs(t *testing.T) {
	_, err := listquery.SQL(listquery.Spec{}, listquery.Fields{}, "", 0)
	assert.Error(t, err, "Fields not from NewFields")
	_, err = listquery.SQL(listquery.Spec{Sort: []listquery.SortKey{{Field: "nope"}}}, tasks, "", 0)
	assert.Error(t, err)
}
