package api

import (
	"context"
	"errors"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
)

// Authenticator turns a bearer token into a principal: an operator, or a
// tenant user together with the tenant (already checked to be active).
type Authenticator interface {
	Operator(ctx context.Context, token string) (*kernel.Principal, error)
	TenantUser(ctx context.Context, token string) (*kernel.Principal, *kernel.Tenant, error)
	// Standing checks, inside the request's unit of work, that the tenant
	// user's account and session still stand.
	Standing(ctx context.Context) error
}

// Authorizer decides whether the request's principal may act. It runs
// inside the request's unit of work.
type Authorizer interface {
	// Authorize returns a KindForbidden error when the decision is deny.
	Authorize(ctx context.Context, action string, res *access.Resource, req access.RequestInput) (access.Decision, error)
	// Enrich loads the principal's roles and permissions.
	Enrich(ctx context.Context) error
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
	if err != nil && abandoned(c) { // whatever the cancellation looked like on its way up
		err = errShuttingDown
	}
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
		ctx, note := audit.WithNote(kernel.WithPrincipal(c.Request.Context(), p))
		note.SetAction(rt.action())
		audit.Describe(ctx, audit.Resource{Type: rt.resourceType(), ID: c.Param("slug")}, nil)
		c.Request = c.Request.WithContext(ctx)
		rep, err := rt.Handler.serve(c)
		r.auditOperator(ctx, c, rt, note, err)
		return rep, err
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
		if err := r.rates.take(c, t); err != nil {
			return nil, err
		}
		leave, err := r.gate.enter(c.Request.Context(), t)
		if err != nil {
			return nil, err
		}
		defer leave()
		ctx, note := audit.WithNote(kernel.WithTenant(kernel.WithPrincipal(c.Request.Context(), p), t))
		audit.Describe(ctx, audit.Resource{Type: rt.resourceType(), ID: lastParam(c)}, nil)
		var rep *reply
		uctx := ctx
		if !rt.mutates() {
			// What it is not recorded as changing, it cannot change.
			uctx = kernel.ReadOnly(ctx)
		}
		err = r.uow.InTenant(uctx, t, func(ctx context.Context) error {
			c.Request = c.Request.WithContext(ctx)
			if err := r.auth.Standing(ctx); err != nil {
				return err
			}
			if err := r.authorize(c, rt.Permission); err != nil {
				return err
			}
			var err error
			if rep, err = rt.Handler.serve(c); err != nil {
				return err
			}
			// The change and its record commit together, or neither does.
			if err := r.auditSuccess(ctx, rt, note); err != nil {
				return err
			}
			return mayCommit(c) // not once shutdown abandoned the request
		})
		if err != nil {
			// ctx is outside the unit of work, which has rolled back.
			if aerr := r.auditFailure(ctx, t, rt, note, err); aerr != nil {
				return nil, aerr
			}
		} else {
			r.logDecision(ctx, t, rt, note)
		}
		return rep, err
	}
	return nil, errors.New("route has an unknown access level")
}

// authorize checks the route's permission, or loads the principal's roles
// for routes any signed-in user may call.
func (r *Router) authorize(c *gin.Context, permission string) error {
	if r.authz == nil {
		return nil
	}
	ctx := c.Request.Context()
	if permission == "" {
		return r.authz.Enrich(ctx)
	}
	_, err := r.authz.Authorize(ctx, permission, nil, RequestInput(c))
	return err
}

// RequestInput describes the request for policies.
func RequestInput(c *gin.Context) access.RequestInput {
	return access.RequestInput{Method: c.Request.Method, Path: c.Request.URL.Path, IP: c.ClientIP()}
}

// AuthorizeResource asks for a decision about one resource, from a handler
// of a Tenant route (the route's own permission is already checked).
func (r *Router) AuthorizeResource(c *gin.Context, action string, res access.Resource) error {
	if r.authz == nil {
		return errors.New("no authorizer configured")
	}
	_, err := r.authz.Authorize(c.Request.Context(), action, &res, RequestInput(c))
	return err
}
