package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/tenancy"
	"github.com/atriumhq/atrium/migrations"
)

// tenantSet is the core tenant migrations up to 000001 (read from the
// embedded files) followed by extra, one migration per entry from 000002.
func tenantSet(t testing.TB, component string, extra ...string) *postgres.MigrationSet {
	t.Helper()
	users, err := migrations.Tenant.ReadFile("tenant/000001_users.up.sql")
	require.NoError(t, err)
	fsys := fstest.MapFS{"tenant/000001_users.up.sql": {Data: users}}
	for i, sql := range extra {
		fsys[fmt.Sprintf("tenant/%06d_m.up.sql", i+2)] = &fstest.MapFile{Data: []byte(sql)}
	}
	set, err := postgres.LoadMigrations(component, fsys, "tenant")
	require.NoError(t, err)
	return set
}

// createAt provisions tenants whose schemas stop at set's latest version.
func (e *env) createAt(t *testing.T, set *postgres.MigrationSet, slugs ...string) []*tenancy.Tenant {
	t.Helper()
	svc := tenancy.NewService(postgres.NewTenantStore(e.pool, set), fixedHasher{}, kernel.SystemClock{})
	out := make([]*tenancy.Tenant, len(slugs))
	for i, slug := range slugs {
		tn, err := svc.Create(context.Background(), tenancy.CreateInput{Slug: slug, Name: slug, AdminEmail: "admin@" + slug + ".test", AdminPassword: "correct horse battery"})
		require.NoError(t, err)
		out[i] = tn
	}
	return out
}

type status struct {
	version   int
	lastError *string
	updated   time.Time
}

func (e *env) status(t *testing.T, tn *tenancy.Tenant, component string) status {
	t.Helper()
	var s status
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT version, last_error, updated_at FROM atrium.tenant_migrations
		WHERE tenant_id = $1 AND component = $2`, tn.ID, component).Scan(&s.version, &s.lastError, &s.updated))
	return s
}

const notesTable = "CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL);"

func TestRolloutBringsOlderTenantsUpToDate(t *testing.T) {
	e := newEnv(t, 8)
	ctx := context.Background()
	old := e.createAt(t, tenantSet(t, "core"), "alpha", "bravo", "charlie")

	var events []postgres.RolloutEvent
	reg := prometheus.NewRegistry()
	r := postgres.NewRollout(e.pool, []*postgres.MigrationSet{tenantSet(t, "core", notesTable)}, postgres.RolloutOptions{Registerer: reg})
	assert.Equal(t, 4, r.Parallelism())
	sum, err := r.Run(ctx, func(ev postgres.RolloutEvent) { events = append(events, ev) })
	require.NoError(t, err)
	assert.Equal(t, 3, sum.Tenants)
	assert.Equal(t, 3, sum.Migrated)
	assert.Zero(t, sum.UpToDate)
	assert.Empty(t, sum.Failed)
	assert.Empty(t, sum.Skipped)

	require.Len(t, events, 4)
	assert.Equal(t, postgres.RolloutEvent{Outcome: postgres.RolloutStarted, Total: 3}, events[0])
	last := events[3]
	assert.Equal(t, postgres.RolloutMigrated, last.Outcome)
	assert.Equal(t, 3, last.Done)
	assert.Positive(t, last.Duration)
	assert.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP atrium_tenant_migrations_behind Tenants behind the latest migrations when the last rollout started, less those it has brought up to date.
# TYPE atrium_tenant_migrations_behind gauge
atrium_tenant_migrations_behind 0
# HELP atrium_tenant_migrations_tenants_total Tenants a migration rollout worked on, by outcome.
# TYPE atrium_tenant_migrations_tenants_total counter
atrium_tenant_migrations_tenants_total{outcome="migrated"} 3
`), "atrium_tenant_migrations_behind", "atrium_tenant_migrations_tenants_total"))

	for _, tn := range old {
		s := e.status(t, tn, "core")
		assert.Equal(t, 2, s.version)
		assert.Nil(t, s.lastError)
		var owner, platform string
		require.NoError(t, e.pool.QueryRow(ctx, "SELECT tableowner, current_user FROM pg_tables WHERE schemaname = $1 AND tablename = 'notes'",
			tn.Schema).Scan(&owner, &platform))
		assert.Equal(t, platform, owner, "the migration ran as the platform role in the tenant's schema")
	}
}

func TestRolloutNoopPassDoesNoWork(t *testing.T) {
	e := newEnv(t, 8)
	set := tenantSet(t, "core", notesTable)
	tenants := e.createAt(t, set, "alpha", "bravo")
	before := e.status(t, tenants[0], "core")

	var events []postgres.RolloutEvent
	sum, err := postgres.NewRollout(e.pool, []*postgres.MigrationSet{set}, postgres.RolloutOptions{}).
		Run(context.Background(), func(ev postgres.RolloutEvent) { events = append(events, ev) })
	require.NoError(t, err)
	assert.Equal(t, postgres.RolloutSummary{Tenants: 2, UpToDate: 2, Duration: sum.Duration}, sum)
	assert.Equal(t, []postgres.RolloutEvent{{Outcome: postgres.RolloutStarted}}, events)
	assert.Equal(t, before, e.status(t, tenants[0], "core"), "not even the status row is written")
}

func TestRolloutFailureIsIsolatedAndResumable(t *testing.T) {
	e := newEnv(t, 8)
	ctx := context.Background()
	tenants := e.createAt(t, tenantSet(t, "core"), "alpha", "bravo", "charlie")
	bravo := tenants[1]
	// Only bravo's schema already has the table the migration creates.
	_, err := e.pool.Exec(ctx, "CREATE TABLE "+pgx.Identifier{bravo.Schema, "notes"}.Sanitize()+" (id int)")
	require.NoError(t, err)

	r := postgres.NewRollout(e.pool, []*postgres.MigrationSet{tenantSet(t, "core", notesTable+" INSERT INTO notes VALUES (1, 'x');")}, postgres.RolloutOptions{})
	sum, err := r.Run(ctx, nil)
	require.NoError(t, err, "a tenant's failure does not fail the run")
	assert.Equal(t, 2, sum.Migrated)
	require.Len(t, sum.Failed, 1)
	assert.Equal(t, "bravo", sum.Failed[0].Tenant)
	assert.Equal(t, "core", sum.Failed[0].Component)
	assert.ErrorContains(t, sum.Failed[0].Err, `relation "notes" already exists`)

	s := e.status(t, bravo, "core")
	assert.Equal(t, 1, s.version, "rolled back")
	require.NotNil(t, s.lastError)
	assert.Contains(t, *s.lastError, `relation "notes" already exists`)
	assert.Equal(t, 2, e.status(t, tenants[0], "core").version)
	assert.Equal(t, 2, e.status(t, tenants[2], "core").version)

	_, err = e.pool.Exec(ctx, "DROP TABLE "+pgx.Identifier{bravo.Schema, "notes"}.Sanitize())
	require.NoError(t, err)
	sum, err = r.Run(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Migrated, "only what was behind is retried")
	assert.Equal(t, 2, sum.UpToDate)
	assert.Empty(t, sum.Failed)
	s = e.status(t, bravo, "core")
	assert.Equal(t, 2, s.version)
	assert.Nil(t, s.lastError, "success clears the error")
}

// Two processes rolling out together: every tenant ends at the latest
// version, each migrated by exactly one of them (a second CREATE TABLE would
// fail), and a tenant one is busy with is skipped, not waited for.
func TestConcurrentRolloutsMigrateEachTenantOnce(t *testing.T) {
	e := newEnv(t, 8)
	ctx := context.Background()
	slugs := make([]string, 12)
	for i := range slugs {
		slugs[i] = fmt.Sprintf("tenant-%02d", i)
	}
	tenants := e.createAt(t, tenantSet(t, "core"), slugs...)
	set := tenantSet(t, "core", notesTable+" SELECT pg_sleep(0.02);")

	var wg sync.WaitGroup
	sums := make([]postgres.RolloutSummary, 2)
	errs := make([]error, 2)
	for i := range sums {
		wg.Go(func() {
			// Each has its own pool, as separate processes would.
			pool, err := postgres.NewPool(e.pool.Config().ConnString(), postgres.PoolOptions{MaxConns: 8})
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			sums[i], errs[i] = postgres.NewRollout(pool, []*postgres.MigrationSet{set}, postgres.RolloutOptions{}).Run(ctx, nil)
		})
	}
	wg.Wait()
	for i := range sums {
		require.NoError(t, errs[i])
		assert.Empty(t, sums[i].Failed)
	}
	assert.Equal(t, len(tenants), sums[0].Migrated+sums[1].Migrated)
	t.Logf("migrated %d + %d, skipped %d + %d", sums[0].Migrated, sums[1].Migrated, len(sums[0].Skipped), len(sums[1].Skipped))
	for _, tn := range tenants {
		assert.Equal(t, 2, e.status(t, tn, "core").version, tn.Slug)
	}
}

// While one rollout is inside alpha's migration, another skips alpha and
// does bravo; the first then finds bravo done under its lock.
func TestBusyTenantIsSkippedAndDoneTenantIsNotRedone(t *testing.T) {
	e := newEnv(t, 8)
	ctx := context.Background()
	e.createAt(t, tenantSet(t, "core"), "alpha", "bravo")
	set := tenantSet(t, "core", notesTable+` DO $$ BEGIN
		IF current_schema() = 't_alpha' THEN PERFORM pg_advisory_xact_lock(42); END IF; END $$;`)

	gate, err := e.pool.Acquire(ctx)
	require.NoError(t, err)
	defer gate.Release()
	_, err = gate.Exec(ctx, "SELECT pg_advisory_lock(42)")
	require.NoError(t, err)

	type result struct {
		sum postgres.RolloutSummary
		err error
	}
	first := make(chan result, 1)
	go func() {
		sum, err := postgres.NewRollout(e.pool, []*postgres.MigrationSet{set}, postgres.RolloutOptions{Parallelism: 1}).Run(ctx, nil)
		first <- result{sum, err}
	}()
	require.Eventually(t, func() bool {
		var waiting int
		err := e.pool.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 42 AND NOT granted").Scan(&waiting)
		return err == nil && waiting == 1
	}, 10*time.Second, 10*time.Millisecond, "the first rollout never reached alpha's migration")

	var events []postgres.RolloutEvent
	second, err := postgres.NewRollout(e.pool, []*postgres.MigrationSet{set}, postgres.RolloutOptions{}).
		Run(ctx, func(ev postgres.RolloutEvent) { events = append(events, ev) })
	require.NoError(t, err)
	assert.Equal(t, []string{"alpha"}, second.Skipped)
	assert.Equal(t, 1, second.Migrated)
	assert.Equal(t, 1, events[len(events)-1].Skipped)

	_, err = gate.Exec(ctx, "SELECT pg_advisory_unlock(42)")
	require.NoError(t, err)
	res := <-first
	require.NoError(t, res.err)
	assert.Equal(t, 1, res.sum.Migrated, "alpha")
	assert.Equal(t, 1, res.sum.UpToDate, "bravo, done by the other rollout meanwhile")
	assert.Empty(t, res.sum.Failed)
}

// A plugin's migrations go only to the tenants that enabled the plugin.
func TestRolloutMigratesPluginsOnlyWhereEnabled(t *testing.T) {
	e := newEnv(t, 8)
	ctx := context.Background()
	tenants := []*tenancy.Tenant{e.create(t, "alpha"), e.create(t, "bravo")}
	_, err := e.svc.Update(ctx, "bravo", tenancy.UpdateInput{Plugins: &[]string{"notes"}})
	require.NoError(t, err)

	notes, err := postgres.LoadMigrations("notes", fstest.MapFS{"notes/000001_notes.up.sql": {Data: []byte(notesTable)}}, "notes")
	require.NoError(t, err)
	core, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(t, err)
	sets := []*postgres.MigrationSet{core, notes}
	sum, err := postgres.NewRollout(e.pool, sets, postgres.RolloutOptions{}).Run(ctx, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, sum.Migrated, sum)
	assert.Equal(t, 1, sum.UpToDate)
	assert.Equal(t, 1, e.status(t, tenants[1], "notes").version)
	var rows int
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*) FROM atrium.tenant_migrations WHERE tenant_id = $1", tenants[0].ID).Scan(&rows))
	assert.Equal(t, 1, rows, "alpha has core only")
}
