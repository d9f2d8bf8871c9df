package app

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/plugins/documents/internal/store"
	"github.com/atriumhq/atrium/sdk"
)

// Permissions of the plugin.
const (
	DocumentRead   = "documents.document.read"
	DocumentCreate = "documents.document.create"
	DocumentDelete = "documents.document.delete"
)

// BlobPrefix is where the documents' blobs live, under the tenant's and the
// plugin's prefix that the core adds: documents/<id>.
const BlobPrefix = "documents/"

// BlobKey is a document's blob key, built by the server only.
func BlobKey(id uuid.UUID) string { return BlobPrefix + id.String() }

// Blobs is the part of the blob store the use cases need.
type Blobs interface {
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]sdk.BlobInfo, error)
}

// DeleteProjectDocuments removes every document of a project: the rows in
// the request's unit of work, the blobs once it commits. It is what the
// projects.project.deleted event's handler calls.
func DeleteProjectDocuments(ctx context.Context, s *store.Store, blobs Blobs, project uuid.UUID) (int, error) {
	keys, err := s.DeleteByProject(ctx, project)
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := blobs.Delete(ctx, k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// OrphanAge is how old a blob without a row must be before the sweep
// deletes it: far older than any upload in flight, whose row has not
// committed yet.
const OrphanAge = time.Hour

// Sweep deletes the documents' blobs that no row names and that are older
// than OrphanAge: what a crash between a blob's write and its row's commit
// leaves (a rollback the core sees deletes the blob at once). It returns
// how many it deleted.
func Sweep(ctx context.Context, s *store.Store, blobs Blobs, now time.Time) (int, error) {
	infos, err := blobs.List(ctx, BlobPrefix)
	if err != nil {
		return 0, err
	}
	var old []string
	for _, b := range infos {
		if now.Sub(b.ModTime) > OrphanAge && strings.HasPrefix(b.Key, BlobPrefix) {
			old = append(old, b.Key)
		}
	}
	if len(old) == 0 {
		return 0, nil
	}
	named, err := s.BlobKeys(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range old {
		if named[k] {
			continue
		}
		if err := blobs.Delete(ctx, k); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
