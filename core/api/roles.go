package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/api/model"
)

func roleResponse(r *access.Role) RoleResponse {
	perms := r.Permissions
	if perms == nil {
		perms = []string{}
	}
	return RoleResponse{Name: r.Name, Description: r.Description, Permissions: perms, Builtin: r.Builtin}
}

// RoleRoutes are the tenant's roles and the permission registry.
func RoleRoutes(roles *access.Roles, registry *access.Registry) []Route {
	tags := []string{"roles"}
	return []Route{
		{
			Method: http.MethodGet, Path: "/api/v1/roles", Summary: "List roles with their effective permissions", Tags: tags,
			Access: Tenant, Permission: "identity.role.read",
			Handler: Output(func(c *gin.Context) (RoleList, error) {
				rs, err := roles.List(c.Request.Context())
				if err != nil {
					return RoleList{}, err
				}
				out := RoleList{Items: make([]RoleResponse, 0, len(rs))}
				for i := range rs {
					out.Items = append(out.Items, roleResponse(&rs[i]))
				}
				return out, nil
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/roles", Summary: "Create a custom role", Tags: tags,
			Access: Tenant, Permission: "identity.role.create",
			Handler: JSON(http.StatusCreated, func(c *gin.Context, in *CreateRoleRequest) (RoleResponse, error) {
				r, err := roles.Create(c.Request.Context(), in.Name, in.Description, in.Permissions)
				if err != nil {
					return RoleResponse{}, err
				}
				return roleResponse(r), nil
			}),
		},
		{
			Method: http.MethodGet, Path: "/api/v1/roles/:name", Summary: "Read a role", Tags: tags,
			Access: Tenant, Permission: "identity.role.read",
			Handler: Output(func(c *gin.Context) (RoleResponse, error) {
				r, err := roles.Get(c.Request.Context(), c.Param("name"))
				if err != nil {
					return RoleResponse{}, err
				}
				return roleResponse(r), nil
			}),
		},
		{
			Method: http.MethodPut, Path: "/api/v1/roles/:name", Summary: "Create or replace a custom role", Tags: tags,
			Access: Tenant, Permission: "identity.role.update",
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *PutRoleRequest) (RoleResponse, error) {
				r, _, err := roles.Put(c.Request.Context(), c.Param("name"), in.Description, in.Permissions)
				if err != nil {
					return RoleResponse{}, err
				}
				return roleResponse(r), nil
			}),
		},
		{
			Method: http.MethodDelete, Path: "/api/v1/roles/:name", Summary: "Delete a custom role (built-ins cannot be deleted)", Tags: tags,
			Access: Tenant, Permission: "identity.role.delete",
			Handler: NoContent(func(c *gin.Context) error { return roles.Delete(c.Request.Context(), c.Param("name")) }),
		},
		{
			Method: http.MethodGet, Path: "/api/v1/permissions", Summary: "The permission registry: the core's and every plugin's permissions",
			Tags: tags, Access: Tenant,
			Handler: Output(func(*gin.Context) (PermissionList, error) {
				return PermissionList{Items: convert(registry.All(), func(p access.Permission) model.Permission { return model.Permission(p) })}, nil
			}),
		},
	}
}
