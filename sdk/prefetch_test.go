package sdk

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

func prefetched(t *testing.T, sql string, args ...any) *call {
	t.Helper()
	st, err := statement(sql, args)
	require.NoError(t, err)
	rs := &wire.ResultSet{Columns: []string{"name"}, Rows: []*wire.Row{{Values: []*wire.Value{{Kind: &wire.Value_String_{String_: "Apollo"}}}}}}
	return &call{prefetch: &wire.Prefetch{Statement: st, Result: rs}}
}

// TestPrefetchAnswersOnlyTheFirstStatementWhenItIsTheSame: the host's
// prefetch answers the handler's first statement when text and arguments
// (their types too) are those the host ran; anything else goes to the
// host, and so does every statement after the first.
func TestPrefetchAnswersOnlyTheFirstStatementWhenItIsTheSame(t *testing.T) {
	const sql = "SELECT name FROM projects WHERE id = $1"
	c := prefetched(t, sql, "7")
	db := &DB{call: c}
	var name string
	require.NoError(t, db.QueryRow(t.Context(), sql, "7").Scan(&name))
	assert.Equal(t, "Apollo", name)
	assert.True(t, c.usedPrefetch())
	_, err := db.Query(t.Context(), sql, "7")
	assert.ErrorContains(t, err, "host services are not connected", "the second time, the host is asked")

	for name, first := range map[string]func(db *DB) error{
		"other text":     func(db *DB) error { _, err := db.Query(t.Context(), sql+" ", "7"); return err },
		"other argument": func(db *DB) error { _, err := db.Query(t.Context(), sql, "8"); return err },
		"other type":     func(db *DB) error { _, err := db.Query(t.Context(), sql, 7); return err },
		"exec first":     func(db *DB) error { _, err := db.Exec(t.Context(), sql, "7"); return err },
		"batch first": func(db *DB) error {
			_, err := db.Batch(t.Context(), Statement{SQL: sql, Args: []any{"7"}})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			c := prefetched(t, sql, "7")
			db := &DB{call: c}
			assert.ErrorContains(t, first(db), "host services are not connected")
			_, err := db.Query(t.Context(), sql, "7")
			assert.ErrorContains(t, err, "host services are not connected", "the prefetch was for the first statement only")
			assert.False(t, c.usedPrefetch())
		})
	}
}
