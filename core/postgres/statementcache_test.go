package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/tenancy"
)

// Two tenants at different migration versions: the same SQL text has a
// different result shape in each. Through one pooled connection, each sees
// its own shape and rows.
func TestStatementCacheAcrossTenantShapes(t *testing.T) {
	e := newEnv(t, 2)
	ctx := context.Background()
	a, b := e.create(t, "alpha"), e.create(t, "bravo")
	// The platform role makes the tables (as a core migration would) and
	// grants the tenant role what it reads.
	exec := func(tn *tenancy.Tenant, sql string) {
		require.NoError(t, e.asPlatform(ctx, tn, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, sql+"; GRANT SELECT ON items TO "+pgx.Identifier{tn.Role}.Sanitize())
			return err
		}))
	}
	exec(a, "CREATE TABLE items (id int, title text); INSERT INTO items VALUES (1, 'alpha item')")
	exec(b, "CREATE TABLE items (id int, title text, priority int, done boolean); INSERT INTO items VALUES (2, 'bravo item', 5, true)")

	read := func(tn *tenancy.Tenant) (cols []string, row []any) {
		require.NoError(t, e.uow.InTenant(ctx, tn.Scope(), func(ctx context.Context) error {
			tx, _ := postgres.TxFrom(ctx)
			rows, err := tx.Query(ctx, "SELECT * FROM items WHERE id > $1", 0)
			if err != nil {
				return err
			}
			defer rows.Close()
			for _, f := range rows.FieldDescriptions() {
				cols = append(cols, f.Name)
			}
			require.True(t, rows.Next())
			row, err = rows.Values()
			return err
		}))
		return cols, row
	}
	for range 3 { // alternate so each tenant follows the other on the connection
		cols, row := read(a)
		assert.Equal(t, []string{"id", "title"}, cols)
		assert.Equal(t, []any{int32(1), "alpha item"}, row)
		cols, row = read(b)
		assert.Equal(t, []string{"id", "title", "priority", "done"}, cols)
		assert.Equal(t, []any{int32(2), "bravo item", int32(5), true}, row)
	}
}

// Pins why units of work bypass pgx's statement cache: a statement prepared
// under one tenant's search_path fails under another's whose table differs.
// PostgreSQL re-plans on a search_path change (so rows never leak), but the
// result type may not change; the failure is loud, not wrong data.
func TestPgxStatementCacheWouldFailAcrossShapes(t *testing.T) {
	e := newEnv(t, 2)
	ctx := context.Background()
	a, b := e.create(t, "alpha"), e.create(t, "bravo")
	for _, s := range []struct {
		tn  *tenancy.Tenant
		sql string
	}{{a, "CREATE TABLE items (id int, title text)"}, {b, "CREATE TABLE items (id int, title text, priority int)"}} {
		require.NoError(t, e.asPlatform(ctx, s.tn, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, s.sql+"; GRANT SELECT ON items TO "+pgx.Identifier{s.tn.Role}.Sanitize())
			return err
		}))
	}
	conn, err := e.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	query := func(tn *tenancy.Tenant) error {
		tx, err := conn.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck // test
		_, err = tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{tn.Role}.Sanitize()+"; SET LOCAL search_path TO "+pgx.Identifier{tn.Schema}.Sanitize())
		require.NoError(t, err)
		rows, err := tx.Query(ctx, "SELECT * FROM items WHERE id > $1", 0) // cached statement
		if err != nil {
			return err
		}
		rows.Close()
		return rows.Err()
	}
	require.NoError(t, query(a))
	assert.ErrorContains(t, query(b), "cached plan must not change result type")
}
