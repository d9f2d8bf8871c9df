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
	uow       kernel.Transactor
	users     UserRefreshStore
	operators OperatorRefreshStore
}

// NewAuthenticator returns an authenticator.
func NewAuthenticator(tokens *Tokens, tenants TenantResolver, uow kernel.Transactor, users UserRefreshStore, operators OperatorRefreshStore) *Authenticator {
	return &Authenticator{tokens: tokens, tenants: tenants, uow: uow, users: users, operators: operators}
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
// active. The token's tenant claim is authoritative.
func (a *Authenticator) TenantUser(ctx context.Context, token string) (*kernel.Principal, *kernel.Tenant, error) {
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
	err = a.uow.InTenant(ctx, t, func(ctx context.Context) error { return checkStanding(ctx, a.users, acc) })
	if err != nil {
		return nil, nil, err
	}
	return acc.Principal, t, nil
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
