package identity

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/audit"
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
	store    UserStore
	tenants  TenantResolver
	uow      kernel.Transactor
	in       SignIn
	sessions *sessions
}

// NewUsers returns the tenant user service.
func NewUsers(store UserStore, refresh UserRefreshStore, tenants TenantResolver, uow kernel.Transactor, in SignIn) *Users {
	return &Users{store: store, tenants: tenants, uow: uow, in: in, sessions: in.sessions(refresh, AudienceTenant)}
}

// Login checks a tenant user's credentials and starts a token family. An
// unknown tenant, unknown user or wrong password get the same answer after
// the same work. Attempts are limited per tenant and account.
func (u *Users) Login(ctx context.Context, tenantSlug, email, password string) (TokenPair, error) {
	email = normaliseEmail(email)
	t, err := u.tenants.BySlug(ctx, tenantSlug)
	if errors.Is(err, kernel.ErrNotFound) {
		if _, err := u.in.admit(ctx, "user", strings.ToLower(tenantSlug), email); err != nil {
			return TokenPair{}, err
		}
		_, _ = u.in.Passwords.Verify(ctx, "", password)
		return TokenPair{}, errBadCredentials
	}
	if err != nil {
		return TokenPair{}, err
	}
	if err := CheckActive(t); err != nil {
		return TokenPair{}, u.refuseLogin(ctx, t, email, nil, err, "the tenant is suspended")
	}
	forget, err := u.in.admit(ctx, "user", t.ID.String(), email)
	if err != nil {
		return TokenPair{}, err
	}
	var user *User
	err = u.uow.InTenant(ctx, t, func(ctx context.Context) error {
		user, err = u.store.ByEmail(ctx, email)
		return err
	})
	hash := ""
	switch {
	case err == nil:
		hash = user.PasswordHash
	case !errors.Is(err, kernel.ErrNotFound):
		return TokenPair{}, err
	}
	// bcrypt runs outside the unit of work: no transaction waits on it.
	ok, err := u.in.Passwords.Verify(ctx, hash, password)
	if err != nil {
		return TokenPair{}, err
	}
	if !ok || user.Status != StatusActive {
		return TokenPair{}, u.refuseLogin(ctx, t, email, user, errBadCredentials, loginRefusal(user, ok))
	}
	forget()
	p := &kernel.Principal{ID: user.ID, Type: kernel.PrincipalUser, Email: user.Email, TenantID: t.ID}
	var pair TokenPair
	err = u.uow.InTenant(ctx, t, func(ctx context.Context) error {
		pair, err = u.sessions.start(ctx, p, t.ID.String())
		return err
	})
	return pair, err
}

// refuseLogin records a refused sign-in and returns refusal, or the audit
// log's error when the record cannot be written: a sign-in attempt is never
// left unrecorded.
func (u *Users) refuseLogin(ctx context.Context, t *kernel.Tenant, email string, user *User, refusal error, reason string) error {
	if u.in.Audit == nil {
		return refusal
	}
	e := audit.Entry{Action: ActionLogin, Outcome: audit.Deny, Reasons: []string{reason},
		Actor: &audit.Actor{Type: audit.ActorAnonymous, Email: email}, Resource: audit.Resource{Type: "user"}}
	if user != nil {
		e.Resource.ID = user.ID.String()
	}
	if err := u.in.Audit.RecordAlone(ctx, t, e); err != nil {
		return err
	}
	return refusal
}

// loginRefusal says in the audit log (never to the client) why a sign-in
// failed.
func loginRefusal(user *User, passwordOK bool) string {
	switch {
	case user == nil:
		return "no user has this email"
	case !passwordOK:
		return "wrong password"
	}
	return "the user is disabled"
}

// Refresh spends a tenant user's refresh token for a new pair. The token
// names its tenant, which must still exist and be active.
func (u *Users) Refresh(ctx context.Context, refreshToken string) (TokenPair, error) {
	scope, err := refreshScope(refreshToken)
	if err != nil {
		return TokenPair{}, err
	}
	id, err := uuid.Parse(scope)
	if err != nil {
		return TokenPair{}, errBadRefresh
	}
	t, err := u.tenants.ByID(ctx, id)
	if errors.Is(err, kernel.ErrNotFound) {
		return TokenPair{}, errBadRefresh
	}
	if err != nil {
		return TokenPair{}, err
	}
	if err := CheckActive(t); err != nil {
		return TokenPair{}, err
	}
	var pair TokenPair
	var denied error
	err = u.uow.InTenant(ctx, t, func(ctx context.Context) error {
		var err error
		pair, err = u.sessions.rotate(ctx, refreshToken, t.ID.String(), t.ID)
		if errors.Is(err, kernel.ErrUnauthenticated) {
			denied = err // commit: a reuse's revocation must hold
			return nil
		}
		return err
	})
	if err == nil {
		err = denied
	}
	return pair, err
}

// Logout revokes the family of the user's access token. It runs in the
// request's unit of work.
func (u *Users) Logout(ctx context.Context, accessToken string) error {
	if p, ok := kernel.PrincipalFrom(ctx); ok && p.Type == kernel.PrincipalService {
		return kernel.E(kernel.KindForbidden, "an API key has no session to log out of: revoke the key instead")
	}
	return u.sessions.logout(ctx, accessToken)
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
