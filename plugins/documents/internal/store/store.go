// Package store keeps the documents' metadata in the tenant's schema through
// the host's SQL service: every statement runs in the request's
// transaction, as the plugin's role. It owns the schema (migrations/) and
// the list's allow-list.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/query"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrations are the plugin's tenant schema migrations, for its manifest.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}

// Fields is the allow-list of document lists.
var Fields = query.NewFields("documents", "id", map[string]query.Field{
	"id":           {Column: "id", Type: query.UUID},
	"name":         {Column: "name", Type: query.String, Sort: true},
	"size":         {Column: "size", Type: query.Int, Sort: true},
	"content_type": {Column: "content_type", Type: query.String, Filter: true},
	"project_id":   {Column: "project_id", Type: query.UUID, Filter: true, Nullable: true},
	"created_at":   {Column: "created_at", Type: query.Time, Sort: true},
})

// Document is one stored file's metadata.
type Document struct {
	ID          uuid.UUID
	Name        string
	ContentType string
	Size        int64
	SHA256      string
	ProjectID   *uuid.UUID
	BlobKey     string
	CreatedBy   uuid.UUID
	CreatedAt   time.Time
}

// ErrNotFound is a document that does not exist in the tenant.
var ErrNotFound = errors.New("document not found")

const (
	columns   = "id, name, content_type, size, sha256, project_id, blob_key, created_by, created_at"
	selectOne = "SELECT " + columns + " FROM documents WHERE id = $1"
)

// Store reads and writes documents over one request's DB.
type Store struct{ db *sdk.DB }

// New returns the store of one request.
func New(db *sdk.DB) *Store { return &Store{db: db} }

func scan(rows *sdk.Rows) (*Document, error) {
	var (
		d       Document
		project uuid.NullUUID
	)
	if err := rows.Scan(&d.ID, &d.Name, &d.ContentType, &d.Size, &d.SHA256, &project, &d.BlobKey, &d.CreatedBy, &d.CreatedAt); err != nil {
		return nil, fmt.Errorf("scan document: %w", err)
	}
	if project.Valid {
		d.ProjectID = &project.UUID
	}
	return &d, nil
}

// Add inserts a document.
func (s *Store) Add(ctx context.Context, d *Document) error {
	var project uuid.NullUUID
	if d.ProjectID != nil {
		project = uuid.NullUUID{UUID: *d.ProjectID, Valid: true}
	}
	_, err := s.db.Exec(ctx, "INSERT INTO documents ("+columns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
		d.ID, d.Name, d.ContentType, d.Size, d.SHA256, project, d.BlobKey, d.CreatedBy, d.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert document: %w", err)
	}
	return nil
}

// Get reads one document, locked for the request's transaction when lock
// is set (a delete).
func (s *Store) Get(ctx context.Context, id uuid.UUID, lock bool) (*Document, error) {
	sql := selectOne
	if lock {
		sql += " FOR UPDATE"
	}
	rows, err := s.db.Query(ctx, sql, id)
	if err != nil {
		return nil, fmt.Errorf("read document: %w", err)
	}
	if !rows.Next() {
		return nil, ErrNotFound
	}
	return scan(rows)
}

// Delete removes one document's row.
func (s *Store) Delete(ctx context.Context, id uuid.UUID) error {
	if _, err := s.db.Exec(ctx, "DELETE FROM documents WHERE id = $1", id); err != nil {
		return fmt.Errorf("delete document: %w", err)
	}
	return nil
}

// DeleteByProject removes the rows of a project's documents and returns
// their blob keys.
func (s *Store) DeleteByProject(ctx context.Context, project uuid.UUID) ([]string, error) {
	rows, err := s.db.Query(ctx, "DELETE FROM documents WHERE project_id = $1 RETURNING blob_key", project)
	if err != nil {
		return nil, fmt.Errorf("delete project documents: %w", err)
	}
	keys := make([]string, 0, rows.Len())
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("scan blob key: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// BlobKeys returns the set of blob keys that rows name, for the sweep.
func (s *Store) BlobKeys(ctx context.Context) (map[string]bool, error) {
	rows, err := s.db.Query(ctx, "SELECT blob_key FROM documents")
	if err != nil {
		return nil, fmt.Errorf("read blob keys: %w", err)
	}
	keys := make(map[string]bool, rows.Len())
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, fmt.Errorf("scan blob key: %w", err)
		}
		keys[k] = true
	}
	return keys, nil
}

// Page is one page of a list.
type Page struct {
	Items      []*Document
	NextCursor string
}

// List reads one page of documents in one statement.
func (s *Store) List(ctx context.Context, spec query.Spec) (Page, error) {
	c, err := query.SQL(spec, 0)
	if err != nil {
		return Page{}, err
	}
	rows, err := s.db.Query(ctx, "SELECT "+columns+" FROM documents WHERE "+c.Where+" "+c.OrderLimit, c.Args...)
	if err != nil {
		return Page{}, fmt.Errorf("list documents: %w", err)
	}
	items := make([]*Document, 0, rows.Len())
	for rows.Next() {
		d, err := scan(rows)
		if err != nil {
			return Page{}, err
		}
		items = append(items, d)
	}
	items, next, err := query.Paginate(spec, items, func(d *Document) map[string]any {
		return map[string]any{"id": d.ID, "name": d.Name, "size": d.Size, "created_at": d.CreatedAt}
	})
	if err != nil {
		return Page{}, fmt.Errorf("next cursor: %w", err)
	}
	return Page{Items: items, NextCursor: next}, nil
}
