package sdk

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"google.golang.org/grpc"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// authorizeHost is a host that answers Authorize only, allowing resource
// "open", and counts the calls.
type authorizeHost struct {
	wire.HostClient
	calls int
}

func (h *authorizeHost) Authorize(_ context.Context, in *wire.AuthorizeRequest, _ ...grpc.CallOption) (*wire.AuthorizeResponse, error) {
	h.calls++
	return &wire.AuthorizeResponse{Allowed: in.Resource.GetId() == "open"}, nil
}

func requireServer(t *testing.T, hostChecks bool) (*server, *authorizeHost) {
	t.Helper()
	p := Plugin{
		Name: "req", Version: "1",
		Permissions: []Permission{{Name: "req.item.read", Description: "Read"}},
		Routes: []Route{{Method: "GET", Path: "/{id}", Permission: "req.item.read", Handler: func(c *Context) error {
			if err := c.Require("req.item.read", Resource{Type: "item", ID: c.Param("id")}); err != nil {
				return err
			}
			if c.Query("fail") != "" {
				return NotFound("item %s, whose name is a secret", c.Param("id"))
			}
			return c.JSON(200, map[string]string{"id": c.Param("id")})
		}}},
	}
	s, err := newServer(p, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	host := &authorizeHost{}
	s.host, s.hostChecks = host, hostChecks
	return s, host
}

func handleID(t *testing.T, s *server, id, query string) *wire.HandleResponse {
	t.Helper()
	req := &wire.HandleRequest{CallId: 1, Params: []*wire.Pair{{Key: "id", Value: id}}}
	if query != "" {
		req.Query = []*wire.Pair{{Key: query, Value: "1"}}
	}
	resp, err := s.Handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// A host that makes checks gets them with the response, and with the
// handler's error too, so that its refusal can win; none is asked at once.
func TestRequireDefersToAHostThatMakesChecks(t *testing.T) {
	s, host := requireServer(t, true)
	for _, query := range []string{"", "fail"} {
		resp := handleID(t, s, "shut", query)
		if len(resp.Checks) != 1 || resp.Checks[0].Action != "req.item.read" || resp.Checks[0].Resource.GetId() != "shut" {
			t.Errorf("%q: checks %v", query, resp.Checks)
		}
		if (query == "fail") != (resp.Error != nil) {
			t.Errorf("%q: error %v", query, resp.Error)
		}
	}
	if host.calls != 0 {
		t.Errorf("asked the host %d times", host.calls)
	}
}

// A host that does not say it makes checks (an older core) is asked at
// once: Require is then Authorize.
func TestRequireAsksAnOlderHostAtOnce(t *testing.T) {
	s, host := requireServer(t, false)
	resp := handleID(t, s, "shut", "fail")
	if len(resp.Checks) != 0 || resp.Error == nil || resp.Error.Kind != wire.Kind_KIND_FORBIDDEN {
		t.Errorf("checks %v, error %v: want a refusal now", resp.Checks, resp.Error)
	}
	resp = handleID(t, s, "open", "")
	if len(resp.Checks) != 0 || resp.Error != nil || resp.Status != 200 {
		t.Errorf("checks %v, error %v, status %d", resp.Checks, resp.Error, resp.Status)
	}
	if host.calls != 2 {
		t.Errorf("asked the host %d times, want 2", host.calls)
	}
}
