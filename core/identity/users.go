package identity

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
)

// User is a tenant's user.
type User struct {
	ID           uuid.UUID
	Email        string
	Name         string
	PasswordHash string
	Status       string
	Roles        []string
	CreatedAt    time.Time
}

// UserStore reads tenant users inside the request's unit of work.
type UserStore interface {
	ByEmail(ctx context.Context, email string) (*User, error)
	ByID(ctx context.Context, id uuid.UUID) (*User, error)
}

// TenantResolver finds the tenant a login or token names.
type TenantResolver interface {
	BySlug(ctx context.Context, slug string) (*kernel.Tenant, error)
	ByID(ctx context.Context, id uuid.UUID) (*kernel.Tenant, error)
}

// Users is tenant user sign-in.
type Users struct {
	store     UserStore
	tenants   TenantResolver
	uow       kernel.Transactor
	passwords *Passwords
	tokens    *Tokens
}

// NewUsers returns the tenant user service.
func NewUsers(store UserStore, tenants TenantResolver, uow kernel.Transactor, passwords *Passwords, tokens *Tokens) *Users {
	return &Users{store: store, tenants: tenants, uow: uow, passwords: passwords, tokens: tokens}
}

// Login checks a tenant user's credentials and issues a tenant token. An
// unknown tenant, unknown user or wrong password get the same answer after
// the same work.
func (u *Users) Login(ctx context.Context, tenantSlug, email, password string) (TokenPair, error) {
	t, err := u.tenants.BySlug(ctx, tenantSlug)
	if errors.Is(err, kernel.ErrNotFound) {
		_, _ = u.passwords.Verify(ctx, "", password)
		return TokenPair{}, errBadCredentials
	}
	if err != nil {
		return TokenPair{}, err
	}
	if err := CheckActive(t); err != nil {
		return TokenPair{}, err
	}
	var user *User
	err = u.uow.InTenant(ctx, t, func(ctx context.Context) error {
		user, err = u.store.ByEmail(ctx, normaliseEmail(email))
		return err
	})
	hash := ""
	switch {
	case err == nil:
		hash = user.PasswordHash
	case !errors.Is(err, kernel.ErrNotFound):
		return TokenPair{}, err
	}
	ok, err := u.passwords.Verify(ctx, hash, password)
	if err != nil {
		return TokenPair{}, err
	}
	if !ok || user.Status != "active" {
		return TokenPair{}, errBadCredentials
	}
	p := &kernel.Principal{ID: user.ID, Type: kernel.PrincipalUser, Email: user.Email, TenantID: t.ID}
	tok, ttl, err := u.tokens.Issue(ctx, p, AudienceTenant)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: tok, ExpiresIn: ttl}, nil
}

// Me returns the signed-in user, read in the request's unit of work.
func (u *Users) Me(ctx context.Context, p *kernel.Principal) (*User, error) {
	return u.store.ByID(ctx, p.ID)
}

// CheckActive refuses every request of a suspended tenant.
func CheckActive(t *kernel.Tenant) error {
	if t.Status == kernel.TenantSuspended {
		return kernel.E(kernel.KindForbidden, "tenant %q is suspended", t.Slug).WithCode("tenant_suspended")
	}
	return nil
}
