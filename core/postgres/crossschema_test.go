package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/migrations"
)

// crossSchemaRef is one row of examples/deploy/cross-schema-references.sql.
type crossSchemaRef struct {
	Kind, FromSchema, Object, ToSchema string
	Target                             *string
}

func crossSchemaRefs(t *testing.T, e *env) []crossSchemaRef {
	t.Helper()
	sql, err := os.ReadFile("../../examples/deploy/cross-schema-references.sql")
	require.NoError(t, err)
	rows, err := e.pool.Query(context.Background(), string(sql), pgx.QueryExecModeSimpleProtocol)
	require.NoError(t, err)
	refs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[crossSchemaRef])
	require.NoError(t, err)
	return refs
}

// The check docs/deployment.md gives for Citus finds, in tenants with every
// core tenant migration and a plugin's tables, no reference out of a tenant
// schema but the two platform functions that record a plugin's migration
// state in the platform schema; and it finds a foreign key, a view and a
// column type that do cross.
func TestNoCrossSchemaReferences(t *testing.T) {
	e := newEnv(t, 8)
	ctx := context.Background()
	e.create(t, "acme")
	e.create(t, "globex")
	_, err := e.pool.Exec(ctx, `UPDATE atrium.tenants SET plugins = '{tasks}'`)
	require.NoError(t, err)
	core, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(t, err)
	sum, err := postgres.NewRollout(e.pool, []*postgres.MigrationSet{core, plugin("tasks",
		"CREATE TABLE tasks_lists (id bigserial PRIMARY KEY, name text NOT NULL)",
		"CREATE TABLE tasks (id bigserial PRIMARY KEY, list_id bigint NOT NULL REFERENCES tasks_lists (id), title text NOT NULL)",
		"CREATE VIEW tasks_open AS SELECT t.id, l.name FROM tasks t JOIN tasks_lists l ON l.id = t.list_id",
	)}, postgres.RolloutOptions{}).Run(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, sum.Failed)

	var want []crossSchemaRef
	for _, schema := range []string{"t_acme", "t_globex"} {
		for _, fn := range []string{"atrium_plugin_migrated(text,bigint,bigint,integer)", "atrium_plugin_version(text)"} {
			want = append(want, crossSchemaRef{Kind: "function body", FromSchema: schema, Object: "function " + schema + "." + fn, ToSchema: "atrium"})
		}
	}
	assert.Equal(t, want, crossSchemaRefs(t, e))

	for _, sql := range []string{
		`CREATE TABLE t_acme.stray (id bigint REFERENCES t_globex.tasks_lists (id))`,
		`CREATE VIEW t_acme.peek AS SELECT name FROM t_globex.tasks_lists`,
		`CREATE TYPE t_globex.mood AS ENUM ('calm')`,
		`ALTER TABLE t_acme.tasks_lists ADD COLUMN mood t_globex.mood`,
	} {
		_, err := e.pool.Exec(ctx, sql)
		require.NoError(t, err, sql)
	}
	found := map[string]bool{}
	for _, r := range crossSchemaRefs(t, e) {
		if r.Kind == "catalog" {
			found[r.FromSchema+" "+r.Object+" -> "+r.ToSchema] = true
		}
	}
	for _, w := range []string{
		"t_acme table constraint stray_id_fkey on t_acme.stray -> t_globex",
		`t_acme rule "_RETURN" on t_acme.peek -> t_globex`,
		"t_acme table column t_acme.tasks_lists.mood -> t_globex",
	} {
		assert.True(t, found[w], "not found: %s (found %v)", w, found)
	}
}
