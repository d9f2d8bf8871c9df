package identity

import (
	"context"
	"errors"

	"github.com/atriumhq/atrium/core/kernel"
)

// Authenticator verifies bearer tokens for the HTTP layer. Beyond the
// signature it checks, on every request, what may have changed since the
// token was issued: the account disabled, the password changed, the family
// revoked (logout, reuse).
type Authenticator struct {
	tokens    *Tokens
	tenants   TenantResolver
	users     UserRefreshStore
	operators OperatorRefreshStore
	standings *Standings // nil: ask every time
	keys      *ServiceKeys
}

// NewAuthenticator returns an authenticator.
func NewAuthenticator(tokens *Tokens, tenants TenantResolver, users UserRefreshStore, operators OperatorRefreshStore) *Authenticator {
	return &Authenticator{tokens: tokens, tenants: tenants, users: users, operators: operators}
}

// WithStandings lets the authenticator remember tenant users' standing.
func (a *Authenticator) WithStandings(s *Standings) *Authenticator {
	a.standings = s
	return a
}

// WithServiceKeys lets tenant routes accept service accounts' API keys.
func (a *Authenticator) WithServiceKeys(k *ServiceKeys) *Authenticator {
	a.keys = k
	return a
}

// Operator verifies an operator token.
func (a *Authenticator) Operator(ctx context.Context, token string) (*kernel.Principal, error) {
	acc, err := a.tokens.Verify(ctx, token, AudienceOperator)
	if err != nil {
		return nil, err
	}
	if err := checkStanding(ctx, a.operators, acc); err != nil {
		return nil, err
	}
	return acc.Principal, nil
}

// TenantUser verifies a tenant token and resolves its tenant, which must be
// active. The token's tenant claim is authoritative. An API key is a
// service account's token, its tenant named by the key.
func (a *Authenticator) TenantUser(ctx context.Context, token string) (*kernel.Principal, *kernel.Tenant, error) {
	if a.keys != nil && IsAPIKey(token) {
		return a.keys.Authenticate(ctx, token)
	}
	acc, err := a.tokens.Verify(ctx, token, AudienceTenant)
	if err != nil {
		return nil, nil, err
	}
	t, err := a.tenants.ByID(ctx, acc.Principal.TenantID)
	if err != nil {
		if kernel.KindOf(err) == kernel.KindNotFound { // deleted since the token was issued
			return nil, nil, errBadToken
		}
		return nil, nil, err
	}
	if err := CheckActive(t); err != nil {
		return nil, nil, err
	}
	acc.Principal.Session, acc.Principal.IssuedAt = acc.Session, acc.IssuedAt
	return acc.Principal, t, nil
}

// Standing checks, inside the request's unit of work, that the tenant user
// is still active and that its token has not been revoked since it was
// issued (logout, refresh-token reuse, password change, disable).
func (a *Authenticator) Standing(ctx context.Context) error {
	p, ok := kernel.PrincipalFrom(ctx)
	if !ok {
		return errRevokedToken
	}
	if p.Type == kernel.PrincipalService {
		if a.keys == nil {
			return errBadToken
		}
		return a.keys.Prove(ctx, p)
	}
	if st, ok := a.standings.get(p.Session); ok {
		if !st.allows(p.IssuedAt) {
			return errRevokedToken
		}
		return nil
	}
	st, err := a.users.Standing(ctx, p.ID, p.Session)
	switch {
	case errors.Is(err, kernel.ErrNotFound): // the account was deleted
		return errRevokedToken
	case err != nil:
		return err
	}
	a.standings.put(p.Session, p.TenantID, st)
	if !st.allows(p.IssuedAt) {
		return errRevokedToken
	}
	return nil
}

func checkStanding(ctx context.Context, store RefreshStore, acc *Access) error {
	st, err := store.Standing(ctx, acc.Principal.ID, acc.Session)
	switch {
	case errors.Is(err, kernel.ErrNotFound): // the account was deleted
		return errRevokedToken
	case err != nil:
		return err
	case !st.allows(acc.IssuedAt):
		return errRevokedToken
	}
	return nil
}
