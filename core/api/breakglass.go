package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/core/tenancy"
)

// BreakGlassRoutes let platform operators read a tenant's policy and roll
// back or remove a module when its own admins cannot (policies.md): each
// change commits together with its record in the tenant's audit log, the
// operator's, naming the module and carrying the reason given.
func BreakGlassRoutes(svc *policy.Service, tenants *tenancy.Service, uow kernel.Transactor, log *audit.Log) []Route {
	tags := []string{"policies"}
	tenant := func(c *gin.Context) (*kernel.Tenant, error) {
		t, err := tenants.Get(c.Request.Context(), c.Param("slug"))
		if err != nil {
			return nil, err
		}
		return t.Scope(), nil
	}
	change := func(c *gin.Context, reason string, fn func(context.Context, *kernel.Tenant) error) error {
		if strings.TrimSpace(reason) == "" {
			return kernel.Invalid(kernel.FieldError{Field: "reason", Message: "is required"})
		}
		t, err := tenant(c)
		if err != nil {
			return err
		}
		ctx := c.Request.Context()
		audit.Describe(ctx, audit.Resource{Type: "policy", ID: c.Param("name")}, nil)
		return uow.InTenant(ctx, t, func(ctx context.Context) error {
			if err := fn(ctx, t); err != nil {
				return err
			}
			return log.RecordInUnit(ctx)
		})
	}
	return []Route{
		{
			Method: http.MethodGet, Path: "/api/v1/tenants/:slug/policies", Summary: "A tenant's policy modules, active version of each",
			Tags: tags, Access: Operator,
			Handler: Output(func(c *gin.Context) (PolicyList, error) {
				t, err := tenant(c)
				if err != nil {
					return PolicyList{}, err
				}
				ms, err := svc.List(c.Request.Context(), t)
				return policyList(ms), err
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/tenants/:slug/policies/:name/rollback",
			Summary: "Break glass: activate an earlier version of a tenant's module, for the reason given",
			Tags:    tags, Access: Operator, Action: "access.policy.write",
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *BreakGlassRollbackRequest) (PolicyModule, error) {
				var m policy.Module
				err := change(c, in.Reason, func(ctx context.Context, t *kernel.Tenant) error {
					var err error
					m, err = svc.Rollback(ctx, t, c.Param("name"), in.Version)
					return err
				})
				return policyModule(m), err
			}),
		},
		{
			Method: http.MethodDelete, Path: "/api/v1/tenants/:slug/policies/:name",
			Summary: "Break glass: remove a tenant's module (its versions stay), for the reason given",
			Tags:    tags, Access: Operator, Action: "access.policy.write",
			Handler: JSONNoContent(func(c *gin.Context, in *BreakGlassRequest) error {
				return change(c, in.Reason, func(ctx context.Context, t *kernel.Tenant) error {
					return svc.Delete(ctx, t, c.Param("name"))
				})
			}),
		},
	}
}
