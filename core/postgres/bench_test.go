package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/core/tenancy"
	"github.com/atriumhq/atrium/migrations"
)

// benchEnv is newEnv for benchmarks, with a cleanup that scales: it drops the
// tenant roles in one statement once the database is gone (and with it
// everything they owned), instead of deleting tenants one by one.
func benchEnv(b *testing.B, maxConns int32) *env {
	b.Helper()
	return benchEnvAt(b, maxConns, tenantSet(b, "core"))
}

// benchEnvAt is benchEnv with tenants provisioned at set's migrations.
func benchEnvAt(b *testing.B, maxConns int32, set *postgres.MigrationSet) *env {
	b.Helper()
	if testing.Short() {
		b.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	var inst string
	b.Cleanup(func() { dropRoles(b, inst) }) // registered first, so it runs after the database is dropped
	pool, err := postgres.NewPool(postgrestest.NewDatabase(b), postgres.PoolOptions{MaxConns: maxConns})
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	require.NoError(b, postgres.MigrateSchema(ctx, pool, migrations.Core, "core", postgres.PlatformSchema, slog.New(slog.DiscardHandler)))
	store := postgres.NewTenantStore(pool, set)
	inst, err = store.Installation(ctx)
	require.NoError(b, err)
	return &env{pool: pool, store: store, svc: tenancy.NewService(store, fixedHasher{}, kernel.SystemClock{}), uow: postgres.NewUnitOfWork(pool)}
}

func dropRoles(b *testing.B, inst string) {
	if inst == "" {
		return
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, postgrestest.AdminURL())
	if err != nil {
		b.Errorf("drop tenant roles: %v", err)
		return
	}
	defer admin.Close(ctx)
	var roles string
	err = admin.QueryRow(ctx, `SELECT coalesce(string_agg(quote_ident(rolname), ', '), '') FROM pg_roles
		WHERE starts_with(rolname, 'atr_' || $1 || '_')`, inst).Scan(&roles)
	if err == nil && roles != "" {
		_, err = admin.Exec(ctx, "DROP ROLE "+roles)
	}
	if err != nil {
		b.Errorf("drop tenant roles: %v", err)
	}
}

func provision(ctx context.Context, e *env, slug string) error {
	_, err := e.svc.Create(ctx, tenancy.CreateInput{Slug: slug, Name: slug, AdminEmail: "admin@" + slug + ".test", AdminPassword: "correct horse battery"})
	return err
}

func BenchmarkProvisionTenant(b *testing.B) {
	e := benchEnv(b, 4)
	ctx := context.Background()
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		require.NoError(b, provision(ctx, e, fmt.Sprintf("bench-%06d", len(took))))
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*95/100].Microseconds())/1000, "p95-ms")
}

// benchTenants is ATRIUM_BENCH_TENANTS (make bench-tenancy sets 1000); the
// benchmarks that need that many tenants skip without it.
func benchTenants(b *testing.B) int {
	n, err := strconv.Atoi(os.Getenv("ATRIUM_BENCH_TENANTS"))
	if err != nil || n < 1 {
		b.Skip("set ATRIUM_BENCH_TENANTS (make bench-tenancy sets 1000)")
	}
	return n
}

// provisionMany provisions n tenants at the core set's version, eight at a time.
func provisionMany(b *testing.B, e *env, n int) {
	b.Helper()
	start := time.Now()
	slugs := make(chan string)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			for slug := range slugs {
				if err := provision(context.Background(), e, slug); err != nil && errs[i] == nil {
					errs[i] = err
				}
			}
		})
	}
	for i := range n {
		slugs <- fmt.Sprintf("tenant-%06d", i)
	}
	close(slugs)
	wg.Wait()
	for _, err := range errs {
		require.NoError(b, err)
	}
	b.Logf("provisioned %d tenants in %s", n, time.Since(start).Round(time.Millisecond))
}

// rollout runs one pass and fails the benchmark on any tenant failure.
func rollout(b *testing.B, e *env, set *postgres.MigrationSet, wantMigrated int) {
	sum, err := postgres.NewRollout(e.pool, []*postgres.MigrationSet{set}, postgres.RolloutOptions{}).Run(context.Background(), nil)
	require.NoError(b, err)
	require.Empty(b, sum.Failed)
	require.Equal(b, wantMigrated, sum.Migrated)
}

func BenchmarkRolloutNoop1000(b *testing.B) {
	n := benchTenants(b)
	e := benchEnv(b, 20)
	provisionMany(b, e, n)
	set := tenantSet(b, "core")
	for b.Loop() {
		rollout(b, e, set, 0)
	}
	b.ReportMetric(float64(n), "tenants")
}

// Each pass adds one more table to every tenant: pass i applies migration i+1.
func BenchmarkRolloutOneTable1000(b *testing.B) {
	n := benchTenants(b)
	e := benchEnv(b, 20)
	provisionMany(b, e, n)
	var extra []string
	for b.Loop() {
		extra = append(extra, fmt.Sprintf("CREATE TABLE extra_%d (id bigint PRIMARY KEY, body text NOT NULL);", len(extra)))
		rollout(b, e, tenantSet(b, "core", extra...), n)
	}
	b.ReportMetric(float64(n), "tenants")
}

// The cost of tenant scoping: a unit of work (BEGIN, SET LOCAL ROLE and
// search_path in one round trip; lookup; COMMIT) against a plain
// transaction doing the same lookup schema-qualified.
func BenchmarkScopedVsUnscopedLookup(b *testing.B) {
	e, scope, id := lookupFixture(b)
	ctx := context.Background()

	var opsPerSec [2]float64
	run := func(i int, lookup func(context.Context) error) func(*testing.B) {
		return func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := lookup(ctx); err != nil {
						b.Error(err)
						return
					}
				}
			})
			opsPerSec[i] = float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(opsPerSec[i], "ops/s")
			if i == 1 {
				b.ReportMetric(100*(1-opsPerSec[0]/opsPerSec[1]), "scoped-overhead-%")
			}
		}
	}
	b.Run("scoped", run(0, func(ctx context.Context) error {
		var email string
		return e.uow.InTenant(ctx, scope, func(ctx context.Context) error {
			tx, err := postgres.TxFrom(ctx)
			if err != nil {
				return err
			}
			return tx.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", id).Scan(&email)
		})
	}))
	b.Run("unscoped", run(1, func(ctx context.Context) error {
		var email string
		return pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT email FROM "t_acme".users WHERE id = $1`, id).Scan(&email)
		})
	}))
}

// BenchmarkScopingOverhead measures the latency cost of the tenant scoping:
// the two kinds of transaction interleaved in every goroutine, so both meet
// the same machine conditions (on a shared machine, separate runs drift more
// than the effect). It reports each kind's time per operation and the
// scoped one's overhead. Under CPU saturation the scoped transactions' extra
// server work slows both kinds alike, so this is not the throughput cost:
// BenchmarkScopedVsUnscopedLookup measures that.
func BenchmarkScopingOverhead(b *testing.B) {
	e, scope, id := lookupFixture(b)
	ctx := context.Background()

	scoped := func() error {
		var email string
		return e.uow.InTenant(ctx, scope, func(ctx context.Context) error {
			tx, err := postgres.TxFrom(ctx)
			if err != nil {
				return err
			}
			return tx.QueryRow(ctx, "SELECT email FROM users WHERE id = $1", id).Scan(&email)
		})
	}
	unscoped := func() error {
		var email string
		return pgx.BeginFunc(ctx, e.pool, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `SELECT email FROM "t_acme".users WHERE id = $1`, id).Scan(&email)
		})
	}
	var scopedNs, unscopedNs atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			first, second, firstNs, secondNs := scoped, unscoped, &scopedNs, &unscopedNs
			if i%2 == 1 { // alternate the order too
				first, second, firstNs, secondNs = unscoped, scoped, &unscopedNs, &scopedNs
			}
			start := time.Now()
			if err := first(); err != nil {
				b.Error(err)
				return
			}
			mid := time.Now()
			if err := second(); err != nil {
				b.Error(err)
				return
			}
			firstNs.Add(int64(mid.Sub(start)))
			secondNs.Add(int64(time.Since(mid)))
		}
	})
	s, u := float64(scopedNs.Load()), float64(unscopedNs.Load())
	b.ReportMetric(s/float64(b.N), "scoped-ns/op")
	b.ReportMetric(u/float64(b.N), "unscoped-ns/op")
	b.ReportMetric(100*(s/u-1), "scoping-overhead-%")
}

// lookupFixture is one tenant, its scope and its admin's ID, for lookups.
func lookupFixture(b *testing.B) (*env, *kernel.Tenant, uuid.UUID) {
	e := benchEnv(b, 16)
	ctx := context.Background()
	require.NoError(b, provision(ctx, e, "acme"))
	tn, err := e.svc.Get(ctx, "acme")
	require.NoError(b, err)
	var id uuid.UUID
	require.NoError(b, e.pool.QueryRow(ctx, "SELECT id FROM t_acme.users").Scan(&id))
	return e, tn.Scope(), id
}
