package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
	"github.com/atriumhq/atrium/core/tenancy"
)

// TenantStore is the tenant registry (atrium.tenants) and provisioner.
type TenantStore struct {
	pool       *pgxpool.Pool
	migrations *MigrationSet
	keys       *Keys

	instMu sync.Mutex
	inst   string
	record ChangeRecorder
}

var _ tenancy.Store = (*TenantStore)(nil)

// NewTenantStore returns the store; migrations are the core tenant migrations.
func NewTenantStore(pool *pgxpool.Pool, migrations *MigrationSet) *TenantStore {
	return &TenantStore{pool: pool, migrations: migrations, keys: NewKeys(pool)}
}

// ChangeRecorder writes, inside the transaction of a change to tenant t,
// the record of it (the audit log's): the change commits with its record or
// not at all.
type ChangeRecorder func(ctx context.Context, tx pgx.Tx, t *kernel.Tenant) error

// RecordChanges has every create, update and restore of a tenant recorded
// by record, in its own transaction.
func (s *TenantStore) RecordChanges(record ChangeRecorder) { s.record = record }

func (s *TenantStore) recordChange(ctx context.Context, tx pgx.Tx, t *kernel.Tenant) error {
	if s.record == nil {
		return nil
	}
	return s.record(ctx, tx, t)
}

// Installation returns this installation's ID, read once it succeeds.
func (s *TenantStore) Installation(ctx context.Context) (string, error) {
	s.instMu.Lock()
	defer s.instMu.Unlock()
	if s.inst == "" {
		if err := s.pool.QueryRow(ctx, "SELECT id FROM atrium.installation").Scan(&s.inst); err != nil {
			return "", unavailable(err)
		}
	}
	return s.inst, nil
}

// Provision creates role, schema, tables and first admin, and registers the
// tenant, in one transaction: PostgreSQL's DDL (CREATE ROLE included) is
// transactional, so a failure anywhere leaves nothing behind. The schema and
// the core's objects in it are the platform role's; the tenant role gets
// the privileges of tenantPrivileges.
func (s *TenantStore) Provision(ctx context.Context, t *tenancy.Tenant, admin tenancy.FirstAdmin) (err error) {
	defer func() { err = classify(err) }()
	start := time.Now()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit

	if err := createTenant(ctx, tx, t); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+pgx.Identifier{t.Schema}.Sanitize()); err != nil {
		return fmt.Errorf("enter tenant scope: %w", err)
	}
	version, err := s.migrations.applyAfter(ctx, tx, 0)
	if err != nil {
		return fmt.Errorf("migrate tenant schema: %w", err)
	}
	if err := grantTenant(ctx, tx, s.keys, t.Schema, t.Role); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "RESET ROLE; "+scopeStatements(t.Scope()))
	if err != nil {
		return fmt.Errorf("enter tenant scope: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO users (id, email, password_hash, roles) VALUES ($1, $2, $3, '{admin}')`,
		admin.ID, admin.Email, admin.PasswordHash)
	if err != nil {
		return fmt.Errorf("create first admin: %w", err)
	}
	_, err = tx.Exec(ctx, "RESET ROLE; SET LOCAL search_path TO "+pgx.Identifier{BaselineSchema}.Sanitize())
	if err != nil {
		return fmt.Errorf("leave tenant scope: %w", err)
	}
	if err := s.recordChange(ctx, tx, t.Scope()); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO atrium.tenant_migrations (tenant_id, component, version, duration_ms)
		VALUES ($1, $2, $3, $4)`, t.ID, s.migrations.Component, version, time.Since(start).Milliseconds())
	if err != nil {
		return fmt.Errorf("record tenant migrations: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// createTenant registers t and creates its NOLOGIN role and its schema,
// which the platform role (the caller's) owns, inside the caller's
// transaction. A taken slug, schema or role is a KindConflict error.
func createTenant(ctx context.Context, tx pgx.Tx, t *tenancy.Tenant) error {
	_, err := tx.Exec(ctx, `INSERT INTO atrium.tenants
		(id, slug, name, schema_name, role_name, status, settings, plugins, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.ID, t.Slug, t.Name, t.Schema, t.Role, t.Status, t.Settings, t.Plugins, t.CreatedAt, t.UpdatedAt)
	if isCode(err, codeUniqueViolation) {
		return kernel.E(kernel.KindConflict, "tenant %q already exists", t.Slug)
	}
	if err != nil {
		return fmt.Errorf("register tenant: %w", err)
	}
	role, schema := pgx.Identifier{t.Role}.Sanitize(), pgx.Identifier{t.Schema}.Sanitize()
	_, err = tx.Exec(ctx, "CREATE ROLE "+role+" NOLOGIN; GRANT "+role+" TO CURRENT_USER; CREATE SCHEMA "+schema)
	if isCode(err, codeDuplicateObject, codeDuplicateSchema) {
		return kernel.E(kernel.KindConflict, "tenant %q already exists", t.Slug)
	}
	if err != nil {
		return fmt.Errorf("create tenant schema: %w", err)
	}
	return nil
}

const tenantColumns = `id, slug, name, schema_name, role_name, status, settings, plugins, created_at, updated_at`

func scanTenant(row pgx.Row) (*tenancy.Tenant, error) {
	var t tenancy.Tenant
	err := row.Scan(&t.ID, &t.Slug, &t.Name, &t.Schema, &t.Role, &t.Status, &t.Settings, &t.Plugins, &t.CreatedAt, &t.UpdatedAt)
	if err != nil {
		return nil, err
	}
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return &t, nil
}

// Get reads a tenant by slug.
func (s *TenantStore) Get(ctx context.Context, slug string) (*tenancy.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx, "SELECT "+tenantColumns+" FROM atrium.tenants WHERE slug = $1", slug))
	return t, notFound(classify(err), "tenant")
}

// GetByID reads a tenant by ID.
func (s *TenantStore) GetByID(ctx context.Context, id uuid.UUID) (*tenancy.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx, "SELECT "+tenantColumns+" FROM atrium.tenants WHERE id = $1", id))
	return t, notFound(classify(err), "tenant")
}

// Secret returns the installation's secret, read once (atriumd reads it
// at start: preloadKeys). List cursors are keyed by it, inside a unit of
// work: a second connection taken there could wait forever with the pool
// exhausted by requests doing the same.
func (s *TenantStore) Secret(ctx context.Context) ([]byte, error) {
	return s.keys.load(ctx, nil)
}

// List reads the tenants q selects.
func (s *TenantStore) List(ctx context.Context, q spec.Spec) ([]*tenancy.Tenant, error) {
	c, err := SpecSQL(q, tenancy.ListFields, "", 0)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT "+tenantColumns+" FROM atrium.tenants WHERE "+c.Where+" "+c.OrderLimit, c.Args...)
	if err != nil {
		return nil, unavailable(err)
	}
	var out []*tenancy.Tenant
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			rows.Close()
			return nil, classify(err)
		}
		out = append(out, t)
	}
	return out, classify(rows.Err())
}

// Update applies fn to the tenant under a row lock.
func (s *TenantStore) Update(ctx context.Context, slug string, fn func(*tenancy.Tenant) error) (*tenancy.Tenant, error) {
	var out *tenancy.Tenant
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		t, err := scanTenant(tx.QueryRow(ctx, "SELECT "+tenantColumns+" FROM atrium.tenants WHERE slug = $1 FOR UPDATE", slug))
		if err != nil {
			return notFound(err, "tenant")
		}
		if err := fn(t); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE atrium.tenants SET name = $2, status = $3, settings = $4, plugins = $5, updated_at = $6
			WHERE id = $1`, t.ID, t.Name, t.Status, t.Settings, t.Plugins, t.UpdatedAt)
		if err != nil {
			return err
		}
		out = t
		if err := s.recordChange(ctx, tx, t.Scope()); err != nil {
			return err
		}
		return notifyTenancy(ctx, tx, t.ID)
	})
	return out, classify(err)
}

// Delete drops the tenant's schema (with all its data), its role and its
// plugins' roles, and unregisters it, in one transaction.
func (s *TenantStore) Delete(ctx context.Context, slug string) error {
	return classify(pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id uuid.UUID
		var schema, role string
		err := tx.QueryRow(ctx, "SELECT id, schema_name, role_name FROM atrium.tenants WHERE slug = $1 FOR UPDATE", slug).
			Scan(&id, &schema, &role)
		if errors.Is(err, pgx.ErrNoRows) {
			return kernel.NotFound("tenant")
		}
		if err != nil {
			return err
		}
		if err := lockAudit(ctx, tx, schema); err != nil {
			return err
		}
		if err := dropPluginRoles(ctx, tx, id); err != nil {
			return err
		}
		r := pgx.Identifier{role}.Sanitize()
		_, err = tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE; "+
			"DROP OWNED BY "+r+"; DROP ROLE "+r)
		if err != nil {
			return fmt.Errorf("drop tenant schema and role: %w", err)
		}
		if _, err = tx.Exec(ctx, "DELETE FROM atrium.tenants WHERE id = $1", id); err != nil {
			return err
		}
		return notifyTenancy(ctx, tx, id)
	}))
}

// Scopes lists every tenant's scope, for background work that visits them
// all (the audit sealer's sweep, checkpoints).
func (s *TenantStore) Scopes(ctx context.Context) ([]*kernel.Tenant, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+tenantColumns+" FROM atrium.tenants ORDER BY id")
	if err != nil {
		return nil, unavailable(err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*kernel.Tenant, error) {
		t, err := scanTenant(r)
		if err != nil {
			return nil, err
		}
		return t.Scope(), nil
	})
	if err != nil {
		return nil, unavailable(err)
	}
	return ts, nil
}

// TenancyChannel carries "this tenant's registry entry changed" (its ID)
// to every replica, whose tenant caches drop it.
const TenancyChannel = "atrium_tenancy"

// notifyTenancy queues the notification; it is sent only if tx commits.
func notifyTenancy(ctx context.Context, tx pgx.Tx, id uuid.UUID) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", TenancyChannel, id.String())
	return err
}
