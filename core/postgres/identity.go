package postgres

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
)

// KeyStore keeps token signing keys in atrium.signing_keys, shared by replicas.
type KeyStore struct{ pool *pgxpool.Pool }

var _ identity.KeyStore = (*KeyStore)(nil)

// NewKeyStore returns the key store.
func NewKeyStore(pool *pgxpool.Pool) *KeyStore { return &KeyStore{pool: pool} }

// Active returns the newest unretired key, generating the first one under an
// advisory lock so replicas starting together agree on it.
func (s *KeyStore) Active(ctx context.Context) (identity.SigningKey, error) {
	var key identity.SigningKey
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("signing-keys")); err != nil {
			return err
		}
		var seed []byte
		err := tx.QueryRow(ctx, `SELECT kid, private_key FROM atrium.signing_keys
			WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1`).Scan(&key.ID, &seed)
		if err == nil {
			key.Private = ed25519.NewKeyFromSeed(seed)
			return nil
		}
		if err != pgx.ErrNoRows { //nolint:errorlint // pgx returns the sentinel itself
			return err
		}
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		key = identity.SigningKey{ID: kernel.NewID().String(), Private: priv}
		_, err = tx.Exec(ctx, "INSERT INTO atrium.signing_keys (kid, algorithm, private_key) VALUES ($1, 'EdDSA', $2)", key.ID, priv.Seed())
		return err
	})
	if err != nil {
		return identity.SigningKey{}, fmt.Errorf("signing key: %w", unavailable(err))
	}
	return key, nil
}

// Verifying returns every key not retired, or retired recently enough that
// tokens it signed may not have expired.
func (s *KeyStore) Verifying(ctx context.Context) ([]identity.SigningKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT kid, private_key FROM atrium.signing_keys
		WHERE retired_at IS NULL OR retired_at > now() - interval '1 day'`)
	if err != nil {
		return nil, unavailable(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (identity.SigningKey, error) {
		var k identity.SigningKey
		var seed []byte
		if err := r.Scan(&k.ID, &seed); err != nil {
			return k, err
		}
		k.Private = ed25519.NewKeyFromSeed(seed)
		return k, nil
	})
}

// OperatorStore keeps platform operators in atrium.operators.
type OperatorStore struct{ pool *pgxpool.Pool }

var _ identity.OperatorStore = (*OperatorStore)(nil)

// NewOperatorStore returns the operator store.
func NewOperatorStore(pool *pgxpool.Pool) *OperatorStore { return &OperatorStore{pool: pool} }

// ByEmail finds an operator by email.
func (s *OperatorStore) ByEmail(ctx context.Context, email string) (*identity.Operator, error) {
	var op identity.Operator
	err := s.pool.QueryRow(ctx, `SELECT id, email, password_hash, disabled, created_at FROM atrium.operators
		WHERE lower(email) = lower($1)`, email).Scan(&op.ID, &op.Email, &op.PasswordHash, &op.Disabled, &op.CreatedAt)
	if err != nil {
		return nil, notFound(unavailable(err), "operator")
	}
	return &op, nil
}

// Create adds an operator.
func (s *OperatorStore) Create(ctx context.Context, op *identity.Operator) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO atrium.operators (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)`,
		op.ID, op.Email, op.PasswordHash, op.CreatedAt)
	if isCode(err, codeUniqueViolation) {
		return kernel.E(kernel.KindConflict, "an operator with this email exists")
	}
	return err
}

// UserStore reads tenant users in the unit of work's tenant schema.
type UserStore struct{}

var _ identity.UserStore = UserStore{}

const userColumns = "id, email, name, password_hash, status, roles, created_at"

func scanUser(row pgx.Row) (*identity.User, error) {
	var u identity.User
	err := row.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Status, &u.Roles, &u.CreatedAt)
	if err != nil {
		return nil, notFound(err, "user")
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return &u, nil
}

// ByEmail finds a user of the unit of work's tenant by email.
func (UserStore) ByEmail(ctx context.Context, email string) (*identity.User, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	return scanUser(tx.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE lower(email) = lower($1)", email))
}

// ByID finds a user of the unit of work's tenant by ID.
func (UserStore) ByID(ctx context.Context, id uuid.UUID) (*identity.User, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	return scanUser(tx.QueryRow(ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", id))
}
