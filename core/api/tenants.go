package api

import (
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
	"github.com/atriumhq/atrium/core/tenancy"
)

func tenantResponse(t *tenancy.Tenant) TenantResponse {
	return TenantResponse{
		ID: t.ID, Slug: t.Slug, Name: t.Name, Status: string(t.Status),
		Settings: t.Settings, Plugins: t.Plugins, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt,
	}
}

// TenantRoutes are the platform operator's tenant API.
func TenantRoutes(svc *tenancy.Service) []Route {
	tags := []string{"tenants"}
	return []Route{
		{
			Method: http.MethodPost, Path: "/api/v1/tenants", Summary: "Create a tenant with its schema, role and first admin",
			// Provisioning runs the core's and the plugins' migrations.
			Tags: tags, Access: Operator, Action: "tenancy.tenant.create", Timeout: time.Minute,
			Handler: JSON(http.StatusCreated, func(c *gin.Context, in *CreateTenantRequest) (TenantResponse, error) {
				t, err := svc.Create(c.Request.Context(), tenancy.CreateInput{
					Slug: in.Slug, Name: in.Name, AdminEmail: in.Admin.Email, AdminPassword: in.Admin.Password,
					Plugins: in.Plugins, Settings: in.Settings,
				})
				if err != nil {
					return TenantResponse{}, prefixField(err, "admin.")
				}
				c.Header("Location", "/api/v1/tenants/"+t.Slug)
				return tenantResponse(t), nil
			}),
		},
		{
			Method: http.MethodGet, Path: "/api/v1/tenants", Summary: "List tenants, newest first", Tags: tags, Access: Operator,
			Handler: Output(func(c *gin.Context) (TenantList, error) {
				ctx := c.Request.Context()
				codec, err := svc.Cursors(ctx)
				if err != nil {
					return TenantList{}, err
				}
				q, err := spec.Parse(c.Request.URL.Query(), tenancy.ListFields, spec.Options{Codec: codec})
				if err != nil {
					return TenantList{}, err
				}
				ts, next, err := svc.List(ctx, q)
				if err != nil {
					return TenantList{}, err
				}
				out := TenantList{Items: make([]TenantResponse, 0, len(ts))}
				for _, t := range ts {
					out.Items = append(out.Items, tenantResponse(t))
				}
				if next != "" {
					out.NextCursor = &next
				}
				return out, nil
			}),
		},
		{
			Method: http.MethodGet, Path: "/api/v1/tenants/:slug", Summary: "Read a tenant", Tags: tags, Access: Operator,
			Handler: Output(func(c *gin.Context) (TenantResponse, error) {
				t, err := svc.Get(c.Request.Context(), c.Param("slug"))
				if err != nil {
					return TenantResponse{}, err
				}
				return tenantResponse(t), nil
			}),
		},
		{
			Method: http.MethodPatch, Path: "/api/v1/tenants/:slug", Summary: "Update a tenant's name, settings, plugins or status",
			// Enabling a plugin runs its migrations in the tenant.
			Tags: tags, Access: Operator, Action: "tenancy.tenant.update", Timeout: time.Minute,
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *UpdateTenantRequest) (TenantResponse, error) {
				upd := tenancy.UpdateInput{Name: in.Name, Settings: in.Settings, Plugins: in.Plugins}
				if in.Status != nil {
					s := kernel.TenantStatus(*in.Status)
					upd.Status = &s
				}
				t, err := svc.Update(c.Request.Context(), c.Param("slug"), upd)
				if err != nil {
					return TenantResponse{}, err
				}
				return tenantResponse(t), nil
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/tenants/:slug/backup",
			Summary: "Back up a tenant's schema (data and migration state) as a .tar.gz archive",
			Tags:    tags, Access: Operator, Action: "tenancy.tenant.backup", Timeout: NoTimeout,
			Handler: Download("application/gzip", func(c *gin.Context, w io.Writer) (string, error) {
				slug := c.Param("slug")
				if err := svc.Backup(c.Request.Context(), slug, w); err != nil {
					return "", err
				}
				return slug + "-" + time.Now().UTC().Format("20060102T150405Z") + ".atrium-backup.tar.gz", nil
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/tenants/:slug/backups",
			Summary: "Back up a tenant into the blob store (ATRIUM_BLOB_URL)", Tags: tags, Access: Operator, Action: "tenancy.tenant.backup",
			Timeout: NoTimeout,
			Handler: Output(func(c *gin.Context) (StoredBackup, error) {
				ref, err := svc.BackupToStore(c.Request.Context(), c.Param("slug"))
				return StoredBackup{Key: ref.Key, Size: ref.Size, SHA256: ref.SHA256}, err
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/tenants/:slug/restore",
			Summary: "Restore a backup into a new tenant, or with ?replace=true over an existing one's data: " +
				"the archive as the body, or {\"backup_key\"} of a stored backup",
			Tags: tags, Access: Operator, Action: "tenancy.tenant.restore", MaxBodyBytes: MaxBackupBytes, Timeout: NoTimeout,
			Handler: Upload(http.StatusOK, []string{"application/gzip", "application/octet-stream", "application/json"},
				func(c *gin.Context, body io.Reader) (TenantResponse, error) {
					replace, err := boolQuery(c, "replace")
					if err != nil {
						return TenantResponse{}, err
					}
					ctx, slug := c.Request.Context(), c.Param("slug")
					var t *tenancy.Tenant
					if c.ContentType() == "application/json" {
						var in RestoreRequest
						if err := DecodeJSON(c.Request, &in); err != nil {
							return TenantResponse{}, err
						}
						t, err = svc.RestoreFromStore(ctx, slug, in.BackupKey, replace)
					} else {
						t, err = svc.Restore(ctx, slug, body, replace)
					}
					if err != nil {
						return TenantResponse{}, err
					}
					return tenantResponse(t), nil
				}),
		},
		{
			Method: http.MethodDelete, Path: "/api/v1/tenants/:slug", Summary: "Delete a tenant, its schema, role and data",
			Tags: tags, Access: Operator, Action: "tenancy.tenant.delete",
			Handler: NoContent(func(c *gin.Context) error { return svc.Delete(c.Request.Context(), c.Param("slug")) }),
		},
	}
}

// MaxBackupBytes bounds a restore upload.
const MaxBackupBytes = 10 << 30

func boolQuery(c *gin.Context, name string) (bool, error) {
	switch c.Query(name) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, &kernel.Error{Kind: kernel.KindBadRequest, Code: kernel.ErrInvalidQuery.Code, Message: name + " must be true or false",
		Fields: []kernel.FieldError{{Field: name, Message: "must be true or false"}}}
}

// prefixField names the admin's password field as the client sent it: the
// domain checks "password", the request nests it under "admin".
func prefixField(err error, prefix string) error {
	e, ok := err.(*kernel.Error) //nolint:errorlint // only a direct field error is renamed
	if !ok || e.Kind != kernel.KindInvalid {
		return err
	}
	c := *e
	c.Fields = make([]kernel.FieldError, len(e.Fields))
	for i, f := range e.Fields {
		if f.Field == "password" {
			f.Field = prefix + f.Field
		}
		c.Fields[i] = f
	}
	return &c
}
