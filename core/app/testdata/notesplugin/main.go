// Command notesplugin is the plugin the core's end-to-end plugin tests
// launch for real data work: the SDK's test plugin is shaped for the
// transport's fake host (its handlers read columns its migration does not
// create), so CRUD, units of work and the SQL guard against a real database
// are tested with this one. It is built by the tests, never shipped.
package main

import (
	"errors"
	"net/http"
	"strconv"
	"testing/fstest"
	"time"

	"github.com/atriumhq/atrium/sdk"
)

type note struct {
	ID   int64  `json:"id"`
	Text string `json:"text"`
}

type input struct {
	Text string `json:"text"`
	SQL  string `json:"sql"`
}

// version is set at build time (-ldflags -X main.version=...) by tests
// that upgrade the plugin.
var version = "0.1.0"

func main() {
	sdk.Serve(sdk.Plugin{
		Name:    "notes",
		Version: version,
		Permissions: []sdk.Permission{
			{Name: "notes.note.read", Description: "Read notes", Roles: []string{"viewer", "member", "admin"}},
			{Name: "notes.note.write", Description: "Write notes", Roles: []string{"member", "admin"}},
		},
		Migrations: fstest.MapFS{
			"000001_notes.up.sql":   {Data: []byte("CREATE TABLE notes (id bigserial PRIMARY KEY, text text NOT NULL);")},
			"000001_notes.down.sql": {Data: []byte("DROP TABLE notes;")},
		},
		Routes: []sdk.Route{
			{Method: http.MethodPost, Path: "", Permission: "notes.note.write", Mutates: true, Handler: create},
			{Method: http.MethodGet, Path: "", Permission: "notes.note.read", Handler: list},
			{Method: http.MethodGet, Path: "/{id}", Permission: "notes.note.read", Handler: get},
			// A read that tries to write what its path says: the host must
			// never do it for the plugin ahead of the handler (prefetch).
			{Method: http.MethodGet, Path: "/write/{text}", Permission: "notes.note.read", Handler: writeOnRead},
			// Write, then fail: the unit of work must leave nothing.
			{Method: http.MethodPost, Path: "/fail", Permission: "notes.note.write", Mutates: true, Handler: failAfterWrite},
			{Method: http.MethodPost, Path: "/panic", Permission: "notes.note.write", Mutates: true, Handler: panicAfterWrite},
			// Runs the statement it is sent: a probe of the host's SQL guard
			// and of the tenant role's reach.
			{Method: http.MethodPost, Path: "/sql", Permission: "notes.note.write", Mutates: true, Handler: runSQL},
			// Writes, then takes its time: a request in flight at shutdown.
			{Method: http.MethodPost, Path: "/slow", Permission: "notes.note.write", Mutates: true, Handler: slow},
			// Writes without declaring Mutates: the core must not let a
			// change commit that it does not audit.
			{Method: http.MethodPost, Path: "/quiet", Permission: "notes.note.write", Handler: create},
		},
	})
}

func insert(c *sdk.Context) (note, error) {
	var in input
	if err := c.Bind(&in); err != nil {
		return note{}, err
	}
	n := note{Text: in.Text}
	err := c.DB().QueryRow(c, "INSERT INTO notes (text) VALUES ($1) RETURNING id", in.Text).Scan(&n.ID)
	return n, err
}

func create(c *sdk.Context) error {
	n, err := insert(c)
	if err != nil {
		return err
	}
	if err := c.Audit(map[string]any{"note": n.ID}); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, n)
}

func list(c *sdk.Context) error {
	rows, err := c.DB().Query(c, "SELECT id, text FROM notes ORDER BY id")
	if err != nil {
		return err
	}
	out := []note{}
	for rows.Next() {
		var n note
		if err := rows.Scan(&n.ID, &n.Text); err != nil {
			return err
		}
		out = append(out, n)
	}
	return c.JSON(http.StatusOK, map[string]any{"items": out})
}

func get(c *sdk.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return sdk.Invalid(sdk.FieldError{Field: "id", Message: "must be a number"})
	}
	n := note{ID: id}
	sql := "SELECT text FROM notes WHERE id = $1"
	if c.Query("upper") != "" { // another first statement, now and then
		sql = "SELECT upper(text) FROM notes WHERE id = $1"
	}
	if err := c.DB().QueryRow(c, sql, id).Scan(&n.Text); err != nil {
		if errors.Is(err, sdk.ErrNotFound) {
			return sdk.NotFound("note %d", id)
		}
		return err
	}
	return c.JSON(http.StatusOK, n)
}

func writeOnRead(c *sdk.Context) error {
	var id int64
	if err := c.DB().QueryRow(c, "INSERT INTO notes (text) VALUES ($1) RETURNING id", c.Param("text")).Scan(&id); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, note{ID: id, Text: c.Param("text")})
}

func slow(c *sdk.Context) error {
	n, err := insert(c)
	if err != nil {
		return err
	}
	select {
	case <-c.Done():
		return c.Err()
	case <-time.After(30 * time.Second):
		return c.JSON(http.StatusCreated, n)
	}
}

func failAfterWrite(c *sdk.Context) error {
	n, err := insert(c)
	if err != nil {
		return err
	}
	return sdk.Conflict("note %d was written, then the handler changed its mind", n.ID)
}

func panicAfterWrite(c *sdk.Context) error {
	if _, err := insert(c); err != nil {
		return err
	}
	panic("after writing")
}

func runSQL(c *sdk.Context) error {
	var in input
	if err := c.Bind(&in); err != nil {
		return err
	}
	rows, err := c.DB().Query(c, in.SQL)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"rows": rows.Len()})
}
