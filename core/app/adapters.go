package app

import (
	"context"
	"io"

	"github.com/atriumhq/atrium/core/blob"
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
