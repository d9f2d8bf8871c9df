package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

func userResponse(u *identity.User) UserResponse {
	roles := u.Roles
	if roles == nil {
		roles = []string{}
	}
	return UserResponse{ID: u.ID, Email: u.Email, Name: u.Name, Status: u.Status, Roles: roles, CreatedAt: u.CreatedAt}
}

func userID(c *gin.Context) (uuid.UUID, error) { return kernel.ParseID("user", c.Param("id")) }

// byID serves a use case on the one resource the path's id names: the id
// parsed (a malformed one is its parser's error), the use case run, and
// its result turned into the response.
func byID[T, R any](parse func(*gin.Context) (uuid.UUID, error), fn func(*gin.Context, uuid.UUID) (T, error), respond func(T) R) func(*gin.Context) (R, error) {
	return func(c *gin.Context) (R, error) {
		var zero R
		id, err := parse(c)
		if err != nil {
			return zero, err
		}
		v, err := fn(c, id)
		if err != nil {
			return zero, err
		}
		return respond(v), nil
	}
}

// UserRoutes are the tenant's user administration.
func UserRoutes(dir *identity.Directory) []Route {
	tags := []string{"users"}
	one := func(fn func(c *gin.Context, id uuid.UUID) (*identity.User, error)) func(*gin.Context) (UserResponse, error) {
		return byID(userID, fn, userResponse)
	}
	return []Route{
		{
			Method: http.MethodGet, Path: "/api/v1/users", Summary: "List the tenant's users", Tags: tags,
			Access: Tenant, Permission: "identity.user.read",
			Handler: Output(func(c *gin.Context) (UserList, error) {
				ctx := c.Request.Context()
				codec, err := dir.Cursors(ctx)
				if err != nil {
					return UserList{}, err
				}
				q, err := spec.Parse(c.Request.URL.Query(), identity.UserFields, spec.Options{Codec: codec})
				if err != nil {
					return UserList{}, err
				}
				users, next, err := dir.List(ctx, q)
				if err != nil {
					return UserList{}, err
				}
				out := UserList{Items: make([]UserResponse, 0, len(users))}
				for _, u := range users {
					out.Items = append(out.Items, userResponse(u))
				}
				if next != "" {
					out.NextCursor = &next
				}
				return out, nil
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/users", Summary: "Create a user", Tags: tags,
			Access: Tenant, Permission: "identity.user.create",
			Handler: JSON(http.StatusCreated, func(c *gin.Context, in *CreateUserRequest) (UserResponse, error) {
				u, err := dir.Create(c.Request.Context(), identity.NewUser{Email: in.Email, Password: in.Password, Name: in.Name, Roles: in.Roles})
				if err != nil {
					return UserResponse{}, err
				}
				c.Header("Location", "/api/v1/users/"+u.ID.String())
				return userResponse(u), nil
			}),
		},
		{
			Method: http.MethodGet, Path: "/api/v1/users/:id", Summary: "Read a user", Tags: tags,
			Access: Tenant, Permission: "identity.user.read",
			Handler: Output(one(func(c *gin.Context, id uuid.UUID) (*identity.User, error) { return dir.Get(c.Request.Context(), id) })),
		},
		{
			Method: http.MethodPatch, Path: "/api/v1/users/:id", Summary: "Update a user; a new password or disabling revokes their tokens",
			Tags: tags, Access: Tenant, Permission: "identity.user.update",
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *UpdateUserRequest) (UserResponse, error) {
				return one(func(c *gin.Context, id uuid.UUID) (*identity.User, error) {
					return dir.Update(c.Request.Context(), id, identity.UserChanges{Name: in.Name, Password: in.Password, Status: in.Status, Roles: in.Roles})
				})(c)
			}),
		},
		{
			Method: http.MethodPut, Path: "/api/v1/users/:id/roles", Summary: "Replace a user's roles", Tags: tags,
			Access: Tenant, Permission: "identity.user.update",
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *UserRolesRequest) (UserResponse, error) {
				return one(func(c *gin.Context, id uuid.UUID) (*identity.User, error) {
					return dir.SetRoles(c.Request.Context(), id, in.Roles)
				})(c)
			}),
		},
		{
			Method: http.MethodDelete, Path: "/api/v1/users/:id", Summary: "Delete a user", Tags: tags,
			Access: Tenant, Permission: "identity.user.delete",
			Handler: NoContent(func(c *gin.Context) error {
				id, err := userID(c)
				if err != nil {
					return err
				}
				return dir.Delete(c.Request.Context(), id)
			}),
		},
	}
}
