package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

func serviceAccountResponse(a *identity.ServiceAccount) ServiceAccountResponse {
	roles := a.Roles
	if roles == nil {
		roles = []string{}
	}
	return ServiceAccountResponse{ID: a.ID, Name: a.Name, Description: a.Description, Roles: roles, CreatedAt: a.CreatedAt}
}

func accountID(c *gin.Context) (uuid.UUID, error) {
	return kernel.ParseID("service account", c.Param("id"))
}

// ServiceAccountRoutes are the tenant's service accounts and their API keys.
func ServiceAccountRoutes(accounts *identity.ServiceAccounts) []Route {
	tags := []string{"service-accounts"}
	one := func(fn func(c *gin.Context, id uuid.UUID) (*identity.ServiceAccount, error)) func(*gin.Context) (ServiceAccountResponse, error) {
		return byID(accountID, fn, serviceAccountResponse)
	}
	const base = "/api/v1/service-accounts"
	return []Route{
		{
			Method: http.MethodGet, Path: base, Summary: "List the tenant's service accounts", Tags: tags,
			Access: Tenant, Permission: "identity.service_account.read",
			Handler: Output(func(c *gin.Context) (ServiceAccountList, error) {
				ctx := c.Request.Context()
				codec, err := accounts.Cursors(ctx)
				if err != nil {
					return ServiceAccountList{}, err
				}
				q, err := spec.Parse(c.Request.URL.Query(), identity.ServiceAccountFields,
					spec.Options{Codec: codec, Sort: identity.ServiceAccountOrder})
				if err != nil {
					return ServiceAccountList{}, err
				}
				as, next, err := accounts.List(ctx, q)
				if err != nil {
					return ServiceAccountList{}, err
				}
				out := ServiceAccountList{Items: make([]ServiceAccountResponse, 0, len(as))}
				for _, a := range as {
					out.Items = append(out.Items, serviceAccountResponse(a))
				}
				if next != "" {
					out.NextCursor = &next
				}
				return out, nil
			}),
		},
		{
			Method: http.MethodPost, Path: base, Summary: "Create a service account", Tags: tags,
			Access: Tenant, Permission: "identity.service_account.create",
			Handler: JSON(http.StatusCreated, func(c *gin.Context, in *CreateServiceAccountRequest) (ServiceAccountResponse, error) {
				a, err := accounts.Create(c.Request.Context(), in.Name, in.Description, in.Roles)
				if err != nil {
					return ServiceAccountResponse{}, err
				}
				c.Header("Location", base+"/"+a.ID.String())
				return serviceAccountResponse(a), nil
			}),
		},
		{
			Method: http.MethodGet, Path: base + "/:id", Summary: "Read a service account", Tags: tags,
			Access: Tenant, Permission: "identity.service_account.read",
			Handler: Output(one(func(c *gin.Context, id uuid.UUID) (*identity.ServiceAccount, error) {
				return accounts.Get(c.Request.Context(), id)
			})),
		},
		{
			Method: http.MethodPatch, Path: base + "/:id", Summary: "Update a service account; new roles apply to its next request",
			Tags: tags, Access: Tenant, Permission: "identity.service_account.update",
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *UpdateServiceAccountRequest) (ServiceAccountResponse, error) {
				return one(func(c *gin.Context, id uuid.UUID) (*identity.ServiceAccount, error) {
					return accounts.Update(c.Request.Context(), id, identity.ServiceAccountChanges{Name: in.Name, Description: in.Description, Roles: in.Roles})
				})(c)
			}),
		},
		{
			Method: http.MethodDelete, Path: base + "/:id", Summary: "Delete a service account and its keys", Tags: tags,
			Access: Tenant, Permission: "identity.service_account.delete",
			Handler: NoContent(func(c *gin.Context) error {
				id, err := accountID(c)
				if err != nil {
					return err
				}
				return accounts.Delete(c.Request.Context(), id)
			}),
		},
		{
			Method: http.MethodPost, Path: base + "/:id/keys", Summary: "Issue an API key; its secret is in this response only",
			Tags: tags, Access: Tenant, Permission: "identity.service_account.update",
			Handler: JSON(http.StatusCreated, func(c *gin.Context, in *CreateKeyRequest) (CreatedKeyResponse, error) {
				id, err := accountID(c)
				if err != nil {
					return CreatedKeyResponse{}, err
				}
				k, err := accounts.CreateKey(c.Request.Context(), id, in.Name, in.ExpiresAt)
				if err != nil {
					return CreatedKeyResponse{}, err
				}
				return CreatedKeyResponse{ID: k.ID, Key: k.Secret, Prefix: k.Prefix, Name: k.Name, ExpiresAt: k.ExpiresAt}, nil
			}),
		},
		{
			Method: http.MethodGet, Path: base + "/:id/keys", Summary: "List a service account's API keys (without secrets)",
			Tags: tags, Access: Tenant, Permission: "identity.service_account.read",
			Handler: Output(func(c *gin.Context) (KeyList, error) {
				id, err := accountID(c)
				if err != nil {
					return KeyList{}, err
				}
				ks, err := accounts.Keys(c.Request.Context(), id)
				if err != nil {
					return KeyList{}, err
				}
				out := KeyList{Items: make([]KeyResponse, 0, len(ks))}
				for _, k := range ks {
					out.Items = append(out.Items, KeyResponse{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreatedAt: k.CreatedAt,
						ExpiresAt: k.ExpiresAt, LastUsedAt: k.LastUsedAt, RevokedAt: k.RevokedAt})
				}
				return out, nil
			}),
		},
		{
			Method: http.MethodDelete, Path: base + "/:id/keys/:key_id", Summary: "Revoke an API key, at once on every replica",
			Tags: tags, Access: Tenant, Permission: "identity.service_account.update",
			Handler: NoContent(func(c *gin.Context) error {
				id, err := accountID(c)
				if err != nil {
					return err
				}
				key, err := kernel.ParseID("key", c.Param("key_id"))
				if err != nil {
					return err
				}
				return accounts.RevokeKey(c.Request.Context(), id, key)
			}),
		},
	}
}
