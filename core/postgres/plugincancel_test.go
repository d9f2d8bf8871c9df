package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/sdk"
)

// A plugin statement waiting on another session's row lock ends at its
// request's deadline in the server, not only in the core: the plugin gets a
// timeout, its backend no longer waits on the lock, and the connection
// serves the next request. It holds with every plugin connection taken by
// such statements: the cancel requests wait for no place among them.
func TestPluginStatementBehindALockEndsAtTheDeadline(t *testing.T) {
	const conns = 2
	b := newBoundary(t, conns)
	ctx := context.Background()
	release := postgrestest.Lock(t, b.pool.Config().ConnString(), "SELECT * FROM "+b.acme.Schema+".notes FOR UPDATE")
	waitingOnLocks := func() int64 {
		var n int64
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n))
		return n
	}

	const deadline = 500 * time.Millisecond
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			reqCtx, cancel := context.WithTimeout(ctx, deadline)
			defer cancel()
			start := time.Now()
			err := b.uow.InTenant(reqCtx, b.acme.Scope(), func(ctx context.Context) error {
				_, err := b.sql.Exec(ctx, "notes", "UPDATE notes SET body = 'changed'", nil)
				took := time.Since(start)
				assert.True(t, errors.Is(err, sdk.ErrTimeout), "a timeout, not %v", err)
				assert.Less(t, took, deadline+time.Second, "the statement ends at its deadline")
				return err
			})
			assert.Error(t, err)
		})
	}
	wg.Wait()
	assert.Zero(t, waitingOnLocks(), "no backend still waits on the lock")

	release()
	rows, err := b.run(t, "UPDATE notes SET body = 'changed' RETURNING id")
	require.NoError(t, err, "the connections serve the next request")
	assert.Len(t, rows, 1)
}
