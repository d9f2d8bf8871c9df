package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres"
)

// With one pooled connection, A's unit of work, then B's, then an unscoped
// query all share the connection: B sees only B, and afterwards the
// connection is back at the baseline and the admin role.
func TestOneConnectionSeesOnlyItsTenant(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	a, b := e.create(t, "alpha"), e.create(t, "bravo")
	require.EqualValues(t, 1, e.pool.Stat().MaxConns(), "every step below shares the one connection")
	var adminUser string
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT current_user").Scan(&adminUser))

	require.NoError(t, e.uow.InTenant(ctx, a.Scope(), func(ctx context.Context) error { return insertMarker(ctx, "marker-a") }))
	assert.Equal(t, []string{"admin@bravo.test"}, e.emailsOf(t, b), "B sees only B's rows")

	conn, err := e.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	var searchPath, user string
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_setting('search_path'), current_user").Scan(&searchPath, &user))
	assert.Equal(t, postgres.BaselineSchema, searchPath)
	assert.Equal(t, adminUser, user, "the tenant role does not outlive the unit of work")
	_, err = conn.Exec(ctx, "SELECT email FROM users")
	assert.ErrorContains(t, err, `relation "users" does not exist`, "a forgotten scope fails loudly")
}

func TestPostgresRefusesAnotherTenantsSchema(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	a, b := e.create(t, "alpha"), e.create(t, "bravo")
	err := e.uow.InTenant(ctx, a.Scope(), func(ctx context.Context) error {
		tx, err := postgres.TxFrom(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, fmt.Sprintf("SELECT email FROM %s.users", pgx.Identifier{b.Schema}.Sanitize()))
		return err
	})
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42501", pgErr.Code, "insufficient_privilege")

	// Nor the platform schema.
	err = e.uow.InTenant(ctx, a.Scope(), func(ctx context.Context) error {
		tx, _ := postgres.TxFrom(ctx)
		_, err := tx.Exec(ctx, "SELECT slug FROM atrium.tenants")
		return err
	})
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, "42501", pgErr.Code)

}

// Pins a limit of SET ROLE scoping (docs/tenancy.md): SQL that itself resets
// the role returns to the connecting user. Scoping protects every statement
// Atrium writes; SQL from outside (plugins, through the host SQL service)
// must therefore be refused when it changes roles or settings.
func TestResetRoleInsideAUnitIsNotASandbox(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	a, b := e.create(t, "alpha"), e.create(t, "bravo")
	err := e.uow.InTenant(ctx, a.Scope(), func(ctx context.Context) error {
		tx, _ := postgres.TxFrom(ctx)
		if _, err := tx.Exec(ctx, "RESET ROLE"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf("SELECT email FROM %s.users", pgx.Identifier{b.Schema}.Sanitize()))
		return err
	})
	assert.NoError(t, err, "if this starts failing, PostgreSQL closed the gap: update docs/tenancy.md")
}

func TestCancelAndPanicRollBackAndLeaveTheConnectionClean(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	a := e.create(t, "alpha")

	cctx, cancel := context.WithCancel(ctx)
	err := e.uow.InTenant(cctx, a.Scope(), func(ctx context.Context) error {
		require.NoError(t, insertMarker(ctx, "cancelled"))
		cancel()
		return ctx.Err()
	})
	require.ErrorIs(t, err, context.Canceled)

	require.Panics(t, func() {
		_ = e.uow.InTenant(ctx, a.Scope(), func(ctx context.Context) error {
			require.NoError(t, insertMarker(ctx, "panicked"))
			panic("handler bug")
		})
	})

	// A handler that ignores a failed statement cannot commit half its work.
	err = e.uow.InTenant(ctx, a.Scope(), func(ctx context.Context) error {
		require.NoError(t, insertMarker(ctx, "before-failure"))
		tx, _ := postgres.TxFrom(ctx)
		_, _ = tx.Exec(ctx, "SELECT no_such_column FROM users")
		return nil
	})
	require.Error(t, err)

	assert.Equal(t, []string{"admin@alpha.test"}, e.emailsOf(t, a), "nothing of the failed units was committed")

	for range 2 { // the one pooled connection is back at the baseline
		var sp string
		require.NoError(t, e.pool.QueryRow(ctx, "SHOW search_path").Scan(&sp))
		assert.Equal(t, postgres.BaselineSchema, sp)
	}
}

func TestAfterCommitRunsOnlyOnCommit(t *testing.T) {
	e := newEnv(t, 2)
	ctx := context.Background()
	a := e.create(t, "alpha")
	ran := 0
	require.NoError(t, e.uow.InTenant(ctx, a.Scope(), func(ctx context.Context) error {
		kernelAfterCommit(ctx, func() { ran++ })
		assert.Zero(t, ran, "not before commit")
		return nil
	}))
	assert.Equal(t, 1, ran)
	_ = e.uow.InTenant(ctx, a.Scope(), func(ctx context.Context) error {
		kernelAfterCommit(ctx, func() { ran++ })
		return errors.New("fail")
	})
	assert.Equal(t, 1, ran, "not on rollback")
}

// Many goroutines interleave units of work of two tenants on a small pool,
// each writing and reading marker rows: no read ever sees the other's rows.
func TestInterleavedTenantsNeverSeeEachOther(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	a, b := e.create(t, "alpha"), e.create(t, "bravo")
	const workers, ops = 16, 10_000
	var leaks, done atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < ops; i += workers {
				tn, own, other := a, "@alpha", "@bravo"
				if i%2 == 1 {
					tn, own, other = b, "@bravo", "@alpha"
				}
				err := e.uow.InTenant(ctx, tn.Scope(), func(ctx context.Context) error {
					if i%10 == 0 {
						if err := insertMarker(ctx, fmt.Sprintf("m%d%s", i, own)); err != nil {
							return err
						}
					}
					tx, _ := postgres.TxFrom(ctx)
					var foreign int
					if err := tx.QueryRow(ctx, "SELECT count(*) FROM users WHERE email LIKE '%' || $1", other).Scan(&foreign); err != nil {
						return err
					}
					leaks.Add(int64(foreign))
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, ops, done.Load())
	assert.Zero(t, leaks.Load(), "cross-tenant reads")
}

func kernelAfterCommit(ctx context.Context, f func()) { kernel.AfterCommit(ctx, f) }

// A unit of work on a context marked kernel.ReadOnly reads but cannot
// write, whether its first statement is pipelined with BEGIN (a statement
// the connection has prepared) or sent after it (one it has not); the next
// unit on the same connection writes again.
func TestReadOnlyUnitRefusesWrites(t *testing.T) {
	e := newEnv(t, 1)
	ctx := context.Background()
	a := e.create(t, "alpha")
	ro := kernel.ReadOnly(ctx)
	var pgErr *pgconn.PgError
	refused := func(err error) {
		t.Helper()
		require.ErrorAs(t, err, &pgErr)
		assert.Equal(t, "25006", pgErr.Code, "read_only_sql_transaction")
	}

	// Prepared on the one connection, so the next unit pipelines it.
	require.NoError(t, e.uow.InTenant(ctx, a.Scope(), func(ctx context.Context) error { return insertMarker(ctx, "writable") }))
	refused(e.uow.InTenant(ro, a.Scope(), func(ctx context.Context) error { return insertMarker(ctx, "pipelined") }))
	refused(e.uow.InTenant(ro, a.Scope(), func(ctx context.Context) error {
		tx, _ := postgres.TxFrom(ctx)
		_, err := tx.Exec(ctx, "INSERT INTO users (id, email, password_hash) VALUES ($1, 'new shape', 'y')", kernel.NewID())
		return err
	}))
	refused(e.uow.InTenant(ro, a.Scope(), func(ctx context.Context) error {
		tx, _ := postgres.TxFrom(ctx)
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
			return err
		}
		return insertMarker(ctx, "after a read")
	}))

	require.NoError(t, e.uow.InTenant(ctx, a.Scope(), func(ctx context.Context) error { return insertMarker(ctx, "writable again") }))
	assert.Equal(t, []string{"admin@alpha.test", "writable", "writable again"}, e.emailsOf(t, a))
}
