package app

import (
	"context"
	"io"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/blob"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/tenancy"
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

// invalidateOnChange drops cached role resolutions when any replica changes
// a tenant's roles or assignments (PostgreSQL notifications), and all of
// them when notifications may have been missed.
func invalidateOnChange(l *postgres.Listener, r *access.Resolver) {
	l.On(postgres.AccessChannel, func(payload string) {
		if payload == postgres.Missed {
			r.InvalidateAll()
			return
		}
		if id, err := uuid.Parse(payload); err == nil {
			r.Invalidate(id)
		}
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
