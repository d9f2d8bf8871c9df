package identity

import (
	"context"

	"github.com/atriumhq/atrium/core/kernel"
)

// Authenticator verifies bearer tokens for the HTTP layer.
type Authenticator struct {
	tokens  *Tokens
	tenants TenantResolver
}

// NewAuthenticator returns an authenticator.
func NewAuthenticator(tokens *Tokens, tenants TenantResolver) *Authenticator {
	return &Authenticator{tokens: tokens, tenants: tenants}
}

// Operator verifies an operator token.
func (a *Authenticator) Operator(ctx context.Context, token string) (*kernel.Principal, error) {
	return a.tokens.Verify(ctx, token, AudienceOperator)
}

// TenantUser verifies a tenant token and resolves its tenant, which must be
// active. The token's tenant claim is authoritative.
func (a *Authenticator) TenantUser(ctx context.Context, token string) (*kernel.Principal, *kernel.Tenant, error) {
	p, err := a.tokens.Verify(ctx, token, AudienceTenant)
	if err != nil {
		return nil, nil, err
	}
	t, err := a.tenants.ByID(ctx, p.TenantID)
	if err != nil {
		if kernel.KindOf(err) == kernel.KindNotFound { // deleted since the token was issued
			return nil, nil, errBadToken
		}
		return nil, nil, err
	}
	if err := CheckActive(t); err != nil {
		return nil, nil, err
	}
	return p, t, nil
}
