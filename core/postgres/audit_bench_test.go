package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/migrations"
)

// BenchmarkAuditedMutations measures mutations per second, each one unit of
// work updating a user row, without and with its audit record, for one
// tenant and for 50 tenants written in parallel. writers goroutines share a
// pool of as many connections; the sealer runs as in atriumd. After the
// timed part every record is sealed and the chains verified, and the time
// the sealer needed to catch up is reported.
func BenchmarkAuditedMutations(b *testing.B) {
	const writers = 32
	set, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(b, err)
	e := benchEnvAt(b, writers+4, set)
	ctx := context.Background()
	tenants := make([]*kernel.Tenant, 50)
	users := make([]string, len(tenants))
	for i := range tenants {
		require.NoError(b, provision(ctx, e, fmt.Sprintf("audit-%02d", i)))
		tn, err := e.store.Get(ctx, fmt.Sprintf("audit-%02d", i))
		require.NoError(b, err)
		tenants[i] = tn.Scope()
		require.NoError(b, e.uow.InTenant(ctx, tenants[i], func(ctx context.Context) error {
			tx, _ := postgres.TxFrom(ctx)
			return tx.QueryRow(ctx, "SELECT id::text FROM users LIMIT 1").Scan(&users[i])
		}))
	}
	store := postgres.NewAuditStore(e.pool)
	discard := slog.New(slog.DiscardHandler)
	sealer := audit.NewSealer(audit.SealerOptions{Store: store, Tenants: e.store.Scopes, Logger: discard})
	log := audit.NewLog(audit.LogOptions{Store: store, UnitOfWork: e.uow, Clock: kernel.SystemClock{}, Sealer: sealer,
		Logger: discard, Secret: func(context.Context) ([]byte, error) { return make([]byte, 32), nil }})

	// A mutation creates a user: writers never wait on each other's row
	// locks, so what is measured is the unit of work and its record.
	mutate := func(ctx context.Context, i int, n int64, audited bool) error {
		return e.uow.InTenant(ctx, tenants[i], func(ctx context.Context) error {
			tx, err := postgres.TxFrom(ctx)
			if err != nil {
				return err
			}
			id, email := kernel.NewID(), fmt.Sprintf("user-%d@bench.test", n)
			_, err = tx.Exec(ctx, "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')", id, email)
			if err != nil || !audited {
				return err
			}
			return log.Record(ctx, audit.Entry{Action: "identity.user.create", Outcome: audit.Success,
				Resource: audit.Resource{Type: "user", ID: id.String()}, Details: map[string]any{"fields": map[string]any{"email": email}},
				Actor: &audit.Actor{Type: audit.ActorUser, ID: users[i], Email: "admin@x.test"}})
		})
	}
	var seq atomic.Int64 // emails stay unique across sub-benchmarks

	for _, c := range []struct {
		name    string
		tenants int
		audited bool
	}{
		{"tenants=1/audited=false", 1, false},
		{"tenants=1/audited=true", 1, true},
		{"tenants=50/audited=false", 50, false},
		{"tenants=50/audited=true", 50, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			runCtx, stop := context.WithCancel(ctx)
			var running sync.WaitGroup
			running.Go(func() { sealer.Run(runCtx) })
			var next atomic.Int64
			start := time.Now()
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for {
						n := next.Add(1)
						if n > int64(b.N) {
							return
						}
						if err := mutate(ctx, (w+int(n))%c.tenants, seq.Add(1), c.audited); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "mutations/s")
			b.ReportMetric(0, "ns/op")

			catchUp := time.Now()
			for _, t := range tenants[:c.tenants] {
				require.NoError(b, sealer.SealNow(ctx, t))
			}
			b.ReportMetric(float64(time.Since(catchUp).Microseconds())/1000, "seal-catch-up-ms")
			stop()
			running.Wait()
			if c.audited {
				for _, t := range tenants[:c.tenants] {
					v, err := log.Verify(ctx, t)
					require.NoError(b, err)
					require.True(b, v.OK, v.Problem)
				}
			}
		})
	}
}
