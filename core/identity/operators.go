package identity

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

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
	// ByEmail finds an operator by email, case-insensitively.
	ByEmail(ctx context.Context, email string) (*Operator, error)
	// Create adds an operator; a taken email is a KindConflict error.
	Create(ctx context.Context, op *Operator) error
}

// TokenPair is what a successful login returns.
type TokenPair struct {
	AccessToken string
	ExpiresIn   time.Duration
}

// Operators is operator sign-in and bootstrap.
type Operators struct {
	store     OperatorStore
	passwords *Passwords
	tokens    *Tokens
	clock     kernel.Clock
}

// NewOperators returns the operator service.
func NewOperators(store OperatorStore, passwords *Passwords, tokens *Tokens, clock kernel.Clock) *Operators {
	return &Operators{store: store, passwords: passwords, tokens: tokens, clock: clock}
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
	hash, err := o.passwords.Hash(password)
	if err != nil {
		return false, err
	}
	err = o.store.Create(ctx, &Operator{ID: kernel.NewID(), Email: email, PasswordHash: hash, CreatedAt: o.clock.Now()})
	if errors.Is(err, kernel.ErrConflict) { // another replica was first
		return false, nil
	}
	return err == nil, err
}

// Login checks an operator's credentials and issues an operator token.
func (o *Operators) Login(ctx context.Context, email, password string) (TokenPair, error) {
	op, err := o.store.ByEmail(ctx, normaliseEmail(email))
	hash := ""
	switch {
	case err == nil:
		hash = op.PasswordHash
	case !errors.Is(err, kernel.ErrNotFound):
		return TokenPair{}, err
	}
	ok, err := o.passwords.Verify(ctx, hash, password)
	if err != nil {
		return TokenPair{}, err
	}
	if !ok || op.Disabled {
		return TokenPair{}, errBadCredentials
	}
	tok, ttl, err := o.tokens.Issue(ctx, &kernel.Principal{ID: op.ID, Type: kernel.PrincipalOperator, Email: op.Email}, AudienceOperator)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: tok, ExpiresIn: ttl}, nil
}

func normaliseEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }
