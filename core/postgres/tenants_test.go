package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/core/tenancy"
	"github.com/atriumhq/atrium/migrations"
)

type fixedHasher struct{}

func (fixedHasher) Hash(string) (string, error) { return "$2a$10$not-a-real-hash-for-tests", nil }

type env struct {
	pool  *pgxpool.Pool
	store *postgres.TenantStore
	svc   *tenancy.Service
	uow   *postgres.UnitOfWork
}

// newEnv is a migrated platform schema on a fresh database with a pool of maxConns.
func newEnv(t *testing.T, maxConns int32) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	pool, err := postgres.NewPool(postgrestest.NewDatabase(t), postgres.PoolOptions{MaxConns: maxConns})
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, postgres.MigrateSchema(context.Background(), pool, migrations.Core, "core", postgres.PlatformSchema, slog.New(slog.DiscardHandler)))
	set, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(t, err)
	store := postgres.NewTenantStore(pool, set)
	// Tenant roles are global to the server: drop them with the test.
	t.Cleanup(func() { dropTenants(t, pool, store) })
	return &env{pool: pool, store: store, svc: tenancy.NewService(store, fixedHasher{}, kernel.SystemClock{}), uow: postgres.NewUnitOfWork(pool)}
}

func dropTenants(t testing.TB, pool *pgxpool.Pool, store *postgres.TenantStore) {
	rows, err := pool.Query(context.Background(), "SELECT slug FROM atrium.tenants")
	if err != nil {
		return
	}
	slugs, _ := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, slug := range slugs {
		if err := store.Delete(context.Background(), slug); err != nil {
			t.Errorf("delete tenant %s: %v", slug, err)
		}
	}
}

func (e *env) create(t testing.TB, slug string) *tenancy.Tenant {
	t.Helper()
	tn, err := e.svc.Create(context.Background(), tenancy.CreateInput{Slug: slug, Name: slug, AdminEmail: "admin@" + slug + ".test", AdminPassword: "correct horse battery"})
	require.NoError(t, err)
	return tn
}

func TestProvisionCreatesSchemaRoleTablesAndAdmin(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	tn := e.create(t, "acme-co")
	assert.Equal(t, "t_acme_co", tn.Schema)
	assert.Regexp(t, `^atr_[a-z0-9]{8}_t_acme_co$`, tn.Role)

	var owner, platform string
	var canLogin bool
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT r.rolname, current_user FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
		WHERE n.nspname = $1`, tn.Schema).Scan(&owner, &platform))
	assert.Equal(t, platform, owner, "the platform role owns the tenant's schema")
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT rolcanlogin FROM pg_roles WHERE rolname = $1", tn.Role).Scan(&canLogin))
	assert.False(t, canLogin, "tenant roles are NOLOGIN")
	var owned int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relnamespace = $1::regnamespace AND relowner = $2::regrole`,
		tn.Schema, tn.Role).Scan(&owned))
	assert.Zero(t, owned, "the tenant role owns nothing in its schema")

	var email string
	var roles []string
	require.NoError(t, e.uow.InTenant(ctx, tn.Scope(), func(ctx context.Context) error {
		tx, err := postgres.TxFrom(ctx)
		require.NoError(t, err)
		return tx.QueryRow(ctx, "SELECT email, roles FROM users").Scan(&email, &roles)
	}))
	assert.Equal(t, "admin@acme-co.test", email)
	assert.Equal(t, []string{"admin"}, roles)

	var version int
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT version FROM atrium.tenant_migrations WHERE tenant_id = $1 AND component = 'core'", tn.ID).Scan(&version))
	core, err := postgres.LoadMigrations("core", migrations.Tenant, "tenant")
	require.NoError(t, err)
	assert.EqualValues(t, core.Latest(), version)
}

func TestProvisioningIsAllOrNothingAndRetryable(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	broken := fstest.MapFS{
		"tenant/000001_users.up.sql":   {Data: []byte("CREATE TABLE users (id uuid PRIMARY KEY, email text, password_hash text, roles text[]);")},
		"tenant/000001_users.down.sql": {Data: []byte("DROP TABLE users;")},
		"tenant/000002_bad.up.sql":     {Data: []byte("CREATE TABLE half (id int); THIS IS NOT SQL;")},
		"tenant/000002_bad.down.sql":   {Data: []byte("")},
	}
	set, err := postgres.LoadMigrations("core", broken, "tenant")
	require.NoError(t, err)
	failing := tenancy.NewService(postgres.NewTenantStore(e.pool, set), fixedHasher{}, kernel.SystemClock{})
	_, err = failing.Create(ctx, tenancy.CreateInput{Slug: "halfway", Name: "x", AdminEmail: "a@b.test", AdminPassword: "correct horse battery"})
	require.Error(t, err)

	var tenants, schemas, roles int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM atrium.tenants),
		(SELECT count(*) FROM pg_namespace WHERE nspname = 't_halfway'),
		(SELECT count(*) FROM pg_roles WHERE rolname LIKE '%t_halfway')`).Scan(&tenants, &schemas, &roles))
	assert.Zero(t, tenants+schemas+roles, "no row, schema or role left behind")

	e.create(t, "halfway") // the retry works
}

func TestDuplicateSlugIsAConflict(t *testing.T) {
	e := newEnv(t, 4)
	e.create(t, "acme")
	_, err := e.svc.Create(context.Background(), tenancy.CreateInput{Slug: "acme", Name: "again", AdminEmail: "a@b.test", AdminPassword: "correct horse battery"})
	assert.ErrorIs(t, err, kernel.ErrConflict)
}

func TestDeleteDropsSchemaAndRole(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	tn := e.create(t, "doomed")
	require.NoError(t, e.svc.Delete(ctx, "doomed"))
	var left int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = $1) +
		(SELECT count(*) FROM pg_roles WHERE rolname = $2) + (SELECT count(*) FROM atrium.tenants)`, tn.Schema, tn.Role).Scan(&left))
	assert.Zero(t, left)
	assert.ErrorIs(t, e.svc.Delete(ctx, "doomed"), kernel.ErrNotFound)
}

func TestUpdateAndSuspend(t *testing.T) {
	e := newEnv(t, 4)
	ctx := context.Background()
	e.create(t, "acme")
	name, suspended := "Acme Inc", kernel.TenantSuspended
	tn, err := e.svc.Update(ctx, "acme", tenancy.UpdateInput{Name: &name, Status: &suspended, Settings: map[string]any{"max_upload": 5.0}})
	require.NoError(t, err)
	got, err := e.svc.Get(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, tn.UpdatedAt.Unix(), got.UpdatedAt.Unix())
	assert.Equal(t, "Acme Inc", got.Name)
	assert.Equal(t, kernel.TenantSuspended, got.Status)
	assert.Equal(t, map[string]any{"max_upload": 5.0}, got.Settings)

	bad := kernel.TenantStatus("deleted")
	_, err = e.svc.Update(ctx, "acme", tenancy.UpdateInput{Status: &bad})
	assert.ErrorIs(t, err, kernel.ErrInvalid)
}

func insertMarker(ctx context.Context, marker string) error {
	tx, err := postgres.TxFrom(ctx)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "INSERT INTO users (id, email, password_hash) VALUES ($1, $2, 'x')", kernel.NewID(), marker)
	return err
}

func emails(ctx context.Context) ([]string, error) {
	tx, err := postgres.TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT email FROM users ORDER BY email")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// emailsOf reads the tenant's user emails in a unit of work of its own.
func (e *env) emailsOf(t *testing.T, tn *tenancy.Tenant) []string {
	t.Helper()
	var seen []string
	require.NoError(t, e.uow.InTenant(context.Background(), tn.Scope(), func(ctx context.Context) error {
		var err error
		seen, err = emails(ctx)
		return err
	}))
	return seen
}
