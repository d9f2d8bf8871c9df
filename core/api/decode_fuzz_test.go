package api_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/kernel"
)

// FuzzDecodeJSON: whatever a client sends, decoding either succeeds with a
// valid value or fails with a client error kind; it never panics and never
// reports an internal error.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"name":"lamp","email":"a@b.io"}`, `{`, `[]`, `null`, `{"name":1}`, `{"owner":{"age":-1}}`,
		`{"name":"lamp","email":"a@b.io"}{}`, `{"tags":["a",1]}`, "\x00", `{"name":"\ud800"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Body = http.MaxBytesReader(httptest.NewRecorder(), req.Body, 4096)
		var dst createThing
		err := api.DecodeJSON(req, &dst)
		if err == nil {
			if dst.Name == "" || dst.Email == "" {
				t.Fatalf("accepted a body missing required fields: %q", body)
			}
			return
		}
		var e *kernel.Error
		if !errors.As(err, &e) {
			t.Fatalf("untyped error %v for %q", err, body)
		}
		switch e.Kind {
		case kernel.KindBadRequest, kernel.KindInvalid, kernel.KindTooLarge:
		default:
			t.Fatalf("kind %s for %q", e.Kind, body)
		}
		if p := api.ProblemFor(err, "r"); p.Status >= 500 {
			t.Fatalf("status %d for %q", p.Status, body)
		}
	})
}
