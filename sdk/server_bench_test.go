package sdk

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

type benchPayload struct {
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Tags  []string `json:"tags"`
	Count int      `json:"count"`
	Body  string   `json:"body"`
}

// BenchmarkServerHandle is the plugin side's own cost for a 1 KiB echo:
// decoding the call, Bind, JSON, and the response, without the transport.
func BenchmarkServerHandle(b *testing.B) {
	p := Plugin{
		Name: "bench", Version: "1",
		Permissions: []Permission{{Name: "bench.echo.run", Description: "Echo"}},
		Routes: []Route{{Method: "POST", Path: "/echo", Permission: "bench.echo.run", Handler: func(c *Context) error {
			var v benchPayload
			if err := c.Bind(&v); err != nil {
				return err
			}
			return c.JSON(200, &v)
		}}},
	}
	s, err := newServer(p, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(benchPayload{ID: "0195f3b2-7c4e-7d1a-9b2f-3c5d7e9f1a2b", Name: "Quarterly planning",
		Tags: []string{"planning", "q3", "roadmap"}, Count: 42, Body: strings.Repeat("x", 900)})
	req := &wire.HandleRequest{CallId: 1, Body: body, RequestId: "req-1",
		Principal: &wire.Principal{Id: "u", Type: "user", Roles: []string{"member"}},
		Tenant:    &wire.Tenant{Id: "t", Slug: "acme"}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp, err := s.Handle(context.Background(), req)
		if err != nil || resp.Error != nil || len(resp.Body) != len(body) {
			b.Fatal(err, resp.Error)
		}
	}
}
