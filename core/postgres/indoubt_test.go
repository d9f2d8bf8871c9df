package postgres

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// A commit whose answer was lost is settled by the server's word on its
// transaction: committed is success, rolled back is the loss as it was.
func TestSettleAsksTheServerWhetherALostCommitCommitted(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	pool, err := NewPool(postgrestest.NewDatabase(t), PoolOptions{MaxConns: 2, AcquireTimeout: 5 * time.Second})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	ctx := context.Background()
	lost := io.ErrUnexpectedEOF // what a connection lost mid-COMMIT reads

	written := func(end string) int64 {
		conn, err := pool.Acquire(ctx)
		require.NoError(t, err)
		defer conn.Release()
		_, err = conn.Exec(ctx, "BEGIN")
		require.NoError(t, err)
		id, err := txid(ctx, conn.Conn())
		require.NoError(t, err)
		assert.Zero(t, id, "no id before it writes")
		_, err = conn.Exec(ctx, "CREATE TEMP TABLE written (v int) ON COMMIT DROP")
		require.NoError(t, err)
		id, err = txid(ctx, conn.Conn())
		require.NoError(t, err)
		require.NotZero(t, id)
		_, err = conn.Exec(ctx, end)
		require.NoError(t, err)
		return id
	}
	outcome := func(id int64, lost error) (bool, error) { return settle(ctx, pool, id, lost) }
	committed, unknown := outcome(written("COMMIT"), lost)
	assert.True(t, committed, "committed after all")
	assert.NoError(t, unknown)
	committed, unknown = outcome(written("ROLLBACK"), lost)
	assert.False(t, committed, "rolled back")
	assert.NoError(t, unknown)
	committed, _ = outcome(0, lost)
	assert.False(t, committed, "nothing written, nothing to settle")
	committed, _ = outcome(written("COMMIT"), &pgconn.PgError{Code: "23505"})
	assert.False(t, committed, "the server refused the COMMIT: no doubt")

	// With the server silent, the outcome is unknown: said so at the bound.
	pool.Close()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	committed, unknown = settle(short, pool, 1234, lost)
	assert.False(t, committed)
	assert.Equal(t, kernel.KindUnavailable, kernel.KindOf(unknown))
	assert.Contains(t, unknown.Error(), "whether it was applied is unknown")
}
