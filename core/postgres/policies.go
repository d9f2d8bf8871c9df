package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
)

// PolicyChannel carries "this tenant's policy changed" between replicas;
// the payload is the tenant ID. Wire it to the engine's Invalidate (and
// Missed to InvalidateAll).
const PolicyChannel = "atrium_policy"

// PolicyStore keeps a tenant's policy modules in its schema; it runs in the
// unit of work, so it reaches only the unit's tenant.
type PolicyStore struct{}

var _ policy.Store = PolicyStore{}

const policyColumns = "name, version, rego, tests, active, created_at, coalesce(created_by::text, '')"

func scanPolicy(row pgx.Row) (policy.Module, error) {
	var m policy.Module
	err := row.Scan(&m.Name, &m.Version, &m.Rego, &m.Tests, &m.Active, &m.CreatedAt, &m.CreatedBy)
	m.CreatedAt = m.CreatedAt.UTC()
	return m, err
}

func (PolicyStore) modules(ctx context.Context, where string, args ...any) ([]policy.Module, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT "+policyColumns+" FROM policy_modules WHERE "+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (policy.Module, error) { return scanPolicy(r) })
}

// Lock takes the revision row for the rest of the unit of work.
func (PolicyStore) Lock(ctx context.Context) (int64, error) {
	return revision(ctx, "SELECT revision FROM policy_revision FOR UPDATE")
}

// Revision reads the tenant's policy revision.
func (PolicyStore) Revision(ctx context.Context) (int64, error) {
	return revision(ctx, "SELECT revision FROM policy_revision")
}

func revision(ctx context.Context, sql string) (int64, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return 0, err
	}
	var rev int64
	err = tx.QueryRow(ctx, sql).Scan(&rev)
	return rev, err
}

// Active lists the active version of each module, by name.
func (s PolicyStore) Active(ctx context.Context) ([]policy.Module, error) {
	return s.modules(ctx, "active ORDER BY name")
}

// Versions lists a module's versions, newest first.
func (s PolicyStore) Versions(ctx context.Context, name string) ([]policy.Module, error) {
	return s.modules(ctx, "name = $1 ORDER BY version DESC", name)
}

// Version reads one version of a module.
func (PolicyStore) Version(ctx context.Context, name string, version int) (policy.Module, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return policy.Module{}, err
	}
	m, err := scanPolicy(tx.QueryRow(ctx, "SELECT "+policyColumns+" FROM policy_modules WHERE name = $1 AND version = $2", name, version))
	return m, notFound(err, "policy module version")
}

// Save stores m as the module's next version and activates it. The revision
// is bumped first: its row lock orders concurrent saves, so the next
// version number is never taken twice.
func (PolicyStore) Save(ctx context.Context, m policy.Module) (policy.Module, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return m, err
	}
	if err := bump(ctx, tx); err != nil {
		return m, err
	}
	if _, err := tx.Exec(ctx, "UPDATE policy_modules SET active = false WHERE name = $1 AND active", m.Name); err != nil {
		return m, err
	}
	var createdBy *string
	if m.CreatedBy != "" {
		createdBy = &m.CreatedBy
	}
	err = tx.QueryRow(ctx, `INSERT INTO policy_modules (name, version, rego, tests, active, created_at, created_by)
		SELECT $1, coalesce(max(version), 0) + 1, $2, $3, true, $4, $5 FROM policy_modules WHERE name = $1
		RETURNING version`, m.Name, m.Rego, m.Tests, m.CreatedAt, createdBy).Scan(&m.Version)
	if isCode(err, codeUniqueViolation) {
		return m, kernel.E(kernel.KindConflict, "policy module %q changed meanwhile; try again", m.Name)
	}
	m.Active = true
	return m, err
}

// Activate makes one version of a module the active one.
func (s PolicyStore) Activate(ctx context.Context, name string, version int) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	if _, err := s.Version(ctx, name, version); err != nil {
		return err
	}
	// Two statements: PostgreSQL checks the one-active index row by row, so
	// one UPDATE flipping both rows could see two active versions at once.
	_, err = tx.Exec(ctx, "UPDATE policy_modules SET active = false WHERE name = $1 AND active AND version <> $2", name, version)
	if err != nil {
		return err
	}
	if _, err = tx.Exec(ctx, "UPDATE policy_modules SET active = true WHERE name = $1 AND version = $2", name, version); err != nil {
		return err
	}
	return bump(ctx, tx)
}

// Delete deactivates a module; its versions stay.
func (PolicyStore) Delete(ctx context.Context, name string) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, "UPDATE policy_modules SET active = false WHERE name = $1 AND active", name)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return kernel.NotFound("policy module")
	}
	return bump(ctx, tx)
}

// bump moves the revision on and queues the change notification, which
// PostgreSQL delivers to every listening replica only if the unit commits.
func bump(ctx context.Context, tx *Tx) error {
	if _, err := tx.Exec(ctx, "UPDATE policy_revision SET revision = revision + 1"); err != nil {
		return err
	}
	return notifyTenant(ctx, tx, PolicyChannel)
}
