// Package api is the documents plugin's HTTP port: its manifest and the
// handlers that turn requests into the use cases of package app.
package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/plugins/documents/internal/app"
	"github.com/atriumhq/atrium/plugins/documents/internal/store"
	"github.com/atriumhq/atrium/sdk"
)

// Version is the plugin's version, which the catalog records on
// registration: bump it with every release.
const Version = "1.0.0"

// Plugin is the documents plugin as sdk.Serve and sdk/plugintest take it.
// Its routes live under /api/v1/documents.
func Plugin() sdk.Plugin {
	return sdk.Plugin{
		Name:        "documents",
		Version:     Version,
		Permissions: permissions,
		Migrations:  store.Migrations(),
		Emits:       emits,
		Subscriptions: []sdk.Subscription{
			{Type: EventProjectDeleted, Handler: projectDeleted},
		},
		Settings: []sdk.Setting{
			{Key: app.SettingMaxBytes, Description: "The largest file an upload may carry, in bytes (default 25 MiB)"},
			{Key: app.SettingContentTypes, Description: `The media types an upload may have, as sniffed from its content: "image/png" or "image/*" (default any)`},
			{Key: app.SettingRedirect, Description: "true: downloads redirect to a presigned URL of the object store when it can presign, as ?redirect=1 asks"},
		},
		Routes: []sdk.Route{
			{Method: http.MethodGet, Path: "", Permission: app.DocumentRead, Summary: "List documents (filter by project_id, content_type; sort by created_at, name, size)",
				Response: DocumentList{}, Handler: handle(listDocuments)},
			{Method: http.MethodPost, Path: "", Permission: app.DocumentCreate, Mutates: true, StreamBody: true,
				Summary: "Upload a document: multipart/form-data with a file part and an optional project_id",
				Request: UploadRequest{}, Response: Document{}, Handler: handle(uploadDocument)},
			{Method: http.MethodGet, Path: "/{id}", Permission: app.DocumentRead, Summary: "Get a document's metadata",
				Response: Document{}, Handler: handle(getDocument)},
			{Method: http.MethodGet, Path: "/{id}/content", Permission: app.DocumentRead,
				Summary: "Download a document's content (Range, If-None-Match; ?redirect=1 for a presigned URL when the store is S3)",
				Handler: handle(documentContent)},
			{Method: http.MethodDelete, Path: "/{id}", Permission: app.DocumentDelete, Mutates: true,
				Summary: "Delete a document and its content", Handler: handle(deleteDocument)},
		},
	}
}

// The events documents emits.
const (
	EventDocumentCreated = "documents.document.created"
	EventDocumentDeleted = "documents.document.deleted"
)

var emits = []sdk.EventType{
	{Type: EventDocumentCreated, Description: "A document was uploaded: its metadata as GET returns it", Payload: Document{}},
	{Type: EventDocumentDeleted, Description: "A document was deleted, with its content", Payload: DocumentDeleted{}},
}

// DocumentDeleted is the payload of documents.document.deleted.
type DocumentDeleted struct {
	ID        string  `json:"id"`
	ProjectID *string `json:"project_id"`
}

// EventProjectDeleted is the projects plugin's event that a project is
// gone: its documents go too. Only the event's type and payload are
// shared, never the projects plugin's code or tables.
const EventProjectDeleted = "projects.project.deleted"

// projectDeleted deletes the documents of a deleted project, their content
// once the event's unit of work commits. A redelivered event finds none
// left to delete.
func projectDeleted(c *sdk.Context, e sdk.Event) error {
	var p struct {
		ID string `json:"id"`
	}
	if err := e.Decode(&p); err != nil {
		return err
	}
	id, err := uuid.Parse(p.ID)
	if err != nil {
		return sdk.Internal(err, "event %s names project %q", e.ID, p.ID)
	}
	n, err := app.DeleteProjectDocuments(c, store.New(c.DB()), c.Blobs(), id)
	if err != nil {
		return err
	}
	if n > 0 {
		c.Logger().Info("deleted the documents of a deleted project", "project_id", id.String(), "documents", n)
	}
	return nil
}

// permissions leave Roles empty: the core's defaults by verb are what we
// want (admin all; member read and create; viewer read).
var permissions = []sdk.Permission{
	{Name: app.DocumentRead, Description: "List, read and download documents"},
	{Name: app.DocumentCreate, Description: "Upload documents"},
	{Name: app.DocumentDelete, Description: "Delete documents with their content"},
}

// handle builds the request's store and maps its not-found to a 404.
func handle(h func(c *sdk.Context, s *store.Store) error) sdk.HandlerFunc {
	return func(c *sdk.Context) error {
		err := h(c, store.New(c.DB()))
		if errors.Is(err, store.ErrNotFound) {
			return sdk.NotFound("document %s not found", c.Param("id"))
		}
		return err
	}
}

// resource is a document as the core's policy sees it, with the
// attributes the API contract promises tenant policies.
func resource(d *store.Document) sdk.Resource {
	var project any
	if d.ProjectID != nil {
		project = d.ProjectID.String()
	}
	return sdk.Resource{Type: "document", ID: d.ID.String(), Owner: d.CreatedBy.String(),
		Attributes: map[string]any{"project_id": project, "content_type": d.ContentType, "size": d.Size}}
}

// load reads the document the path names and requires action on it; an id
// that is not a UUID names nothing, a 404 like an unknown one.
func load(c *sdk.Context, s *store.Store, action string, lock bool) (*store.Document, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return nil, store.ErrNotFound
	}
	d, err := s.Get(c, id, lock)
	if err != nil {
		return nil, err
	}
	return d, c.Require(action, resource(d))
}

// Document is a document's metadata as clients see it.
type Document struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ProjectID   *string   `json:"project_id"`
	CreatedAt   time.Time `json:"created_at"`
}

// DocumentList is one page of documents.
type DocumentList struct {
	Items      []Document `json:"items"`
	NextCursor *string    `json:"next_cursor"`
}

// UploadRequest describes the multipart form of an upload, for the
// OpenAPI document: a file part, and an optional project_id part.
type UploadRequest struct {
	File      string `json:"file" format:"binary"`
	ProjectID string `json:"project_id,omitempty" format:"uuid"`
}

func documentOut(d *store.Document) Document {
	out := Document{ID: d.ID.String(), Name: d.Name, ContentType: d.ContentType, Size: d.Size,
		SHA256: d.SHA256, CreatedAt: d.CreatedAt.UTC()}
	if d.ProjectID != nil {
		p := d.ProjectID.String()
		out.ProjectID = &p
	}
	return out
}
