package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

type tenantResult struct {
	outcome   RolloutOutcome
	component string
	err       error
	duration  time.Duration
}

// migrateTenant migrates the tenant's components in order, stopping at the
// first that fails or is busy: later ones may build on it.
func (r *Rollout) migrateTenant(ctx context.Context, w tenantWork) tenantResult {
	start := time.Now()
	res := tenantResult{outcome: RolloutUpToDate}
	for _, set := range w.behind {
		outcome, err := r.migrateComponent(ctx, w, set)
		if err != nil && ctx.Err() == nil {
			if rerr := r.recordFailure(ctx, w.id, set, err); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		if outcome == RolloutMigrated {
			res.outcome = outcome
		}
		if err != nil || outcome == RolloutSkipped {
			res = tenantResult{outcome: outcome, component: set.Component, err: err}
			break
		}
	}
	res.duration = time.Since(start)
	return res
}

// migrateComponent applies set's pending migrations to one tenant in one
// transaction. The version is read again under the lock: the plan may be
// stale by the time a worker gets to the tenant. The core's migrations run
// as the platform role, which owns what they create, and end by granting
// the tenant role its privileges; a plugin's run as its owner role
// (migratePlugin).
func (r *Rollout) migrateComponent(ctx context.Context, w tenantWork, set *MigrationSet) (RolloutOutcome, error) {
	if set.Component != coreComponent {
		return r.migratePlugin(ctx, w, set)
	}
	start := time.Now()
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return RolloutFailed, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // no-op after commit

	var locked bool
	key := lockKey("tenant-migrations:" + w.id.String() + ":" + set.Component)
	if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", key).Scan(&locked); err != nil {
		return RolloutFailed, fmt.Errorf("take tenant migration lock: %w", err)
	}
	if !locked {
		return RolloutSkipped, nil
	}
	from, err := lockedVersion(ctx, tx, w.id, set.Component)
	if err != nil {
		return RolloutFailed, err
	}
	if from >= set.Latest() {
		return RolloutUpToDate, nil
	}
	_, err = tx.Exec(ctx, fmt.Sprintf("SET LOCAL lock_timeout = %d; SET LOCAL search_path TO %s",
		r.lockTimeout.Milliseconds(), pgx.Identifier{w.schema}.Sanitize()))
	if err != nil {
		return RolloutFailed, fmt.Errorf("enter tenant scope: %w", err)
	}
	to, err := set.applyAfter(ctx, tx, from)
	if err != nil {
		return RolloutFailed, err
	}
	if err := grantTenant(ctx, tx, r.keys, w.schema, w.role); err != nil {
		return RolloutFailed, err
	}
	// A migration may have set the role (000005 did, to the tenant role of
	// its day): the status row is the platform role's to write.
	if _, err := tx.Exec(ctx, "RESET ROLE; SET LOCAL search_path TO "+pgx.Identifier{BaselineSchema}.Sanitize()); err != nil {
		return RolloutFailed, fmt.Errorf("leave tenant scope: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO atrium.tenant_migrations (tenant_id, component, version, duration_ms)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant_id, component) DO UPDATE SET version = EXCLUDED.version, dirty = false,
			last_error = NULL, duration_ms = EXCLUDED.duration_ms, updated_at = now()`,
		w.id, set.Component, to, time.Since(start).Milliseconds())
	if err != nil {
		return RolloutFailed, fmt.Errorf("record tenant migration: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return RolloutFailed, err
	}
	return RolloutMigrated, nil
}

// lockedVersion reads the tenant's version of component and locks its status
// row, creating it at version 0 for a component never migrated before.
func lockedVersion(ctx context.Context, tx pgx.Tx, tenant uuid.UUID, component string) (uint, error) {
	const read = "SELECT version FROM atrium.tenant_migrations WHERE tenant_id = $1 AND component = $2 FOR UPDATE"
	var v uint
	err := tx.QueryRow(ctx, read, tenant, component).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		_, err = tx.Exec(ctx, `INSERT INTO atrium.tenant_migrations (tenant_id, component) VALUES ($1, $2)
			ON CONFLICT DO NOTHING`, tenant, component)
		if err == nil {
			err = tx.QueryRow(ctx, read, tenant, component).Scan(&v)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("read tenant migration version: %w", err)
	}
	return v, nil
}

// recordFailure writes the error to the status row after the rollback, so
// the failure stays visible. It leaves a row another process has meanwhile
// brought to the latest version alone.
func (r *Rollout) recordFailure(ctx context.Context, tenant uuid.UUID, set *MigrationSet, cause error) error {
	_, err := r.pool.Exec(ctx, `INSERT INTO atrium.tenant_migrations AS m (tenant_id, component, last_error)
		VALUES ($1, $2, $3)
		ON CONFLICT (tenant_id, component) DO UPDATE SET last_error = EXCLUDED.last_error, updated_at = now()
		WHERE m.version < $4`, tenant, set.Component, cause.Error(), set.Latest())
	if err != nil {
		return fmt.Errorf("record the failure: %w", err)
	}
	return nil
}
