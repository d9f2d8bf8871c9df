package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/internal/listquery"
)

// filterNotation names a list's columns after the resource's fields.
var filterNotation = access.ListColumns{
	ID:    &access.Column{Name: "id", Type: listquery.UUID},
	Owner: &access.Column{Name: "owner_id", Type: listquery.UUID, Nullable: true},
	Named: true,
}

func policyModule(m policy.Module) PolicyModule {
	return PolicyModule{Name: m.Name, Version: m.Version, Rego: m.Rego, Tests: m.Tests, Active: m.Active, CreatedAt: m.CreatedAt, CreatedBy: m.CreatedBy}
}

func policyList(ms []policy.Module) PolicyList {
	out := PolicyList{Items: make([]PolicyModule, 0, len(ms))}
	for _, m := range ms {
		out.Items = append(out.Items, policyModule(m))
	}
	return out
}

func tenantOf(c *gin.Context) *kernel.Tenant {
	t, _ := kernel.TenantFrom(c.Request.Context())
	return t
}

// PolicyRoutes are the tenant policy API for security teams.
func PolicyRoutes(svc *policy.Service, shadows *policy.Shadows, roles *access.Roles, authz *access.Authorizer) []Route {
	tags := []string{"policies"}
	return []Route{
		{
			Method: http.MethodGet, Path: "/api/v1/policies", Summary: "The tenant's policy modules, active version of each", Tags: tags,
			Access: Tenant, Permission: "access.policy.read",
			Handler: Output(func(c *gin.Context) (PolicyList, error) {
				ms, err := svc.List(c.Request.Context(), tenantOf(c))
				return policyList(ms), err
			}),
		},
		{
			Method: http.MethodPut, Path: "/api/v1/policies/:name",
			Summary: "Upload a new version: compiled with the base, its tests run, then activated, or with mode shadow rehearsed beside the active one (422 policy_invalid otherwise)",
			Tags:    tags, Access: Tenant, Permission: "access.policy.write",
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *PutPolicyRequest) (PolicyModule, error) {
				upload := svc.Upload
				if in.Mode == "shadow" {
					upload = shadows.UploadShadow
				}
				m, err := upload(c.Request.Context(), tenantOf(c), c.Param("name"), in.Rego, in.Tests)
				return policyModule(m), err
			}),
		},
		{
			Method: http.MethodGet, Path: "/api/v1/policies/:name/versions", Summary: "Every version of a module", Tags: tags,
			Access: Tenant, Permission: "access.policy.read",
			Handler: Output(func(c *gin.Context) (PolicyList, error) {
				ms, err := svc.Versions(c.Request.Context(), tenantOf(c), c.Param("name"))
				return policyList(ms), err
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/policies/:name/rollback", Summary: "Activate an earlier version", Tags: tags,
			Access: Tenant, Permission: "access.policy.write",
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *RollbackRequest) (PolicyModule, error) {
				m, err := svc.Rollback(c.Request.Context(), tenantOf(c), c.Param("name"), in.Version)
				return policyModule(m), err
			}),
		},
		{
			Method: http.MethodDelete, Path: "/api/v1/policies/:name", Summary: "Remove a module (its versions stay as history)", Tags: tags,
			Access: Tenant, Permission: "access.policy.write",
			Handler: NoContent(func(c *gin.Context) error { return svc.Delete(c.Request.Context(), tenantOf(c), c.Param("name")) }),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/policies/evaluate", Summary: "Dry run: the decision and its reasons, without performing anything; with mode \"filter\", the SQL condition a list of resource_type gets",
			Tags: tags, Access: Tenant, Permission: "access.policy.evaluate", ReadOnly: true,
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *EvaluateRequest) (EvaluateResponse, error) {
				ctx := c.Request.Context()
				t := tenantOf(c)
				input, err := evaluationInput(c, in, roles, authz)
				if err != nil {
					return EvaluateResponse{}, err
				}
				input.Tenant = access.TenantInput{ID: t.ID.String(), Slug: t.Slug, Settings: t.Settings}
				if in.Mode == "filter" {
					return evaluateFilter(ctx, svc, t, in, input)
				}
				d, err := svc.Evaluate(ctx, t, input, in.Explain)
				if err != nil {
					return EvaluateResponse{}, err
				}
				return EvaluateResponse{Allow: d.Allow, Reasons: nonNil(d.Reasons), PolicyVersion: d.PolicyVersion, Explanation: d.Explanation}, nil
			}),
		},
	}
}

// evaluateFilter answers the filter mode.
func evaluateFilter(ctx context.Context, svc *policy.Service, t *kernel.Tenant, in *EvaluateRequest, input access.Input) (EvaluateResponse, error) {
	switch {
	case in.ResourceType == "":
		return EvaluateResponse{}, kernel.Invalid(kernel.FieldError{Field: "resource_type", Message: "is required in filter mode"})
	case in.Resource != nil:
		return EvaluateResponse{}, kernel.Invalid(kernel.FieldError{Field: "resource", Message: "is for decisions: a filter is for every resource of resource_type"})
	}
	input.Resource = access.Resource{Type: in.ResourceType, Attributes: map[string]any{}}
	f, err := svc.Filter(ctx, t, input, filterNotation)
	if err != nil {
		return EvaluateResponse{}, err
	}
	params := f.Params
	if params == nil {
		params = []any{}
	}
	out := EvaluateResponse{Allow: f.SQL != "FALSE", Reasons: []string{}, PolicyVersion: f.PolicyVersion, Fallback: &f.Fallback}
	if f.SQL != "TRUE" {
		out.Filter = &EvaluateFilter{SQL: f.SQL, Params: params}
	}
	return out, nil
}

// evaluationInput builds the dry run's input: the caller as subject unless
// one is given, whose permissions default to what its roles hold.
func evaluationInput(c *gin.Context, in *EvaluateRequest, roles *access.Roles, authz *access.Authorizer) (access.Input, error) {
	ctx := c.Request.Context()
	input := access.Input{Action: in.Action, Request: RequestInput(c)}
	input.Request.Time = access.RequestTime(time.Now())
	if in.Resource != nil {
		input.Resource = access.Resource(*in.Resource)
	}
	if input.Resource.Attributes == nil {
		input.Resource.Attributes = map[string]any{}
	}
	if in.Subject == nil {
		if err := authz.Enrich(ctx); err != nil {
			return input, err
		}
		p, _ := kernel.PrincipalFrom(ctx)
		input.Subject = access.SubjectOf(p)
		return input, nil
	}
	s := in.Subject
	input.Subject = access.Subject{ID: s.ID, Type: string(kernel.PrincipalUser), Email: s.Email, Roles: nonNil(s.Roles), Permissions: s.Permissions, Attributes: s.Attributes}
	if input.Subject.Attributes == nil {
		input.Subject.Attributes = map[string]any{}
	}
	if s.Permissions == nil {
		all, err := roles.List(ctx)
		if err != nil {
			return input, err
		}
		perms := []string{}
		for i, name := range s.Roles {
			found := false
			for _, r := range all {
				if r.Name == name {
					perms, found = append(perms, r.Permissions...), true
				}
			}
			if !found {
				return input, kernel.Invalid(kernel.FieldError{Field: "subject.roles[" + strconv.Itoa(i) + "]", Message: "unknown role " + name})
			}
		}
		input.Subject.Permissions = perms
	}
	return input, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
