package postgres

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
)

// AccessChannel carries "these tenants' roles or assignments changed"
// between replicas; the payload is the tenant ID.
const AccessChannel = "atrium_access"

// RoleStore keeps a tenant's roles in its schema; it runs in the unit of work.
type RoleStore struct{}

var _ access.RoleStore = RoleStore{}

const roleColumns = "name, description, permissions, builtin, created_at, updated_at"

func scanRole(row pgx.Row) (access.Role, error) {
	var r access.Role
	err := row.Scan(&r.Name, &r.Description, &r.Permissions, &r.Builtin, &r.CreatedAt, &r.UpdatedAt)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, err
}

// Roles lists the tenant's roles by name.
func (RoleStore) Roles(ctx context.Context) ([]access.Role, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT "+roleColumns+" FROM roles ORDER BY name")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (access.Role, error) { return scanRole(r) })
}

// Role reads one role.
func (RoleStore) Role(ctx context.Context, name string) (*access.Role, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	r, err := scanRole(tx.QueryRow(ctx, "SELECT "+roleColumns+" FROM roles WHERE name = $1", name))
	if err != nil {
		return nil, notFound(err, "role")
	}
	return &r, nil
}

// CreateRole adds a custom role.
func (RoleStore) CreateRole(ctx context.Context, r *access.Role) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO roles (name, description, permissions, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)`,
		r.Name, r.Description, r.Permissions, r.CreatedAt, r.UpdatedAt)
	if isCode(err, codeUniqueViolation) {
		return kernel.E(kernel.KindConflict, "role %q exists", r.Name)
	}
	return err
}

// UpdateRole saves a custom role and tells every replica.
func (RoleStore) UpdateRole(ctx context.Context, r *access.Role) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE roles SET description = $2, permissions = $3, updated_at = $4 WHERE name = $1 AND NOT builtin`,
		r.Name, r.Description, r.Permissions, r.UpdatedAt)
	if err != nil {
		return err
	}
	return notifyAccess(ctx, tx)
}

// DeleteRole removes a custom role and its assignments, and tells every replica.
func (RoleStore) DeleteRole(ctx context.Context, name string) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	if _, err = tx.Exec(ctx, `DELETE FROM roles WHERE name = $1 AND NOT builtin`, name); err != nil {
		return err
	}
	if _, err = tx.Exec(ctx, `UPDATE users SET roles = array_remove(roles, $1) WHERE $1 = ANY (roles)`, name); err != nil {
		return err
	}
	if _, err = tx.Exec(ctx, `UPDATE service_accounts SET roles = array_remove(roles, $1) WHERE $1 = ANY (roles)`, name); err != nil {
		return err
	}
	return notifyAccess(ctx, tx)
}

// UserRoles returns a user's or a service account's assigned roles (their
// IDs are random UUIDs: one names at most one of them).
func (RoleStore) UserRoles(ctx context.Context, user uuid.UUID) ([]string, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	var roles []string
	if err := tx.QueryRow(ctx, `SELECT roles FROM users WHERE id = $1
		UNION ALL SELECT roles FROM service_accounts WHERE id = $1`, user).Scan(&roles); err != nil {
		return nil, notFound(err, "user")
	}
	return roles, nil
}

func notifyAccess(ctx context.Context, tx *Tx) error { return notifyTenant(ctx, tx, AccessChannel) }
