package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
)

// A refresh token is opaque to clients: "<scope>.<secret>", where scope
// routes it to its store (the tenant's ID, or "op" for operators) and secret
// is 256 random bits. Only its SHA-256 is stored, so a leaked table yields
// no usable token. Each sign-in starts a family; every refresh spends the
// token and hands out the next of the same family.

// Family is one sign-in's chain of refresh tokens.
type Family struct {
	ID        uuid.UUID
	Subject   uuid.UUID // the user or operator
	CreatedAt time.Time // when the subject signed in
	ExpiresAt time.Time // when its newest token expires
	Revoked   bool
}

// RefreshToken is a stored refresh token.
type RefreshToken struct {
	Hash      []byte
	Family    uuid.UUID
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Found is a refresh token's state as RefreshStore.Use found it.
type Found struct {
	Family    Family
	SpentAt   time.Time // zero if it was unspent
	ExpiresAt time.Time
	Rotated   bool // it was live, is now spent, and next has joined its family
}

// Standing is what may have changed since a token was issued.
type Standing struct {
	Email         string
	Active        bool      // the user or operator is enabled
	ValidAfter    time.Time // tokens issued before this stop working
	FamilyRevoked bool      // the family is revoked or gone
}

// allows reports whether a token issued at issuedAt may still be used.
func (s Standing) allows(issuedAt time.Time) bool {
	return s.Active && !s.FamilyRevoked && !issuedAt.Before(s.ValidAfter)
}

// RefreshStore keeps refresh token families.
type RefreshStore interface {
	// Start creates a family with its first token and drops the subject's
	// expired families.
	Start(ctx context.Context, f Family, first RefreshToken) error
	// Use finds the token with hash and locks its family. When the token is
	// live (unspent, unexpired at next.IssuedAt, family not revoked) it
	// spends it and adds next to the family. An unknown hash is ErrNotFound.
	Use(ctx context.Context, hash []byte, next RefreshToken) (Found, error)
	// Revoke ends a family: its tokens no longer refresh and its access
	// tokens stop working.
	Revoke(ctx context.Context, family uuid.UUID, at time.Time, reason string) error
	// Standing reports on subject and family for the per-request check; an
	// unknown subject is ErrNotFound.
	Standing(ctx context.Context, subject, family uuid.UUID) (Standing, error)
}

// UserRefreshStore keeps tenant users' families in the tenant's schema; it
// runs inside a unit of work.
type UserRefreshStore interface{ RefreshStore }

// OperatorRefreshStore keeps operators' families in the platform schema.
type OperatorRefreshStore interface{ RefreshStore }

// TokenPair is what a successful sign-in or refresh returns.
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
}

var (
	errBadRefresh = kernel.E(kernel.KindUnauthenticated, "the refresh token is not valid: sign in again")
	// ErrRefreshReused answers a refresh with a token already spent: a copy
	// is in someone else's hands, so the whole family has been revoked.
	ErrRefreshReused = kernel.E(kernel.KindUnauthenticated,
		"the refresh token was already used; every token of this sign-in is revoked: sign in again").WithCode("refresh_token_reused")
)

const maxRefreshLen = 128

// sessions starts and rotates token families over one store.
type sessions struct {
	store    RefreshStore
	tokens   *Tokens
	ttl      time.Duration
	clock    kernel.Clock
	log      *slog.Logger
	audience string
	audit    audit.Recorder // nil: not recorded
	// standings learn of the revocations this replica makes
	standings *Standings
}

// Sign-in events as the audit log names them.
const (
	ActionLogin   = "identity.session.login"
	ActionRefresh = "identity.session.refresh"
	ActionLogout  = "identity.session.logout"
)

// record writes a sign-in event in the unit of work in ctx.
func (s *sessions) record(ctx context.Context, action string, p *kernel.Principal, outcome audit.Outcome, reasons ...string) error {
	if s.audit == nil {
		return nil
	}
	actor := &audit.Actor{Type: audit.ActorAnonymous}
	if p != nil {
		actor = &audit.Actor{Type: string(p.Type), ID: p.ID.String(), Email: p.Email}
	}
	return s.audit.Record(ctx, audit.Entry{Action: action, Resource: audit.Resource{Type: "session"},
		Outcome: outcome, Reasons: reasons, Actor: actor})
}

// start signs p in: a new family and its first token pair.
func (s *sessions) start(ctx context.Context, p *kernel.Principal, scope string) (TokenPair, error) {
	now := s.clock.Now()
	raw, tok, err := s.newToken(scope, now)
	if err != nil {
		return TokenPair{}, err
	}
	// The signing key is read before the session's first statement: it
	// takes a connection of the pool, which must not happen while the unit
	// of work holds one (with the pool exhausted by requests doing the
	// same, none would get it).
	key, err := s.tokens.signingKey(ctx)
	if err != nil {
		return TokenPair{}, err
	}
	fam := Family{ID: kernel.NewID(), Subject: p.ID, CreatedAt: now, ExpiresAt: tok.ExpiresAt}
	tok.Family = fam.ID
	if err := s.store.Start(ctx, fam, tok); err != nil {
		return TokenPair{}, err
	}
	if err := s.record(ctx, ActionLogin, p, audit.Success); err != nil {
		return TokenPair{}, err
	}
	return s.pair(key, p, fam.ID, raw)
}

// rotate spends raw and returns the next pair of its family. A spent token
// revokes the family and returns ErrRefreshReused; the caller must still
// commit, so that the revocation holds.
func (s *sessions) rotate(ctx context.Context, raw, scope string, tenant uuid.UUID) (TokenPair, error) {
	now := s.clock.Now()
	nextRaw, next, err := s.newToken(scope, now)
	if err != nil {
		return TokenPair{}, err
	}
	key, err := s.tokens.signingKey(ctx) // before the first statement, as in start
	if err != nil {
		return TokenPair{}, err
	}
	found, err := s.store.Use(ctx, hashToken(raw), next)
	if errors.Is(err, kernel.ErrNotFound) {
		return TokenPair{}, s.refused(ctx, nil, "the refresh token is unknown")
	}
	if err != nil {
		return TokenPair{}, err
	}
	fam := found.Family
	switch {
	case found.Rotated:
	case fam.Revoked, found.SpentAt.IsZero(): // revoked or expired
		return TokenPair{}, s.refused(ctx, &kernel.Principal{ID: fam.Subject, Type: s.principalType(tenant)},
			"the refresh token is revoked or expired")
	default:
		if err := s.store.Revoke(ctx, fam.ID, now, "reuse"); err != nil {
			return TokenPair{}, err
		}
		s.standings.forgetOnCommit(ctx, fam.ID)
		s.log.WarnContext(ctx, "refresh token reused: family revoked", "audience", s.audience,
			"tenant_id", tenant, "subject", fam.Subject, "family", fam.ID, "spent_at", found.SpentAt)
		if err := s.record(ctx, ActionRefresh, &kernel.Principal{ID: fam.Subject, Type: s.principalType(tenant)},
			audit.Deny, "a spent refresh token was reused: its whole family is revoked"); err != nil {
			return TokenPair{}, err
		}
		return TokenPair{}, ErrRefreshReused
	}
	st, err := s.store.Standing(ctx, fam.Subject, fam.ID)
	if errors.Is(err, kernel.ErrNotFound) {
		return TokenPair{}, errBadRefresh
	}
	if err != nil {
		return TokenPair{}, err
	}
	p := &kernel.Principal{ID: fam.Subject, Type: s.principalType(tenant), Email: st.Email, TenantID: tenant}
	if !st.allows(fam.CreatedAt) { // disabled, or signed in before a password change
		if err := s.store.Revoke(ctx, fam.ID, now, "standing"); err != nil {
			return TokenPair{}, err
		}
		s.standings.forgetOnCommit(ctx, fam.ID)
		return TokenPair{}, s.refused(ctx, p, "the account is disabled or its password changed since sign-in")
	}
	if err := s.record(ctx, ActionRefresh, p, audit.Success); err != nil {
		return TokenPair{}, err
	}
	return s.pair(key, p, fam.ID, nextRaw)
}

func (s *sessions) principalType(tenant uuid.UUID) kernel.PrincipalType {
	if tenant == uuid.Nil {
		return kernel.PrincipalOperator
	}
	return kernel.PrincipalUser
}

// refused records a refused refresh and returns the one answer every
// refusal gets. The caller commits (see Users.Refresh), so the record holds.
func (s *sessions) refused(ctx context.Context, p *kernel.Principal, reason string) error {
	if err := s.record(ctx, ActionRefresh, p, audit.Deny, reason); err != nil {
		return err
	}
	return errBadRefresh
}

// logout revokes the family the access token raw was issued with.
func (s *sessions) logout(ctx context.Context, raw string) error {
	acc, err := s.tokens.Verify(ctx, raw, s.audience)
	if err != nil {
		return err
	}
	if err := s.store.Revoke(ctx, acc.Session, s.clock.Now(), "logout"); err != nil {
		return err
	}
	s.standings.forgetOnCommit(ctx, acc.Session)
	return nil
}

func (s *sessions) pair(key SigningKey, p *kernel.Principal, family uuid.UUID, refresh string) (TokenPair, error) {
	access, ttl, err := s.tokens.sign(key, p, s.audience, family)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, ExpiresIn: ttl}, nil
}

func (s *sessions) newToken(scope string, now time.Time) (string, RefreshToken, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", RefreshToken{}, err
	}
	raw := scope + "." + base64.RawURLEncoding.EncodeToString(secret)
	return raw, RefreshToken{Hash: hashToken(raw), IssuedAt: now, ExpiresAt: now.Add(s.ttl)}, nil
}

func hashToken(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

// refreshScope splits the scope off a refresh token, refusing what cannot
// be one before any lookup.
func refreshScope(raw string) (string, error) {
	scope, _, ok := strings.Cut(raw, ".")
	if !ok || len(raw) > maxRefreshLen {
		return "", errBadRefresh
	}
	return scope, nil
}
