package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/blob"
	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/tenancy"
	"github.com/atriumhq/atrium/sdk"
)

// backupStore keeps tenant backups in the blob store.
type backupStore struct{ blobs blob.Store }

func (b backupStore) Save(ctx context.Context, key string, r io.Reader) (tenancy.BackupRef, error) {
	info, err := b.blobs.Put(ctx, key, r, "application/gzip")
	return tenancy.BackupRef{Key: info.Key, Size: info.Size, SHA256: info.SHA256}, err
}

func (b backupStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	r, _, err := b.blobs.Get(ctx, key)
	return r, err
}

// checkpointStore keeps signed audit checkpoints in the blob store.
type checkpointStore struct{ blobs blob.Store }

func (c checkpointStore) Put(ctx context.Context, key string, data []byte) error {
	_, err := c.blobs.Put(ctx, key, bytes.NewReader(data), "application/jwt")
	return err
}

func (c checkpointStore) Get(ctx context.Context, key string) ([]byte, error) {
	r, _, err := c.blobs.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 64<<10))
}

func (c checkpointStore) List(ctx context.Context, prefix string) ([]string, error) {
	infos, err := c.blobs.List(ctx, prefix)
	keys := make([]string, len(infos))
	for i, in := range infos {
		keys[i] = in.Key
	}
	return keys, err
}

// tenantAudit records operators' changes to a tenant in its own log.
type tenantAudit struct {
	tenants *tenancy.Resolver
	log     *audit.Log
}

// Committed queues the record of a committed change for sealing.
func (a tenantAudit) Committed(ctx context.Context, slug string) {
	if t, err := a.tenants.BySlug(ctx, slug); err == nil {
		a.log.Committed(t)
	}
}

func (a tenantAudit) RecordForTenant(ctx context.Context, slug string, e audit.Entry) error {
	t, err := a.tenants.BySlug(ctx, slug)
	if err != nil {
		return err
	}
	return a.log.RecordAlone(ctx, t, e)
}

// pluginPermissions declares plugins' permissions in the registry; the
// built-in roles' resolved permissions change with it.
type pluginPermissions struct {
	reg *access.Registry
	res *access.Resolver
}

func (p pluginPermissions) Check(plugin string, perms []sdk.Permission) error {
	return p.reg.Check(plugin, accessPermissions(perms)...)
}

func accessPermissions(perms []sdk.Permission) []access.Permission {
	out := make([]access.Permission, len(perms))
	for i, pm := range perms {
		out[i] = access.Permission{Name: pm.Name, Description: pm.Description, Roles: pm.Roles}
	}
	return out
}

func (p pluginPermissions) Declare(plugin string, perms []sdk.Permission) error {
	if err := p.reg.Replace(plugin, accessPermissions(perms)...); err != nil {
		return err
	}
	p.res.InvalidateAll()
	return nil
}

// pluginBlobs is the blob store as plugins use it.
type pluginBlobs struct{ blobs blob.Store }

// maxPluginBlob bounds an object an older SDK reads whole in one call.
const maxPluginBlob = 8 << 20

func (b pluginBlobs) Put(ctx context.Context, key, contentType string, data []byte) error {
	_, err := b.blobs.Put(ctx, key, bytes.NewReader(data), contentType)
	return err
}

func (b pluginBlobs) Get(ctx context.Context, key string) ([]byte, string, error) {
	r, info, err := b.blobs.Get(ctx, key)
	if err != nil {
		return nil, "", err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxPluginBlob+1))
	if err == nil && len(data) > maxPluginBlob {
		err = kernel.E(kernel.KindTooLarge, "the object is larger than %d bytes", maxPluginBlob)
	}
	return data, info.ContentType, err
}

func (b pluginBlobs) Delete(ctx context.Context, key string) error { return b.blobs.Delete(ctx, key) }

func (b pluginBlobs) Write(ctx context.Context, key, contentType string, r io.Reader) (sdk.BlobInfo, error) {
	info, err := b.blobs.Put(ctx, key, r, contentType)
	return blobInfo(info), err
}

func (b pluginBlobs) Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, sdk.BlobInfo, error) {
	r, info, err := b.blobs.GetRange(ctx, key, offset, length)
	return r, blobInfo(info), err
}

func (b pluginBlobs) Presign(ctx context.Context, key string, ttl time.Duration) (string, bool, error) {
	return b.blobs.PresignGet(ctx, key, ttl)
}

func (b pluginBlobs) List(ctx context.Context, prefix string) ([]sdk.BlobInfo, error) {
	infos, err := b.blobs.List(ctx, prefix)
	out := make([]sdk.BlobInfo, len(infos))
	for i, info := range infos {
		out[i] = blobInfo(info)
	}
	return out, err
}

func (b pluginBlobs) Check(key string) error { return blob.ValidateKey(key) }

func blobInfo(i blob.Info) sdk.BlobInfo {
	return sdk.BlobInfo{Key: i.Key, Size: i.Size, SHA256: i.SHA256, ContentType: i.ContentType, ModTime: i.ModTime}
}

// invalidateOnChange drops cached role resolutions when any replica changes
// a tenant's roles or assignments (PostgreSQL notifications), and all of
// them when notifications may have been missed.
func invalidateOnChange(l *postgres.Listener, r *access.Resolver, st *identity.Standings) {
	l.On(postgres.AccessChannel, func(payload string) {
		if payload == postgres.Missed {
			r.InvalidateAll()
			st.ForgetAll()
			return
		}
		if id, err := uuid.Parse(payload); err == nil {
			r.Invalidate(id)
			st.ForgetTenant(id) // a revocation, or a user changed
		}
	})
}

// invalidateTenantsOnChange drops a tenant's cached registry entry when any
// replica changes it (suspension included), and every entry when
// notifications may have been missed.
func invalidateTenantsOnChange(l *postgres.Listener, r *tenancy.Resolver, st *identity.Standings, pc *postgres.PluginConns) {
	l.On(postgres.TenancyChannel, func(payload string) {
		if payload == postgres.Missed {
			r.InvalidateAll()
			st.ForgetAll()
			pc.Forget(uuid.Nil)
			return
		}
		if id, err := uuid.Parse(payload); err == nil {
			r.Invalidate(id)
			st.ForgetTenant(id) // a restore revokes every session
			pc.Forget(id)       // and drops the tenant's plugin roles
		}
	})
}

// syncPluginsOnChange has this replica's plugins follow the catalog when
// another replica registers, upgrades or unregisters one.
func syncPluginsOnChange(lc fx.Lifecycle, l *postgres.Listener, h *pluginhost.Host, log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	lc.Append(fx.StopHook(cancel))
	l.On(postgres.PluginsChannel, func(string) {
		go func() { // a launch takes a while: never hold up the listener
			if err := h.Sync(ctx); err != nil && ctx.Err() == nil {
				log.Error("plugin catalog sync", "error", err)
			}
		}()
	})
}

// invalidatePoliciesOnChange drops a tenant's compiled policy when any
// replica changes its modules, and every compiled policy when notifications
// may have been missed.
func invalidatePoliciesOnChange(l *postgres.Listener, e *opa.Engine) {
	l.On(postgres.PolicyChannel, func(payload string) {
		if payload == postgres.Missed {
			e.InvalidateAll()
			return
		}
		e.Invalidate(payload)
	})
}
