package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
)

// Refresh token families live beside their subjects: a tenant's users' in
// the tenant schema (inside the unit of work), operators' in the platform
// schema. One set of statements serves both, over these names.
type refreshTables struct {
	families, tokens, subjects string
	subject                    string // the families' column naming the subject
	active                     string // over the subject row s: may it sign in
}

var (
	userRefresh = refreshTables{
		families: "refresh_families", tokens: "refresh_tokens", subjects: "users",
		subject: "user_id", active: "s.status = 'active'",
	}
	operatorRefresh = refreshTables{
		families: "atrium.operator_refresh_families", tokens: "atrium.operator_refresh_tokens", subjects: "atrium.operators",
		subject: "operator_id", active: "NOT s.disabled",
	}
)

// querier is what the statements need: a unit of work's Tx, a pgx.Tx or the pool.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// start purges the subject's expired families and creates f with its first
// token, in one statement.
func (t refreshTables) start(ctx context.Context, q querier, f identity.Family, first identity.RefreshToken) error {
	_, err := q.Exec(ctx, `WITH purged AS (DELETE FROM `+t.families+` WHERE `+t.subject+` = $2 AND expires_at < $3),
		family AS (INSERT INTO `+t.families+` (id, `+t.subject+`, created_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id)
		INSERT INTO `+t.tokens+` (hash, family_id, issued_at, expires_at) SELECT $5, id, $3, $4 FROM family`,
		f.ID, f.Subject, f.CreatedAt, f.ExpiresAt, first.Hash)
	return unavailableOrNil(err)
}

// use must run in a transaction: the family stays locked until it ends, so
// two refreshes with one token are told apart (the second is a reuse).
func (t refreshTables) use(ctx context.Context, q querier, hash []byte, next identity.RefreshToken) (identity.Found, error) {
	var found identity.Found
	var spent *time.Time
	f := &found.Family
	err := q.QueryRow(ctx, `SELECT f.id, f.`+t.subject+`, f.created_at, f.expires_at, f.revoked_at IS NOT NULL, tk.spent_at, tk.expires_at
		FROM `+t.tokens+` tk JOIN `+t.families+` f ON f.id = tk.family_id WHERE tk.hash = $1 FOR UPDATE OF f`, hash).
		Scan(&f.ID, &f.Subject, &f.CreatedAt, &f.ExpiresAt, &f.Revoked, &spent, &found.ExpiresAt)
	if err != nil {
		return found, notFound(unavailable(err), "refresh token")
	}
	if spent != nil {
		found.SpentAt = *spent
	}
	if f.Revoked || spent != nil || !next.IssuedAt.Before(found.ExpiresAt) {
		return found, nil
	}
	_, err = q.Exec(ctx, `WITH spent AS (UPDATE `+t.tokens+` SET spent_at = $3 WHERE hash = $1),
		family AS (UPDATE `+t.families+` SET expires_at = $4 WHERE id = $2)
		INSERT INTO `+t.tokens+` (hash, family_id, issued_at, expires_at) VALUES ($5, $2, $3, $4)`,
		hash, f.ID, next.IssuedAt, next.ExpiresAt, next.Hash)
	if err != nil {
		return found, unavailable(err)
	}
	found.Rotated, f.ExpiresAt = true, next.ExpiresAt
	return found, nil
}

func (t refreshTables) revoke(ctx context.Context, q querier, family uuid.UUID, at time.Time, reason string) error {
	_, err := q.Exec(ctx, `UPDATE `+t.families+` SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL`,
		family, at, reason)
	return unavailableOrNil(err)
}

func (t refreshTables) standing(ctx context.Context, q querier, subject, family uuid.UUID) (identity.Standing, error) {
	var st identity.Standing
	var after pgtype.Timestamptz
	err := q.QueryRow(ctx, `SELECT s.email, `+t.active+`, s.tokens_valid_after, f.id IS NULL OR f.revoked_at IS NOT NULL
		FROM `+t.subjects+` s LEFT JOIN `+t.families+` f ON f.id = $2 AND f.`+t.subject+` = s.id WHERE s.id = $1`,
		subject, family).Scan(&st.Email, &st.Active, &after, &st.FamilyRevoked)
	if err != nil {
		return st, notFound(unavailable(err), "account")
	}
	switch after.InfinityModifier {
	case pgtype.NegativeInfinity: // never revoked: the zero time
	case pgtype.Infinity:
		st.ValidAfter = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	default:
		st.ValidAfter = after.Time
	}
	return st, nil
}

func unavailableOrNil(err error) error {
	if err == nil {
		return nil
	}
	return unavailable(err)
}

// UserRefreshStore keeps tenant users' refresh token families in the unit
// of work's tenant schema.
type UserRefreshStore struct{}

var _ identity.UserRefreshStore = UserRefreshStore{}

// Start implements identity.RefreshStore.
func (UserRefreshStore) Start(ctx context.Context, f identity.Family, first identity.RefreshToken) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	return userRefresh.start(ctx, tx, f, first)
}

// Use implements identity.RefreshStore.
func (UserRefreshStore) Use(ctx context.Context, hash []byte, next identity.RefreshToken) (identity.Found, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return identity.Found{}, err
	}
	return userRefresh.use(ctx, tx, hash, next)
}

// Revoke implements identity.RefreshStore.
func (UserRefreshStore) Revoke(ctx context.Context, family uuid.UUID, at time.Time, reason string) error {
	tx, err := TxFrom(ctx)
	if err != nil {
		return err
	}
	if err := userRefresh.revoke(ctx, tx, family, at, reason); err != nil {
		return err
	}
	// Other replicas drop their cached standing of this tenant's sessions.
	return notifyAccess(ctx, tx)
}

// Standing implements identity.RefreshStore.
func (UserRefreshStore) Standing(ctx context.Context, subject, family uuid.UUID) (identity.Standing, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return identity.Standing{}, err
	}
	return userRefresh.standing(ctx, tx, subject, family)
}

// OperatorRefreshStore keeps operators' refresh token families in the
// platform schema.
type OperatorRefreshStore struct{ pool *pgxpool.Pool }

var _ identity.OperatorRefreshStore = (*OperatorRefreshStore)(nil)

// NewOperatorRefreshStore returns the operators' refresh token store.
func NewOperatorRefreshStore(pool *pgxpool.Pool) *OperatorRefreshStore {
	return &OperatorRefreshStore{pool: pool}
}

// Start implements identity.RefreshStore.
func (s *OperatorRefreshStore) Start(ctx context.Context, f identity.Family, first identity.RefreshToken) error {
	return operatorRefresh.start(ctx, s.pool, f, first)
}

// Use implements identity.RefreshStore.
func (s *OperatorRefreshStore) Use(ctx context.Context, hash []byte, next identity.RefreshToken) (identity.Found, error) {
	var found identity.Found
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		found, err = operatorRefresh.use(ctx, tx, hash, next)
		return err
	})
	if err != nil && kernel.KindOf(err) == kernel.KindInternal { // begin or commit failed
		err = unavailable(err)
	}
	return found, err
}

// Revoke implements identity.RefreshStore.
func (s *OperatorRefreshStore) Revoke(ctx context.Context, family uuid.UUID, at time.Time, reason string) error {
	return operatorRefresh.revoke(ctx, s.pool, family, at, reason)
}

// Standing implements identity.RefreshStore.
func (s *OperatorRefreshStore) Standing(ctx context.Context, subject, family uuid.UUID) (identity.Standing, error) {
	return operatorRefresh.standing(ctx, s.pool, subject, family)
}
