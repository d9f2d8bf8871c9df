package postgres

import (
	"time"

	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

// ServiceAccountStore keeps a tenant's service accounts and API keys in its
// schema, in the unit of work.
type ServiceAccountStore struct{}

var _ identity.ServiceAccountStore = ServiceAccountStore{}

const accountColumns = "id, name, description, roles, created_at"

func scanAccount(row pgx.Row) (*identity.ServiceAccount, error) {
	var a identity.ServiceAccount
	if err := row.Scan(&a.ID, &a.Name, &a.Description, &a.Roles, &a.CreatedAt); err != nil {
		return nil, notFound(err, "service account")
	}
	a.CreatedAt = a.CreatedAt.UTC()
	return &a, nil
}

var errAccountNameTaken = &kernel.Error{Kind: kernel.KindConflict, Message: "a service account with this name exists",
	Fields: []kernel.FieldError{{Field: "name", Message: "is taken"}}}

// List reads a page of service accounts.
func (ServiceAccountStore) List(ctx context.Context, q spec.Spec) ([]*identity.ServiceAccount, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	c, err := SpecSQL(q, identity.ServiceAccountFields, "", 0)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT "+accountColumns+" FROM service_accounts WHERE "+c.Where+" "+c.OrderLimit, c.Args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*identity.ServiceAccount, error) { return scanAccount(r) })
}

// ByID reads one service account.
func (ServiceAccountStore) ByID(ctx context.Context, id uuid.UUID) (*identity.ServiceAccount, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	return scanAccount(tx.QueryRow(ctx, "SELECT "+accountColumns+" FROM service_accounts WHERE id = $1", id))
}

// Create adds a service account.
func (ServiceAccountStore) Create(ctx context.Context, a *identity.ServiceAccount) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO service_accounts (id, name, description, roles, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $5)`, a.ID, a.Name, a.Description, a.Roles, a.CreatedAt)
	if isCode(err, codeUniqueViolation) {
		return errAccountNameTaken
	}
	return err
}

// Update applies fn to the account under a row lock and saves it.
func (ServiceAccountStore) Update(ctx context.Context, id uuid.UUID, fn func(*identity.ServiceAccount)) (*identity.ServiceAccount, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	a, err := scanAccount(tx.QueryRow(ctx, "SELECT "+accountColumns+" FROM service_accounts WHERE id = $1 FOR UPDATE", id))
	if err != nil {
		return nil, err
	}
	fn(a)
	_, err = tx.Exec(ctx, `UPDATE service_accounts SET name = $2, description = $3, roles = $4, updated_at = now() WHERE id = $1`,
		a.ID, a.Name, a.Description, a.Roles)
	if isCode(err, codeUniqueViolation) {
		return nil, errAccountNameTaken
	}
	return a, err
}

// Delete removes a service account; its keys go with it.
func (ServiceAccountStore) Delete(ctx context.Context, id uuid.UUID) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, "DELETE FROM service_accounts WHERE id = $1", id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return kernel.NotFound("service account")
	}
	return nil
}

const accountKeyColumns = "id, account_id, name, prefix, hash, created_at, expires_at, last_used_at, revoked_at"

func scanAPIKey(row pgx.Row) (*identity.APIKey, error) {
	var k identity.APIKey
	if err := row.Scan(&k.ID, &k.AccountID, &k.Name, &k.Prefix, &k.Hash, &k.CreatedAt, &k.ExpiresAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
		return nil, notFound(err, "key")
	}
	k.CreatedAt = k.CreatedAt.UTC()
	for _, t := range []*time.Time{k.ExpiresAt, k.LastUsedAt, k.RevokedAt} {
		if t != nil {
			*t = t.UTC()
		}
	}
	return &k, nil
}

// AddKey stores a key's hash.
func (ServiceAccountStore) AddKey(ctx context.Context, k *identity.APIKey) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO service_account_keys (id, account_id, name, prefix, hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, k.ID, k.AccountID, k.Name, k.Prefix, k.Hash, k.CreatedAt, k.ExpiresAt)
	return err
}

// Keys lists an account's keys, oldest first.
func (ServiceAccountStore) Keys(ctx context.Context, account uuid.UUID) ([]*identity.APIKey, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT "+accountKeyColumns+" FROM service_account_keys WHERE account_id = $1 ORDER BY created_at, id", account)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (*identity.APIKey, error) { return scanAPIKey(r) })
}

// RevokeKey marks one of the account's keys revoked.
func (ServiceAccountStore) RevokeKey(ctx context.Context, account, key uuid.UUID) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, `UPDATE service_account_keys SET revoked_at = coalesce(revoked_at, now())
		WHERE id = $1 AND account_id = $2`, key, account)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return kernel.NotFound("key")
	}
	return nil
}

// Key reads one key.
func (ServiceAccountStore) Key(ctx context.Context, id uuid.UUID) (*identity.APIKey, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	return scanAPIKey(tx.QueryRow(ctx, "SELECT "+accountKeyColumns+" FROM service_account_keys WHERE id = $1", id))
}

// Used sets the key's last use to now, unless another request did within
// the last minute.
func (ServiceAccountStore) Used(ctx context.Context, id uuid.UUID) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `UPDATE service_account_keys SET last_used_at = now()
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, id)
	return err
}

// Changed tells every replica this tenant's assignments changed.
func (ServiceAccountStore) Changed(ctx context.Context) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	return notifyAccess(ctx, tx)
}
