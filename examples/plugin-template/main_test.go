package main

import (
	"net/http"
	"testing"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/sdk/plugintest"
)

// TestNotes runs the plugin inside a real core (HTTP API, tokens, tenant
// schema, policy, audit) on a fresh test database: no binary to build.
func TestNotes(t *testing.T) {
	core := plugintest.Start(t, Plugin())
	acme := core.Tenant("acme")
	viewer := acme.User("viewer@acme.test", "viewer")

	var n Note
	res := acme.Admin.Post("/api/v1/notes", map[string]any{"text": "Hello"}).Want(t, http.StatusCreated)
	res.Decode(t, &n)
	if n.Text != "Hello" || res.Header.Get("Location") != "/api/v1/notes/"+n.ID {
		t.Fatalf("created %+v at %q", n, res.Header.Get("Location"))
	}

	var got Note
	viewer.Get("/api/v1/notes/"+n.ID).Want(t, http.StatusOK).Decode(t, &got)
	if got != n {
		t.Errorf("read %+v, want %+v", got, n)
	}

	viewer.Post("/api/v1/notes", map[string]any{"text": "Hi"}).Want(t, http.StatusForbidden)
	p := acme.Admin.Post("/api/v1/notes", map[string]any{"text": " "}).Want(t, http.StatusUnprocessableEntity).Problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Field != "text" {
		t.Errorf("problem %+v, want one error on text", p)
	}
	acme.Admin.Get("/api/v1/notes/"+uuid.NewString()).Want(t, http.StatusNotFound)

	// Another tenant has its own notes table.
	core.Tenant("globex").Admin.Get("/api/v1/notes/"+n.ID).Want(t, http.StatusNotFound)
}
