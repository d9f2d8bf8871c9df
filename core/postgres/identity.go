package postgres

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

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

const keyColumns = "kid, private_key, created_at, retired_at"

func scanKey(row pgx.Row) (identity.SigningKey, error) {
	var k identity.SigningKey
	var seed []byte
	var retired *time.Time
	if err := row.Scan(&k.ID, &seed, &k.CreatedAt, &retired); err != nil {
		return k, err
	}
	if len(seed) != ed25519.SeedSize {
		return k, fmt.Errorf("signing key %s: stored seed has %d bytes", k.ID, len(seed))
	}
	k.Private = ed25519.NewKeyFromSeed(seed)
	if retired != nil {
		k.RetiredAt = *retired
	}
	return k, nil
}

// Active returns the newest unretired key; the very first one is generated
// by Rotate, under its lock, so replicas starting together agree on it.
func (s *KeyStore) Active(ctx context.Context) (identity.SigningKey, error) {
	key, err := scanKey(s.pool.QueryRow(ctx, "SELECT "+keyColumns+
		" FROM atrium.signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1"))
	if errors.Is(err, pgx.ErrNoRows) {
		return s.Rotate(ctx, "")
	}
	if err != nil {
		return identity.SigningKey{}, fmt.Errorf("signing key: %w", unavailable(err))
	}
	return key, nil
}

// Rotate retires the active key if its ID is retire and generates its
// successor. The advisory lock makes replicas that rotate together agree:
// the later ones find a new active key and return it.
func (s *KeyStore) Rotate(ctx context.Context, retire string) (identity.SigningKey, error) {
	var key identity.SigningKey
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey("signing-keys")); err != nil {
			return err
		}
		var err error
		key, err = scanKey(tx.QueryRow(ctx, "SELECT "+keyColumns+
			" FROM atrium.signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1"))
		switch {
		case err == nil && key.ID != retire:
			return nil // already rotated (or retire was "" and a key exists)
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if _, err := tx.Exec(ctx, "UPDATE atrium.signing_keys SET retired_at = now() WHERE retired_at IS NULL"); err != nil {
			return err
		}
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		key, err = scanKey(tx.QueryRow(ctx, `INSERT INTO atrium.signing_keys (kid, algorithm, private_key)
			VALUES ($1, 'EdDSA', $2) RETURNING `+keyColumns, kernel.NewID().String(), priv.Seed()))
		return err
	})
	if err != nil {
		return identity.SigningKey{}, fmt.Errorf("signing key: %w", unavailable(err))
	}
	return key, nil
}

// Verifying returns the active key and every key retired after since:
// tokens they signed may not have expired yet.
func (s *KeyStore) Verifying(ctx context.Context, since time.Time) ([]identity.SigningKey, error) {
	rows, err := s.pool.Query(ctx, "SELECT "+keyColumns+
		" FROM atrium.signing_keys WHERE retired_at IS NULL OR retired_at > $1", since)
	if err != nil {
		return nil, unavailable(err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (identity.SigningKey, error) { return scanKey(r) })
	if err != nil {
		return nil, unavailable(err)
	}
	return keys, nil
}

// OperatorStore keeps platform operators in atrium.operators.
type OperatorStore struct{ pool *pgxpool.Pool }

var _ identity.OperatorStore = (*OperatorStore)(nil)

// NewOperatorStore returns the operator store.
func NewOperatorStore(pool *pgxpool.Pool) *OperatorStore { return &OperatorStore{pool: pool} }

// Any tells whether any operator exists.
func (s *OperatorStore) Any(ctx context.Context) (bool, error) {
	var any bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM atrium.operators)`).Scan(&any); err != nil {
		return false, unavailable(err)
	}
	return any, nil
}

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
	return classify(err)
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
