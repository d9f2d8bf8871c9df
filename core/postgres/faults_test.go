package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/sdk"
)

func TestFaultsAreUnavailableAndRefusalsStayWhatTheyAre(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, connectErr := pgconn.Connect(ctx, "postgres://atrium@127.0.0.1:1/nowhere?sslmode=disable&connect_timeout=2")
	require.Error(t, connectErr)

	faults := map[string]error{
		"connection failure 08006":  &pgconn.PgError{Code: "08006"},
		"connection refused 08004":  &pgconn.PgError{Code: "08004"},
		"admin shutdown 57P01":      &pgconn.PgError{Code: "57P01"},
		"crash shutdown 57P02":      &pgconn.PgError{Code: "57P02"},
		"starting up 57P03":         fmt.Errorf("connect: %w", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}),
		"too many connections":      &pgconn.PgError{Code: "53300"},
		"connect refused":           connectErr,
		"EOF":                       io.EOF,
		"unexpected EOF":            fmt.Errorf("receive message failed: %w", io.ErrUnexpectedEOF),
		"closed network connection": net.ErrClosed,
		"closed conn":               pgconn.ErrConnClosed,
		"reset":                     &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")},
	}
	for name, err := range faults {
		t.Run(name, func(t *testing.T) {
			got := classify(err)
			assert.Equal(t, kernel.KindUnavailable, kernel.KindOf(got))
			assert.ErrorIs(t, got, err, "the cause is kept for the log")
			assert.Equal(t, kernel.KindUnavailable, kernel.KindOf(unavailable(err)))
			var se *sdk.Error
			require.ErrorAs(t, pluginError(err), &se)
			assert.Equal(t, sdk.KindUnavailable, se.Kind)
		})
	}

	notFaults := map[string]error{
		"unique violation": &pgconn.PgError{Code: "23505"},
		"undefined table":  &pgconn.PgError{Code: "42P01"},
		"bad password":     &pgconn.PgError{Code: "28P01"},
		"no rows":          pgx.ErrNoRows,
		"canceled":         context.Canceled,
		"deadline":         fmt.Errorf("query: %w", context.DeadlineExceeded),
		"not found":        kernel.NotFound("tenant"),
		"plain":            errors.New("boom"),
	}
	for name, err := range notFaults {
		t.Run(name, func(t *testing.T) {
			assert.Same(t, err, classify(err))
		})
	}
	assert.NoError(t, classify(nil))
}

func TestAcquireBoundEndsTheWaitWithAnUnavailableError(t *testing.T) {
	b := acquireBound(20 * time.Millisecond)
	ctx := b.TraceAcquireStart(context.Background(), nil, pgxpoolStartData)
	<-ctx.Done()
	err := ctx.Err()
	assert.Equal(t, kernel.KindUnavailable, kernel.KindOf(err))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "no database connection was free within 20ms")
	b.TraceAcquireEnd(ctx, nil, pgxpoolEndData)

	// The caller's own end stays the caller's.
	caller, cancel := context.WithCancel(context.Background())
	ctx = b.TraceAcquireStart(caller, nil, pgxpoolStartData)
	cancel()
	<-ctx.Done()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	assert.Equal(t, kernel.KindInternal, kernel.KindOf(ctx.Err()))
	b.TraceAcquireEnd(ctx, nil, pgxpoolEndData)
}

var (
	pgxpoolStartData pgxpool.TraceAcquireStartData
	pgxpoolEndData   pgxpool.TraceAcquireEndData
)

func TestAnExhaustedPoolRefusesWithinTheAcquireTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	pool, err := NewPool(postgrestest.NewDatabase(t), PoolOptions{MaxConns: 2, AcquireTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	ctx := context.Background()
	var held []*pgxpool.Conn
	for range 2 {
		c, err := pool.Acquire(ctx)
		require.NoError(t, err)
		held = append(held, c)
	}

	start := time.Now()
	var one int
	err = pool.QueryRow(ctx, "SELECT 1").Scan(&one)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, kernel.KindUnavailable, kernel.KindOf(err))
	assert.Contains(t, err.Error(), "no database connection was free within 200ms")
	_, err = pool.Exec(ctx, "SELECT 1")
	assert.Equal(t, kernel.KindUnavailable, kernel.KindOf(err))

	for _, c := range held {
		c.Release()
	}
	require.NoError(t, pool.QueryRow(ctx, "SELECT 1").Scan(&one))
}

// Plugins' pools copy the shared pool's settings, its acquire bound with
// them: a plugin's SQL waits no longer for a connection than the core's.
func TestPluginConnectionsShareTheAcquireBound(t *testing.T) {
	proxy, dbURL := postgrestest.NewProxy(t, "postgres://atrium@127.0.0.1:5432/nowhere?sslmode=disable")
	proxy.Set(postgrestest.Stall) // connections are accepted, never answered
	pool, err := NewPool(dbURL, PoolOptions{MaxConns: 2, AcquireTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	keys := &Keys{pool: pool, secret: []byte("installation secret")}
	conns := NewPluginConns(pool, keys, func(context.Context) (string, error) { return "inst", nil },
		PluginConnOptions{MaxConns: 2}, slog.New(slog.DiscardHandler))
	t.Cleanup(conns.Close)

	start := time.Now()
	_, _, _, err = conns.Acquire(context.Background(), &kernel.Tenant{Slug: "acme", Schema: "t_acme"}, "notes")
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Equal(t, kernel.KindUnavailable, kernel.KindOf(err))
	assert.Contains(t, err.Error(), "no database connection was free within 200ms")
	proxy.Set(postgrestest.Down) // closes what it stalled
}
