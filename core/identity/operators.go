package identity

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
)

// Operator is a platform operator: manages tenants, sees no tenant data.
type Operator struct {
	ID           uuid.UUID
	Email        string
	PasswordHash string
	Disabled     bool
	CreatedAt    time.Time
}

// OperatorStore keeps platform operators.
type OperatorStore interface {
	// Any tells whether any operator exists.
	Any(ctx context.Context) (bool, error)
	// ByEmail finds an operator by email, case-insensitively.
	ByEmail(ctx context.Context, email string) (*Operator, error)
	// Create adds an operator; a taken email is a KindConflict error.
	Create(ctx context.Context, op *Operator) error
}

// SignIn is what operator and tenant user sign-in share.
type SignIn struct {
	Passwords *Passwords
	Tokens    *Tokens
	Limiter   Limiter
	// Wide limits each address's sign-in attempts, and each account's from
	// every address together (admit); nil: neither is limited.
	Wide       Limiter
	RefreshTTL time.Duration
	Clock      kernel.Clock
	Log        *slog.Logger
	// Audit records tenant users' sign-ins, refreshes and refusals
	// (operators have no tenant log; their events go to the structured log).
	Audit audit.Recorder
	// Standings learn of tenant users' revocations (nil: none cached).
	Standings *Standings
}

func (in SignIn) sessions(store RefreshStore, audience string) *sessions {
	s := &sessions{store: store, tokens: in.Tokens, ttl: in.RefreshTTL, clock: in.Clock, log: in.Log, audience: audience}
	if audience == AudienceTenant {
		s.audit, s.standings = in.Audit, in.Standings
	}
	return s
}

// Operators is operator sign-in and bootstrap.
type Operators struct {
	store    OperatorStore
	in       SignIn
	sessions *sessions
}

// operatorScope starts operators' refresh tokens.
const operatorScope = "op"

// NewOperators returns the operator service.
func NewOperators(store OperatorStore, refresh OperatorRefreshStore, in SignIn) *Operators {
	return &Operators{store: store, in: in, sessions: in.sessions(refresh, AudienceOperator)}
}

// errBadCredentials is the one answer for unknown accounts, wrong passwords
// and disabled accounts alike.
var errBadCredentials = kernel.E(kernel.KindUnauthenticated, "the email or password is wrong")

// Bootstrap creates the first operator unless one with that email exists;
// it is safe to run on every start.
func (o *Operators) Bootstrap(ctx context.Context, email, password string) (created bool, err error) {
	email = normaliseEmail(email)
	if _, err := o.store.ByEmail(ctx, email); err == nil {
		return false, nil
	} else if !errors.Is(err, kernel.ErrNotFound) {
		return false, err
	}
	hash, err := o.in.Passwords.Hash(password)
	if err != nil {
		return false, err
	}
	err = o.store.Create(ctx, &Operator{ID: kernel.NewID(), Email: email, PasswordHash: hash, CreatedAt: o.in.Clock.Now()})
	if errors.Is(err, kernel.ErrConflict) { // another replica was first
		return false, nil
	}
	return err == nil, err
}

// FirstOperatorEmail is the operator a developer's first start creates.
const FirstOperatorEmail = "operator@atrium.localhost"

// First creates the first operator, with email and a generated password,
// when there is no operator at all; otherwise it returns "".
func (o *Operators) First(ctx context.Context, email string) (password string, err error) {
	if any, err := o.store.Any(ctx); err != nil || any {
		return "", err
	}
	password = rand.Text() // 26 characters of base32: 130 random bits
	created, err := o.Bootstrap(ctx, email, password)
	if err != nil || !created {
		return "", err
	}
	return password, nil
}

// Login checks an operator's credentials and starts a token family.
func (o *Operators) Login(ctx context.Context, email, password string) (TokenPair, error) {
	email = normaliseEmail(email)
	forget, err := o.in.admit(ctx, "operator", email)
	if err != nil {
		return TokenPair{}, err
	}
	op, err := o.store.ByEmail(ctx, email)
	hash := ""
	switch {
	case err == nil:
		hash = op.PasswordHash
	case !errors.Is(err, kernel.ErrNotFound):
		return TokenPair{}, err
	}
	ok, err := o.in.Passwords.Verify(ctx, hash, password)
	if err != nil {
		return TokenPair{}, err
	}
	if !ok || op.Disabled {
		return TokenPair{}, errBadCredentials
	}
	forget()
	return o.sessions.start(ctx, &kernel.Principal{ID: op.ID, Type: kernel.PrincipalOperator, Email: op.Email}, operatorScope)
}

// Refresh spends an operator's refresh token for a new pair.
func (o *Operators) Refresh(ctx context.Context, refreshToken string) (TokenPair, error) {
	if scope, err := refreshScope(refreshToken); err != nil || scope != operatorScope {
		return TokenPair{}, errBadRefresh
	}
	return o.sessions.rotate(ctx, refreshToken, operatorScope, uuid.Nil)
}

// Logout revokes the family of the operator's access token.
func (o *Operators) Logout(ctx context.Context, accessToken string) error {
	return o.sessions.logout(ctx, accessToken)
}

func normaliseEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
