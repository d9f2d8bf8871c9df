package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/core/spec"
)

var items = spec.NewFields("items", "id", map[string]spec.Field{
	"id":         {Column: "id", Type: spec.UUID, Filter: true},
	"title":      {Column: "title", Type: spec.String, Filter: true, Sort: true},
	"status":     {Column: "status", Type: spec.Enum, Values: []string{"todo", "doing", "done"}, Filter: true, Sort: true},
	"due_date":   {Column: "due_date", Type: spec.Time, Sort: true, Nullable: true},
	"created_at": {Column: "created_at", Type: spec.Time, Sort: true},
	"odd":        {Column: "t2.odd", Type: spec.String, Filter: true},
})

func TestSpecSQL(t *testing.T) {
	id := uuid.MustParse("0190a6f0-0000-7000-8000-000000000001")
	due := time.Date(2025, 1, 31, 0, 0, 0, 0, time.UTC)
	byTitleThenDue := []spec.SortKey{{Field: "title"}, {Field: "due_date", Desc: true}}
	tests := []struct {
		name       string
		spec       spec.Spec
		table      string
		where, ord string
		args       []any
	}{
		{"default", spec.Spec{}, "t",
			"TRUE", `ORDER BY "t"."id" DESC LIMIT $3`, []any{51}},
		{"filters", spec.Spec{Limit: 7, Filters: []spec.Filter{spec.OneOf("status", "todo", "done"), spec.Equal("odd", `x"; DROP TABLE t; --`)}}, "",
			`"status" IN ($3, $4) AND "t2"."odd" = $5`, `ORDER BY "id" DESC LIMIT $6`, []any{"todo", "done", `x"; DROP TABLE t; --`, 8}},
		{"one direction: row comparison", spec.Spec{Sort: []spec.SortKey{{Field: "created_at", Desc: true}}, After: &spec.Cursor{Values: []any{due, id}}}, "t",
			`("t"."created_at", "t"."id") < ($3, $4)`, `ORDER BY "t"."created_at" DESC, "t"."id" DESC LIMIT $5`, []any{due, id.String(), 51}},
		{"tiebreak only", spec.Spec{Sort: []spec.SortKey{{Field: "id"}}, After: &spec.Cursor{Values: []any{id}}}, "t",
			`"t"."id" > $3`, `ORDER BY "t"."id" ASC LIMIT $4`, []any{id.String(), 51}},
		{"mixed directions", spec.Spec{Sort: byTitleThenDue, After: &spec.Cursor{Values: []any{"b", due, id}}}, "t",
			`("t"."title" > $3 OR ("t"."title" = $3 AND ("t"."due_date" < $4 OR "t"."due_date" IS NULL)) OR ("t"."title" = $3 AND "t"."due_date" = $4 AND "t"."id" < $5))`,
			`ORDER BY "t"."title" ASC, "t"."due_date" DESC NULLS LAST, "t"."id" DESC LIMIT $6`, []any{"b", due, id.String(), 51}},
		{"mixed, after a NULL", spec.Spec{Sort: byTitleThenDue, After: &spec.Cursor{Values: []any{"b", nil, id}}}, "t",
			`("t"."title" > $3 OR ("t"."title" = $3 AND "t"."due_date" IS NULL AND "t"."id" < $4))`,
			`ORDER BY "t"."title" ASC, "t"."due_date" DESC NULLS LAST, "t"."id" DESC LIMIT $5`, []any{"b", id.String(), 51}},
		{"nullable, one direction", spec.Spec{Sort: []spec.SortKey{{Field: "due_date"}}, After: &spec.Cursor{Values: []any{due, id}}}, "t",
			`(("t"."due_date" > $3 OR "t"."due_date" IS NULL) OR ("t"."due_date" = $3 AND "t"."id" > $4))`,
			`ORDER BY "t"."due_date" ASC NULLS LAST, "t"."id" ASC LIMIT $5`, []any{due, id.String(), 51}},
		{"nullable, after a NULL", spec.Spec{Sort: []spec.SortKey{{Field: "due_date"}}, After: &spec.Cursor{Values: []any{nil, id}}}, "t",
			`("t"."due_date" IS NULL AND "t"."id" > $3)`,
			`ORDER BY "t"."due_date" ASC NULLS LAST, "t"."id" ASC LIMIT $4`, []any{id.String(), 51}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := postgres.SpecSQL(tt.spec, items, tt.table, 2)
			require.NoError(t, err)
			assert.Equal(t, tt.where, c.Where)
			assert.Equal(t, tt.ord, c.OrderLimit)
			assert.Equal(t, tt.args, c.Args)
		})
	}
}

func TestSpecSQLRefusesMalformedSpecs(t *testing.T) {
	_, err := postgres.SpecSQL(spec.Spec{Sort: []spec.SortKey{{Field: "nope"}}}, items, "t", 0)
	require.Error(t, err)
	assert.Equal(t, kernel.KindInternal, kernel.KindOf(err))
}

type item struct {
	ID        uuid.UUID
	Title     string
	Status    string
	DueDate   *time.Time
	CreatedAt time.Time
}

func (it item) values() map[string]any {
	return map[string]any{"id": it.ID, "title": it.Title, "status": it.Status, "due_date": it.DueDate, "created_at": it.CreatedAt}
}

// Paging through with cursors yields exactly the rows, in exactly the order,
// of one plain query: no gaps and no repeats, across duplicate values, NULLs
// and mixed directions.
func TestSpecPagesMatchOneQuery(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, postgrestest.NewDatabase(t))
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	seed(ctx, t, pool)
	codec, err := spec.NewCodec([]byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)

	tests := []struct{ query, where, order string }{
		{"", "TRUE", "id DESC"},
		{"sort=-created_at", "TRUE", "created_at DESC, id DESC"},
		{"sort=due_date", "TRUE", "due_date ASC NULLS LAST, id ASC"},
		{"sort=-due_date", "TRUE", "due_date DESC NULLS LAST, id DESC"},
		{"sort=title,-due_date", "TRUE", "title ASC, due_date DESC NULLS LAST, id DESC"},
		{"sort=-due_date,title", "TRUE", "due_date DESC NULLS LAST, title ASC, id ASC"},
		{"sort=status,-created_at&status=todo&status=done", "status IN ('todo', 'done')", "status, created_at DESC, id DESC"},
		{"sort=-title,due_date&status=doing", "status = 'doing'", "title DESC, due_date ASC NULLS LAST, id ASC"},
		{"title=title+3&sort=created_at", "title = 'title 3'", "created_at ASC, id ASC"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var want []uuid.UUID
			rows, err := pool.Query(ctx, "SELECT id FROM items WHERE "+tt.where+" ORDER BY "+tt.order)
			require.NoError(t, err)
			want, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
			require.NoError(t, err)
			require.NotEmpty(t, want)

			var got []uuid.UUID
			cursor := ""
			for pages := 0; ; pages++ {
				require.Less(t, pages, 100, "pagination does not end")
				q, err := url.ParseQuery(tt.query)
				require.NoError(t, err)
				q.Set("limit", "7")
				q.Set("cursor", cursor)
				page, next := fetch(ctx, t, pool, codec, q)
				if next != "" {
					assert.Len(t, page, 7)
				}
				for _, it := range page {
					got = append(got, it.ID)
				}
				if cursor = next; cursor == "" {
					break
				}
			}
			assert.Equal(t, want, got)
		})
	}
}

// fetch runs one page of a list the way a repository would: after a
// parameter of its own ($1), so the clause's placeholders start at $2.
func fetch(ctx context.Context, t *testing.T, pool *pgxpool.Pool, codec *spec.Codec, q url.Values) ([]item, string) {
	t.Helper()
	s, err := spec.Parse(q, items, spec.Options{Codec: codec})
	require.NoError(t, err)
	c, err := postgres.SpecSQL(s, items, "items", 1)
	require.NoError(t, err)
	rows, err := pool.Query(ctx, `SELECT id, title, status, due_date, created_at FROM items WHERE created_at > $1 AND `+
		c.Where+" "+c.OrderLimit, append([]any{time.Time{}}, c.Args...)...)
	require.NoError(t, err)
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[item])
	require.NoError(t, err)
	page, next, err := spec.Paginate(codec, s, items, all, item.values)
	require.NoError(t, err)
	return page, next
}

// seed inserts 200 rows with many duplicate titles, statuses, due dates and
// creation times, and a NULL due date in every fourth row.
func seed(ctx context.Context, t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	_, err := pool.Exec(ctx, `CREATE TABLE items (id uuid PRIMARY KEY, title text NOT NULL, status text NOT NULL,
		due_date timestamptz NULL, created_at timestamptz NOT NULL)`)
	require.NoError(t, err)
	base := time.Date(2025, 1, 1, 8, 0, 0, 123456000, time.UTC)
	statuses := []string{"todo", "doing", "done"}
	var rows [][]any
	for i := range 200 {
		var due *time.Time
		if i%4 != 0 {
			d := base.AddDate(0, 0, i%17)
			due = &d
		}
		rows = append(rows, []any{kernel.NewID(), fmt.Sprintf("title %d", i%13), statuses[i%3], due,
			base.Add(time.Duration(i%29) * time.Minute)})
	}
	n, err := pool.CopyFrom(ctx, pgx.Identifier{"items"}, []string{"id", "title", "status", "due_date", "created_at"}, pgx.CopyFromRows(rows))
	require.NoError(t, err)
	require.EqualValues(t, 200, n)
}
