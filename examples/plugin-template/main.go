// Command notes is the smallest complete Atrium plugin: one resource (a
// note), two routes, one migration, two permissions. Copy this directory to
// start a plugin of your own; see README.md and docs/plugins.md.
package main

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/sdk"
)

//go:embed migrations/*.sql
var migrations embed.FS

func main() { sdk.Serve(Plugin()) }

// Plugin describes the plugin: sdk.Serve runs it, and tests hand the same
// value to sdk/plugintest. Its routes live under /api/v1/notes.
func Plugin() sdk.Plugin {
	mig, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sdk.Plugin{
		Name:    "notes",
		Version: "0.1.0",
		// No Roles: the core gives admin every permission, member read,
		// create and update, viewer read.
		Permissions: []sdk.Permission{
			{Name: "notes.note.read", Description: "Read notes"},
			{Name: "notes.note.create", Description: "Write notes"},
		},
		Migrations: mig,
		Routes: []sdk.Route{
			{Method: http.MethodPost, Path: "", Permission: "notes.note.create", Mutates: true,
				Summary: "Write a note", Request: NewNote{}, Response: Note{}, Handler: createNote},
			{Method: http.MethodGet, Path: "/{id}", Permission: "notes.note.read",
				Summary: "Read a note", Response: Note{}, Handler: getNote},
		},
	}
}

// Note is a note as clients see it.
type Note struct {
	ID        string    `json:"id"`
	Text      string    `json:"text"`
	AuthorID  string    `json:"author_id"`
	CreatedAt time.Time `json:"created_at"`
}

// NewNote is the body of POST /api/v1/notes.
type NewNote struct {
	Text string `json:"text"`
}

// createNote: POST /api/v1/notes {text}. The core has checked
// notes.note.create and opened the request's transaction; it commits it,
// with the audit record, only if this returns nil.
func createNote(c *sdk.Context) error {
	var in NewNote
	if err := c.Bind(&in); err != nil {
		return err // malformed JSON: 400 malformed_json; an unknown field: 422 naming it
	}
	text := strings.TrimSpace(in.Text)
	if text == "" || utf8.RuneCountInString(text) > 1000 {
		return sdk.Invalid(sdk.FieldError{Field: "text", Message: "must be 1 to 1000 characters"})
	}
	id, err := uuid.NewV7()
	if err != nil {
		return fmt.Errorf("new note id: %w", err)
	}
	n := Note{ID: id.String(), Text: text, AuthorID: c.Principal().ID, CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	_, err = c.DB().Exec(c, "INSERT INTO notes (id, text, author_id, created_at) VALUES ($1, $2, $3, $4)",
		n.ID, n.Text, n.AuthorID, n.CreatedAt)
	if err != nil {
		return fmt.Errorf("insert note: %w", err)
	}
	// The core's audit record names the route; only the plugin knows the id.
	if err := c.Audit(map[string]any{"note_id": n.ID}); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	c.SetHeader("Location", "/api/v1/notes/"+n.ID)
	return c.JSON(http.StatusCreated, n)
}

// getNote: GET /api/v1/notes/{id}. The route's permission is checked for
// the collection; the tenant's policy also gets to decide about this very
// note, with its attributes.
func getNote(c *sdk.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return sdk.NotFound("note %s", c.Param("id"))
	}
	var n Note
	err = c.DB().QueryRow(c, "SELECT id, text, author_id, created_at FROM notes WHERE id = $1", id).
		Scan(&n.ID, &n.Text, &n.AuthorID, &n.CreatedAt)
	switch {
	case errors.Is(err, sdk.ErrNotFound): // no row
		return sdk.NotFound("note %s", id)
	case err != nil:
		return fmt.Errorf("read note %s: %w", id, err)
	}
	// Decided by the core as the handler returns, before the note leaves
	// it: a deny answers 403 instead. Changes use c.Authorize, which
	// answers before the handler goes on.
	err = c.Require("notes.note.read", sdk.Resource{
		Type: "note", ID: n.ID, Owner: n.AuthorID, Attributes: map[string]any{"length": utf8.RuneCountInString(n.Text)},
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, n)
}
