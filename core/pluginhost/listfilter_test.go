package pluginhost

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/internal/listquery"
	"github.com/atriumhq/atrium/sdk/transport"
)

func listFilter(param, limit int) *listquery.PolicyFilter {
	return &listquery.PolicyFilter{Action: "notes.note.read", Type: "note", Param: param, Limit: limit,
		ID:         &listquery.PolicyColumn{Column: "id", Type: listquery.UUID},
		Attributes: map[string]listquery.PolicyColumn{"state": {Column: "state", Type: listquery.Enum}}}
}

// The policy placeholder is put in only where the SDK puts it: a top-level
// conjunct of the WHERE, used once, false, beside a page's LIMIT.
func TestPlaceholderIsOnlyWhereTheSDKPutsIt(t *testing.T) {
	const ok = "SELECT id, state FROM notes WHERE author = $1 AND $2 ORDER BY id LIMIT $3"
	args := []any{"a", false, int64(21)}
	at, limit, err := placeholder(ok, args, listFilter(2, 3))
	require.NoError(t, err)
	assert.Equal(t, "$2", ok[at:at+2])
	assert.Equal(t, int64(21), limit)

	for name, tc := range map[string]struct {
		sql        string
		args       []any
		param, lim int
	}{
		"negated":          {"SELECT id FROM notes WHERE NOT $2 ORDER BY id LIMIT $3", args, 2, 3},
		"in a disjunction": {"SELECT id FROM notes WHERE author = $1 OR $2 ORDER BY id LIMIT $3", args, 2, 3},
		"used twice":       {"SELECT id, $2 FROM notes WHERE $2 ORDER BY id LIMIT $3", args, 2, 3},
		"in a subquery":    {"SELECT id FROM notes WHERE id IN (SELECT id FROM notes WHERE $2) LIMIT $3", args, 2, 3},
		"not false":        {ok, []any{"a", true, int64(21)}, 2, 3},
		"not the limit":    {"SELECT id FROM notes WHERE $2 LIMIT 5", args, 2, 3},
		"limit too large":  {ok, []any{"a", false, int64(100000)}, 2, 3},
		"out of range":     {ok, args, 4, 3},
		"same placeholder": {ok, args, 3, 3},
		"two statements":   {ok + "; SELECT 1", args, 2, 3},
		"not a select":     {"DELETE FROM notes WHERE $2 AND author = $1 AND $3 = 1", args, 2, 3},
	} {
		_, _, err := placeholder(tc.sql, tc.args, listFilter(tc.param, tc.lim))
		assert.Error(t, err, name)
	}
}

// rowsSQL answers every query with the same rows, at most the LIMIT.
type rowsSQL struct {
	SQL
	rows    [][]any
	queries []string
}

func (s *rowsSQL) Query(_ context.Context, _, sql string, args []any) (*transport.ResultSet, error) {
	s.queries = append(s.queries, sql)
	n := min(int(args[2].(int64)), len(s.rows))
	return &transport.ResultSet{Columns: []string{"id", "state"}, Rows: s.rows[:n]}, nil
}

type fallbackLists struct{ decided int }

func (l *fallbackLists) Filter(context.Context, string, string, access.ListColumns, int) (access.Filter, error) {
	return access.Filter{SQL: "TRUE", Fallback: true}, nil
}

func (l *fallbackLists) Allows(_ context.Context, _ string, res access.Resource) (bool, error) {
	l.decided++
	return res.Attributes["state"] == "published", nil
}

// A fallback page is full: the host fetches past the rows it hides.
func TestFallbackFillsThePage(t *testing.T) {
	sql := &rowsSQL{}
	for i := range 200 {
		state := "draft"
		if i%10 == 0 {
			state = "published"
		}
		sql.rows = append(sql.rows, []any{"id", state})
	}
	lists := &fallbackLists{}
	r := &request{s: Services{SQL: sql}, lists: lists, plugin: "notes"}
	rs, err := r.listQuery(t.Context(), "SELECT id, state FROM notes WHERE author = $1 AND $2 ORDER BY id LIMIT $3",
		[]any{"a", false, int64(11)}, listFilter(2, 3))
	require.NoError(t, err)
	assert.Len(t, rs.Rows, 11, "a page of 10 and the row that says more exist")
	assert.Len(t, sql.queries, 3, "11, 44 then 176 rows fetched")
	assert.Contains(t, sql.queries[0], "($2 AND (TRUE))")
	assert.Equal(t, 101, lists.decided, "each row decided once")
}
