package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/policy"
)

// ShadowReport is a module's shadow version and how its decisions compared
// with the live ones, on every replica.
type ShadowReport struct {
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	Rego      string    `json:"rego"`
	Tests     string    `json:"tests,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	// Decisions is how many live decisions were compared; Disagreements how
	// many the shadow version would have made differently.
	Decisions     int64                          `json:"decisions"`
	Disagreements int64                          `json:"disagreements"`
	ByAction      map[string]policy.ActionCounts `json:"by_action"`
	// Samples are the latest disagreements, oldest first.
	Samples []policy.Sample `json:"samples"`
}

func shadowReport(sh policy.Shadow) ShadowReport {
	m := sh.Module
	r := ShadowReport{Name: m.Name, Version: m.Version, Rego: m.Rego, Tests: m.Tests, CreatedAt: m.CreatedAt, CreatedBy: m.CreatedBy,
		Decisions: sh.Decisions, Disagreements: sh.Disagreements, ByAction: sh.ByAction, Samples: sh.Samples}
	if r.ByAction == nil {
		r.ByAction = map[string]policy.ActionCounts{}
	}
	if r.Samples == nil {
		r.Samples = []policy.Sample{}
	}
	for i := range r.Samples {
		r.Samples[i].Reasons = nonNil(r.Samples[i].Reasons)
		r.Samples[i].LiveReasons = nonNil(r.Samples[i].LiveReasons)
	}
	return r
}

// PolicyShadowRoutes report, promote and drop shadow versions (uploaded
// with PUT /api/v1/policies/{name} and mode shadow).
func PolicyShadowRoutes(shadows *policy.Shadows) []Route {
	tags := []string{"policies"}
	return []Route{
		{
			Method: http.MethodGet, Path: "/api/v1/policies/:name/shadow",
			Summary: "The module's shadow version: decisions compared with the live ones, disagreements by action, and samples",
			Tags:    tags, Access: Tenant, Permission: "access.policy.read",
			Handler: Output(func(c *gin.Context) (ShadowReport, error) {
				sh, err := shadows.Shadow(c.Request.Context(), tenantOf(c), c.Param("name"))
				return shadowReport(sh), err
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/policies/:name/promote",
			Summary: "Activate the module's shadow version (checked as a rollback is) and end the shadowing",
			Tags:    tags, Access: Tenant, Permission: "access.policy.write",
			Handler: Output(func(c *gin.Context) (PolicyModule, error) {
				ctx := c.Request.Context()
				m, err := shadows.Promote(ctx, tenantOf(c), c.Param("name"))
				if err == nil {
					audit.Describe(ctx, audit.Resource{Type: "policy", ID: m.Name},
						map[string]any{"promoted_shadow_version": m.Version})
				}
				return policyModule(m), err
			}),
		},
		{
			Method: http.MethodDelete, Path: "/api/v1/policies/:name/shadow",
			Summary: "Drop the module's shadow version (it stays in the module's versions)",
			Tags:    tags, Access: Tenant, Permission: "access.policy.write",
			Handler: NoContent(func(c *gin.Context) error {
				return shadows.Drop(c.Request.Context(), tenantOf(c), c.Param("name"))
			}),
		},
	}
}
