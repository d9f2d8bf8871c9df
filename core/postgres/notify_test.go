package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres"
)

// A listener whose connection is cut, again and again, listens again within
// a moment each time (its backoff starts over after every good connection),
// tells its handlers that notifications may have been missed, and then
// receives what another connection sends.
func TestListenerReconnectsPromptlyEveryTime(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	pool := newPool(t)
	const channel = "atrium_test_notify"
	got := make(chan string, 16)
	l := postgres.NewListener(pool, slog.New(slog.DiscardHandler))
	l.On(channel, func(p string) { got <- p })
	require.NoError(t, l.Start(ctx))
	t.Cleanup(func() { _ = l.Stop(ctx) })
	reconnects, listening := l.Collectors()[0], l.Collectors()[1]

	// listenerPID is the backend of the listener's connection, once
	// listening on one other than the last.
	var last int32
	listenerPID := func() int32 {
		var pid int32
		require.Eventually(t, func() bool {
			err := pool.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
				WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> $1`, last).Scan(&pid)
			return err == nil
		}, 5*time.Second, 10*time.Millisecond)
		last = pid
		return pid
	}
	// notify keeps sending payload until it arrives, by deadline.
	notify := func(payload string, deadline time.Time) {
		t.Helper()
		for {
			_, err := pool.Exec(ctx, "SELECT pg_notify($1, $2)", channel, payload)
			require.NoError(t, err)
			select {
			case p := <-got:
				if p == payload {
					return
				}
				continue // Missed, or an earlier send
			case <-time.After(20 * time.Millisecond):
			}
			require.False(t, time.Now().After(deadline), "%q not received in time", payload)
		}
	}

	notify("first", time.Now().Add(5*time.Second))
	require.InDelta(t, 1, testutil.ToFloat64(listening), 0)
	// Six cuts: a backoff that kept doubling from 100 ms would wait 1.6 s
	// before the fifth reconnect and 3.2 s before the sixth.
	for i := range 6 {
		pid := listenerPID()
		drain(got)
		cut := time.Now()
		_, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
		require.NoError(t, err)
		// Sent only once the old backend is gone, so only a new connection
		// can receive it.
		require.Eventually(t, func() bool {
			var n int
			err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n)
			return err == nil && n == 0
		}, time.Second, 5*time.Millisecond)
		notify("after cut", cut.Add(time.Second))
		require.InDelta(t, float64(i+1), testutil.ToFloat64(reconnects), 0)
		require.InDelta(t, 1, testutil.ToFloat64(listening), 0)
	}
}

// After a lost connection every handler hears Missed, once listening again:
// what was cached while notifications could not arrive must be dropped.
func TestListenerTellsEveryHandlerWhatItMayHaveMissed(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	pool := newPool(t)
	missed := make(chan string, 16)
	l := postgres.NewListener(pool, slog.New(slog.DiscardHandler))
	for _, ch := range []string{"atrium_test_a", "atrium_test_b"} {
		l.On(ch, func(p string) {
			if p == postgres.Missed {
				missed <- ch
			}
		})
	}
	require.NoError(t, l.Start(ctx))
	t.Cleanup(func() { _ = l.Stop(ctx) })

	for range 3 {
		var n int
		require.Eventually(t, func() bool {
			err := pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`).Scan(&n)
			return err == nil && n == 1
		}, 5*time.Second, 10*time.Millisecond)
		heard := map[string]bool{}
		for len(heard) < 2 {
			select {
			case ch := <-missed:
				heard[ch] = true
			case <-time.After(time.Second):
				t.Fatalf("after a lost connection only %v heard Missed within 1 s", heard)
			}
		}
	}
}

func drain(ch chan string) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}
