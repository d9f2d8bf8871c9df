package postgres_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres"
)

// BenchmarkScopingCPU measures the throughput cost of tenant scoping as CPU
// time per transaction, client and server together: at saturation a
// machine's throughput is its cores divided by that, and CPU time, unlike
// wall time, is barely moved by whatever else the machine runs. One
// connection, one goroutine; scoped and unscoped lookups alternate in blocks
// so both meet the same conditions. The server's share is read from
// /proc/<backend pid>/stat, so it needs PostgreSQL on this machine (it skips
// otherwise).
func BenchmarkScopingCPU(b *testing.B) {
	e, scope, id := lookupFixture(b)
	ctx := context.Background()
	conn, err := e.pool.Acquire(ctx)
	require.NoError(b, err)
	var backend int
	require.NoError(b, conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend))
	conn.Release()
	if _, err := backendCPU(backend); err != nil {
		b.Skipf("the server's CPU time is not readable here: %v", err)
	}
	// Every lookup now runs on that one connection.
	single, err := postgres.NewPool(e.pool.Config().ConnString(), postgres.PoolOptions{MaxConns: 1})
	require.NoError(b, err)
	defer single.Close()
	require.NoError(b, single.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&backend))
	uow := postgres.NewUnitOfWork(single)

	scoped := func() error {
		var email string
		return uow.InTenant(ctx, scope, func(ctx context.Context) error {
			tx, err := postgres.TxFrom(ctx)
			if err != nil {
				return err
			}
			return tx.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", id).Scan(&email)
		})
	}
	unscoped := func() error {
		var email string
		return pgx.BeginFunc(ctx, single, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT email FROM "t_acme".users WHERE id = $1`, id).Scan(&email)
		})
	}
	// The strictest baseline: an unscoped transaction pipelined as the
	// unit of work is (BEGIN and the lookup in one round trip, COMMIT), so
	// the two differ only by the scope itself.
	pipelined := func() error {
		c, err := single.Acquire(ctx)
		if err != nil {
			return err
		}
		defer c.Release()
		batch := &pgx.Batch{}
		batch.Queue("BEGIN")
		var email string
		batch.Queue(`SELECT email FROM "t_acme".users WHERE id = $1`, id).QueryRow(func(r pgx.Row) error { return r.Scan(&email) })
		if err := c.SendBatch(ctx, batch).Close(); err != nil {
			return err
		}
		_, err = c.Exec(ctx, "COMMIT")
		return err
	}
	const block = 500
	var cpu [3]time.Duration
	var ops [3]int
	b.ResetTimer()
	for done := 0; done < b.N; {
		for k, f := range []func() error{scoped, unscoped, pipelined} {
			start, err := totalCPU(backend)
			require.NoError(b, err)
			for range block {
				require.NoError(b, f())
			}
			end, err := totalCPU(backend)
			require.NoError(b, err)
			cpu[k] += end - start
			ops[k] += block
		}
		done += 3 * block
	}
	b.StopTimer()
	per := func(k int) float64 { return float64(cpu[k].Microseconds()) / float64(ops[k]) }
	s, u, p := per(0), per(1), per(2)
	b.ReportMetric(s, "scoped-cpu-µs/op")
	b.ReportMetric(u, "unscoped-cpu-µs/op")
	b.ReportMetric(p, "pipelined-cpu-µs/op")
	b.ReportMetric(100*(s/u-1), "cost-vs-unscoped-%")
	b.ReportMetric(100*(s/p-1), "cost-vs-pipelined-%")
}

// totalCPU is this process's CPU time plus the backend's.
func totalCPU(backend int) (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	self := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	server, err := backendCPU(backend)
	return self + server, err
}

// backendCPU reads a process's user and system time from /proc (in clock
// ticks of 10 ms: blocks must be long enough for that to be fine grain).
func backendCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	return time.Duration(utime+stime) * tick, nil
}
