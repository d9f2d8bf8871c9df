package sdk

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/internal/listquery"
)

// A list's policy placeholder travels as false, with the declaration beside
// the statement: a host that ignores it lists nothing.
func TestStatementCarriesTheListFilter(t *testing.T) {
	f := &listquery.PolicyFilter{Action: "notes.note.read", Type: "note", Param: 2, Limit: 3,
		ID: &listquery.PolicyColumn{Column: "id", Type: listquery.UUID}}
	args := []any{"a", f, 21}
	st, err := statement("SELECT id FROM notes WHERE author = $1 AND $2 ORDER BY id LIMIT $3", args)
	require.NoError(t, err)
	assert.False(t, st.GetArgs()[1].GetBool())
	assert.Same(t, f, args[1], "the caller's arguments are left as they were")
	lf := st.GetListFilter()
	require.NotNil(t, lf)
	assert.Equal(t, uint32(2), lf.GetParam())
	assert.Equal(t, uint32(3), lf.GetLimitParam())
	assert.Equal(t, "id", lf.GetId().GetColumn())

	_, err = statement("SELECT 1 WHERE $1 AND $2", []any{f, f})
	assert.Error(t, err, "two filters in one statement")
}
