// Package store keeps projects and tasks in the tenant's schema through the
// host's SQL service: every statement runs in the request's transaction,
// as the tenant's role. It owns the schema (migrations/) and the lists'
// allow-lists (which API field is which column).
package store

import (
	"embed"
	"fmt"
	"io/fs"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/plugins/projects/internal/domain"
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

// ProjectFields is the allow-list of project lists, which hold only the
// projects the tenant's policy lets the caller read: the policy sees each
// row as the project's resource-level decisions do (api.guard.Project).
var ProjectFields = query.WithResource(query.NewFields("projects", "id", map[string]query.Field{
	"id":         {Column: "id", Type: query.UUID},
	"name":       {Column: "name", Type: query.String, Sort: true},
	"status":     {Column: "status", Type: query.Enum, Values: []string{"active", "archived"}, Filter: true},
	"owner_id":   {Column: "owner_id", Type: query.UUID, Filter: true},
	"created_at": {Column: "created_at", Type: query.Time, Sort: true},
}), query.Resource{
	Type: "project", Action: "projects.project.read", ID: "id", Owner: "owner_id",
	Attributes: map[string]string{"status": "status", "owner_id": "owner_id", "name": "name"},
})

// TaskFields is the allow-list of a project's task lists; project_id is
// the handler's scope, never the client's filter.
var TaskFields = query.NewFields("tasks", "id", map[string]query.Field{
	"id":          {Column: "id", Type: query.UUID},
	"project_id":  {Column: "project_id", Type: query.UUID},
	"title":       {Column: "title", Type: query.String, Sort: true},
	"status":      {Column: "status", Type: query.Enum, Values: []string{"todo", "doing", "done"}, Filter: true},
	"assignee_id": {Column: "assignee_id", Type: query.UUID, Filter: true, Nullable: true},
	"due_date":    {Column: "due_date", Type: query.Date, Sort: true, Nullable: true},
	"created_at":  {Column: "created_at", Type: query.Time, Sort: true},
})

// Store implements the domain's repositories over one request's DB.
type Store struct {
	db *sdk.DB
}

var (
	_ domain.ProjectRepository = (*Store)(nil)
	_ domain.TaskRepository    = (*Store)(nil)
)

// New returns the store of one request.
func New(db *sdk.DB) *Store { return &Store{db: db} }

// first scans the first row of rows with scan, or reports a NotFoundError
// for what and id.
func first[T any](rows *sdk.Rows, scan func(*sdk.Rows) (T, error), what string, id uuid.UUID) (T, error) {
	if !rows.Next() {
		var zero T
		return zero, &domain.NotFoundError{What: what, ID: id.String()}
	}
	return scan(rows)
}

// all scans every row of rows.
func all[T any](rows *sdk.Rows, scan func(*sdk.Rows) (T, error)) ([]T, error) {
	out := make([]T, 0, rows.Len())
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// page trims the rows of a list to its page and makes the next cursor.
func page[T any](spec query.Spec, rows []T, key func(T) map[string]any) (domain.Page[T], error) {
	items, next, err := query.Paginate(spec, rows, key)
	if err != nil {
		return domain.Page[T]{}, fmt.Errorf("next cursor: %w", err)
	}
	return domain.Page[T]{Items: items, NextCursor: next}, nil
}
