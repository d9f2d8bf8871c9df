package postgres_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/migrations"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.NewPool(postgrestest.NewDatabase(t), postgres.PoolOptions{MaxConns: 10})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// Replicas starting together all succeed, and the migration runs once.
func TestConcurrentMigrationsDoNotRace(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	url := postgrestest.NewDatabase(t)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() {
			// Each replica has its own pool, as separate processes would.
			pool, err := postgres.NewPool(url, postgres.PoolOptions{MaxConns: 4})
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			errs[i] = postgres.MigrateSchema(ctx, pool, migrations.Core, "core", postgres.PlatformSchema, slog.New(slog.DiscardHandler))
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}

	pool, err := postgres.NewPool(url, postgres.PoolOptions{MaxConns: 2})
	require.NoError(t, err)
	defer pool.Close()
	var version int
	var dirty bool
	require.NoError(t, pool.QueryRow(ctx, "SELECT version, dirty FROM atrium.schema_migrations").Scan(&version, &dirty))
	core, err := postgres.LoadMigrations("core", migrations.Core, "core")
	require.NoError(t, err)
	assert.EqualValues(t, core.Latest(), version, "the newest core migration")
	assert.False(t, dirty)
}

// Connections outside a tenant scope see the empty baseline schema only.
func TestPoolConnectionsStartAtTheEmptyBaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	pool := newPool(t)
	require.NoError(t, postgres.MigrateSchema(ctx, pool, migrations.Core, "core", postgres.PlatformSchema, slog.New(slog.DiscardHandler)))

	var searchPath string
	require.NoError(t, pool.QueryRow(ctx, "SHOW search_path").Scan(&searchPath))
	assert.Equal(t, postgres.BaselineSchema, searchPath)

	_, err := pool.Exec(ctx, "SELECT * FROM schema_migrations")
	require.Error(t, err, "an unqualified name must not resolve outside a scope")
	assert.Contains(t, err.Error(), "does not exist")

	var objects int
	require.NoError(t, pool.QueryRow(ctx,
		"SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
		postgres.BaselineSchema).Scan(&objects))
	assert.Zero(t, objects)
}

func TestPingNamesWhereItLookedButNotThePassword(t *testing.T) {
	pool, err := postgres.NewPool("postgres://atrium:s3cret@127.0.0.1:1/nowhere?connect_timeout=2", postgres.PoolOptions{MaxConns: 2})
	require.NoError(t, err)
	defer pool.Close()
	err = postgres.Ping(context.Background(), pool)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "cannot reach PostgreSQL at 127.0.0.1:1/nowhere")
	assert.NotContains(t, err.Error(), "s3cret")
	assert.NotContains(t, err.Error(), "\n")
}

func TestNewPoolRejectsBadURLWithoutEchoingIt(t *testing.T) {
	_, err := postgres.NewPool("postgres://u:s3cret@host:notaport/db", postgres.PoolOptions{MaxConns: 2})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret")
}

func TestPoolMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	pool := newPool(t)
	require.NoError(t, postgres.Ping(context.Background(), pool))
	reg := prometheus.NewRegistry()
	reg.MustRegister(postgres.NewPoolCollector(pool))
	n, err := testutil.GatherAndCount(reg)
	require.NoError(t, err)
	assert.Equal(t, 12, n)
	assert.Equal(t, 10.0, testutil.ToFloat64(gaugeOf(t, reg, "atrium_db_pool_max_connections")))
}

func gaugeOf(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: "copy"}, func() float64 {
				return mf.GetMetric()[0].GetGauge().GetValue()
			})
		}
	}
	t.Fatalf("metric %s not gathered", name)
	return nil
}
