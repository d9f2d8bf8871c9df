package api

import (
	"context"
	"errors"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/kernel"
)

// Authenticator turns a bearer token into a principal: an operator, or a
// tenant user together with the tenant (already checked to be active).
type Authenticator interface {
	Operator(ctx context.Context, token string) (*kernel.Principal, error)
	TenantUser(ctx context.Context, token string) (*kernel.Principal, *kernel.Tenant, error)
}

const headerTenant = "X-Tenant"

var errNoToken = kernel.E(kernel.KindUnauthenticated, "an Authorization: Bearer token is required")

func bearer(c *gin.Context) (string, error) {
	h := c.GetHeader("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", errNoToken
	}
	return strings.TrimSpace(token), nil
}

// run authenticates the route's caller, runs the handler in the right scope
// and writes its reply, or the error as a problem.
func (r *Router) run(c *gin.Context, rt Route) {
	rep, err := r.serve(c, rt)
	if err != nil {
		writeError(c, err)
		return
	}
	rep.write(c)
}

func (r *Router) serve(c *gin.Context, rt Route) (*reply, error) {
	switch rt.Access {
	case Public:
		return rt.Handler.serve(c)
	case Operator:
		tok, err := bearer(c)
		if err != nil {
			return nil, err
		}
		p, err := r.auth.Operator(c.Request.Context(), tok)
		if err != nil {
			return nil, err
		}
		c.Request = c.Request.WithContext(kernel.WithPrincipal(c.Request.Context(), p))
		return rt.Handler.serve(c)
	case Tenant:
		tok, err := bearer(c)
		if err != nil {
			return nil, err
		}
		p, t, err := r.auth.TenantUser(c.Request.Context(), tok)
		if err != nil {
			return nil, err
		}
		// The token's tenant is authoritative; a tenant named by the client
		// must agree with it.
		if named := c.GetHeader(headerTenant); named != "" && named != t.Slug {
			return nil, kernel.E(kernel.KindForbidden, "the %s header names another tenant than the token", headerTenant).WithCode("tenant_mismatch")
		}
		ctx := kernel.WithTenant(kernel.WithPrincipal(c.Request.Context(), p), t)
		var rep *reply
		err = r.uow.InTenant(ctx, t, func(ctx context.Context) error {
			c.Request = c.Request.WithContext(ctx)
			var err error
			rep, err = rt.Handler.serve(c)
			return err
		})
		return rep, err
	}
	return nil, errors.New("route has an unknown access level")
}
