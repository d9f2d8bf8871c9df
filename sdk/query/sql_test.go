package query_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/sdk/query"
)

// The engine's tests cover the translation; this checks the plugin's face:
// the scope first, placeholders after the plugin's own.
func TestSQL(t *testing.T) {
	project := uuid.New()
	s, err := query.Parse(values(t, "status=todo&status=done&sort=-created_at&limit=10"), tasks,
		query.Options{Scope: []query.Filter{query.Equal("project_id", project)}})
	require.NoError(t, err)
	c, err := query.SQL(s, 1)
	require.NoError(t, err)
	assert.Equal(t, `"project_id" = $2 AND "status" IN ($3, $4)`, c.Where)
	assert.Equal(t, `ORDER BY "t"."created_at" DESC, "id" DESC LIMIT $5`, c.OrderLimit)
	assert.Equal(t, []any{project.String(), "todo", "done", 11}, c.Args)
}

func TestSQLNeedsAParsedSpec(t *testing.T) {
	_, err := query.SQL(query.Spec{}, 0)
	assert.Error(t, err)
}
