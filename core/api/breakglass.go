package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/core/tenancy"
)

// BreakGlassRequest is an operator's reason for changing a tenant's policy;
// it goes into the tenant's audit log with the change.
type BreakGlassRequest struct {
	Reason string `json:"reason" validate:"required,max=1000"`
}

// BreakGlassRollbackRequest activates an earlier version, for a reason.
type BreakGlassRollbackRequest struct {
	Version int    `json:"version" validate:"required,min=1"`
	Reason  string `json:"reason" validate:"required,max=1000"`
}

// BreakGlassRoutes let platform operators read a tenant's policy and roll
// back or remove a module when its own admins cannot (policies.md): each
// change is recorded in the tenant's audit log as the operator's, with the
// reason given and the module named.
func BreakGlassRoutes(svc *policy.Service, tenants *tenancy.Service) []Route {
	tags := []string{"policies"}
	tenant := func(c *gin.Context) (*kernel.Tenant, error) {
		t, err := tenants.Get(c.Request.Context(), c.Param("slug"))
		if err != nil {
			return nil, err
		}
		return t.Scope(), nil
	}
	module := func(c *gin.Context) {
		audit.Describe(c.Request.Context(), audit.Resource{}, map[string]any{"module": c.Param("name")})
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
				t, err := tenant(c)
				if err != nil {
					return PolicyModule{}, err
				}
				module(c)
				m, err := svc.Rollback(c.Request.Context(), t, c.Param("name"), in.Version)
				return policyModule(m), err
			}),
		},
		{
			Method: http.MethodDelete, Path: "/api/v1/tenants/:slug/policies/:name",
			Summary: "Break glass: remove a tenant's module (its versions stay), for the reason given",
			Tags:    tags, Access: Operator, Action: "access.policy.write",
			Handler: JSONNoContent(func(c *gin.Context, _ *BreakGlassRequest) error {
				t, err := tenant(c)
				if err != nil {
					return err
				}
				module(c)
				return svc.Delete(c.Request.Context(), t, c.Param("name"))
			}),
		},
	}
}
