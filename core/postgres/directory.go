package postgres

import (
	"context"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

// DirectoryStore keeps a tenant's users in its schema, in the unit of work.
type DirectoryStore struct{ UserStore }

var _ identity.DirectoryStore = DirectoryStore{}

// List reads the users q selects.
func (DirectoryStore) List(ctx context.Context, q spec.Spec) ([]*identity.User, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	c, err := SpecSQL(q, identity.UserFields, "", 0)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, "SELECT "+userColumns+" FROM users WHERE "+c.Where+" "+c.OrderLimit, c.Args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*identity.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Create adds a user.
func (DirectoryStore) Create(ctx context.Context, u *identity.User) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO users (id, email, name, password_hash, status, roles, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, u.ID, u.Email, u.Name, u.PasswordHash, u.Status, u.Roles, u.CreatedAt)
	if isCode(err, codeUniqueViolation) {
		return (&kernel.Error{Kind: kernel.KindConflict, Message: "a user with this email exists",
			Fields: []kernel.FieldError{{Field: "email", Message: "is taken"}}})
	}
	return err
}

// Update applies fn to the user under a row lock and saves it.
func (s DirectoryStore) Update(ctx context.Context, id uuid.UUID, fn func(*identity.User) (bool, error)) (*identity.User, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	u, err := scanUser(tx.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1 FOR UPDATE", id))
	if err != nil {
		return nil, err
	}
	revoke, err := fn(u)
	if err != nil {
		return nil, err
	}
	_, err = tx.Exec(ctx, `UPDATE users SET name = $2, password_hash = $3, status = $4, roles = $5, updated_at = now(),
		tokens_valid_after = CASE WHEN $6 THEN now() ELSE tokens_valid_after END WHERE id = $1`,
		u.ID, u.Name, u.PasswordHash, u.Status, u.Roles, revoke)
	return u, err
}

// Delete removes a user.
func (DirectoryStore) Delete(ctx context.Context, id uuid.UUID) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	tag, err := tx.Exec(ctx, "DELETE FROM users WHERE id = $1", id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return kernel.NotFound("user")
	}
	return nil
}

// Changed tells every replica this tenant's assignments changed.
func (DirectoryStore) Changed(ctx context.Context) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	return notifyAccess(ctx, tx)
}
