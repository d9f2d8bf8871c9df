package transport_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// shared is one launched test plugin for the tests that do not kill it.
func shared(t *testing.T) (*transport.Conn, *logRecorder) {
	t.Helper()
	rec := &logRecorder{}
	return launch(t, rec.logger()), rec
}

func route(t testing.TB, c *transport.Conn, method, path string) int {
	t.Helper()
	for i, r := range c.Manifest().Routes {
		if r.Method == method && r.Path == path {
			return i
		}
	}
	t.Fatalf("no route %s %s", method, path)
	return -1
}

func handle(t testing.TB, c *transport.Conn, req *transport.Request, svc transport.Services) (*transport.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Handle(ctx, req, svc)
}

func decode(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return m
}

func TestLaunchManifest(t *testing.T) {
	conn, _ := shared(t)
	m := conn.Manifest()
	if m.Name != "testplugin" || m.Version != "1.0.0" || m.Protocol != sdk.ProtocolVersion {
		t.Errorf("manifest = %s %s %d", m.Name, m.Version, m.Protocol)
	}
	if len(m.Migrations) != 1 || !strings.Contains(m.Migrations[0].Up, "CREATE TABLE testplugin_items") || m.Migrations[0].Down == "" {
		t.Errorf("migrations = %+v", m.Migrations)
	}
	echo := m.Routes[route(t, conn, "POST", "/echo")]
	if !strings.Contains(string(echo.RequestSchema), `"tags"`) || echo.Summary != "Echo a payload" {
		t.Errorf("echo route = %+v", echo)
	}
	if conn.Pid() <= 0 || conn.Exited() {
		t.Errorf("pid %d, exited %v", conn.Pid(), conn.Exited())
	}
}

func TestHandleEcho(t *testing.T) {
	conn, _ := shared(t)
	body := `{"id":"1","name":"n","tags":["a"],"count":2,"body":"b"}`
	resp, err := handle(t, conn, &transport.Request{Route: route(t, conn, "POST", "/echo"), Body: []byte(body)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusOK || string(resp.Body) != body || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("response = %d %v %s", resp.Status, resp.Header, resp.Body)
	}

	_, err = handle(t, conn, &transport.Request{Route: route(t, conn, "POST", "/echo"), Body: []byte(`{"nope":1}`)}, nil)
	var se *sdk.Error
	if !errors.As(err, &se) || se.Kind != sdk.KindInvalid || len(se.Fields) != 1 || se.Fields[0].Field != "nope" {
		t.Errorf("unknown field: %#v", err)
	}
}

func TestHandleHostDB(t *testing.T) {
	conn, _ := shared(t)
	req := &transport.Request{Route: route(t, conn, "GET", "/items/{id}"), Params: map[string]string{"id": "1"}}
	resp, err := handle(t, conn, req, newFake())
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, resp.Body)
	want := map[string]any{
		"id": 1.0, "name": "first", "price": 9.5, "active": true,
		"created": created.Format(time.RFC3339), "note": nil, "meta": `{"a":1}`,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}

	req.Params["id"] = "2" // no row: QueryRow's ErrNotFound, passed on by the handler
	_, err = handle(t, conn, req, newFake())
	if !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("missing row: %v", err)
	}
}

func TestPluginErrorReachesHost(t *testing.T) {
	conn, _ := shared(t)
	_, err := handle(t, conn, &transport.Request{Route: route(t, conn, "GET", "/missing/{id}"), Params: map[string]string{"id": "9"}}, nil)
	var se *sdk.Error
	if !errors.Is(err, sdk.ErrNotFound) || !errors.As(err, &se) || se.Source != sdk.SourcePlugin || se.Message != "item 9" {
		t.Fatalf("err = %#v", err)
	}
}

func TestHostErrorReachesPlugin(t *testing.T) {
	conn, _ := shared(t)
	fake := newFake()
	resp, err := handle(t, conn, &transport.Request{Route: route(t, conn, "POST", "/items"), Body: []byte(`{"name":"x"}`)}, fake)
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, resp.Body)
	if got["conflict"] != true || got["source"] != "host" || got["message"] != "item x exists" {
		t.Errorf("plugin saw %v", got)
	}
	if got["count"] != 3.0 || got["updated"] != 3.0 {
		t.Errorf("batch results %v", got)
	}
	if len(fake.sqlLog) != 2 {
		t.Errorf("statements %v", fake.sqlLog)
	}
}

func TestPanicIsInternal(t *testing.T) {
	conn, rec := shared(t)
	_, err := handle(t, conn, &transport.Request{Route: route(t, conn, "GET", "/panic"), RequestID: "req-panic"}, nil)
	var se *sdk.Error
	if !errors.As(err, &se) || se.Kind != sdk.KindInternal || se.Source != sdk.SourcePlugin || !strings.Contains(se.Message, "boom") {
		t.Fatalf("err = %#v", err)
	}
	if rec.find("handler panicked", "req-panic", "goroutine") == "" {
		t.Error("no panic log line with the stack and request ID")
	}
	if _, err := handle(t, conn, &transport.Request{Route: route(t, conn, "POST", "/echo"), Body: []byte(`{}`)}, nil); err != nil {
		t.Errorf("plugin after a panic: %v", err)
	}
}

func TestDeadlineIsTimeout(t *testing.T) {
	conn, _ := shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := conn.Handle(ctx, &transport.Request{Route: route(t, conn, "GET", "/sleep")}, nil)
	if !errors.Is(err, sdk.ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

// callerSpan is a context in a sampled span of the host's, as the core's
// request span is, with a 5 s deadline.
func callerSpan(t *testing.T) (context.Context, trace.TraceID, trace.SpanID) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled}))
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	t.Cleanup(cancel)
	return ctx, tid, sid
}

// TestTraceFlowsBack: the plugin's handler runs in a span of its own, a
// child of the caller's, and its host calls carry that span back, so the
// host's work for them joins the plugin's trace. The plugin exports spans
// (to its stdout) as OTEL_TRACES_EXPORTER tells it, so its span is real.
func TestTraceFlowsBack(t *testing.T) {
	conn := launch(t, nil, "OTEL_TRACES_EXPORTER=console")
	ctx, tid, sid := callerSpan(t)
	fake := newFake()
	resp, err := conn.Handle(ctx, &transport.Request{Route: route(t, conn, "GET", "/traced")}, fake)
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, resp.Body)
	if got["traceID"] != tid.String() || got["spanID"] == sid.String() {
		t.Errorf("plugin span %v: want a child of %s/%s", got, tid, sid)
	}
	if len(fake.traces) != 1 {
		t.Fatalf("host calls %d", len(fake.traces))
	}
	host := fake.traces[0]
	if host.TraceID() != tid || host.SpanID().String() != got["spanID"] || !host.IsRemote() {
		t.Errorf("host call ran in %s/%s (remote %v), want the plugin's span %v",
			host.TraceID(), host.SpanID(), host.IsRemote(), got["spanID"])
	}

	// A span of another trace is not taken: the host's work stays in the
	// request's trace, under the caller's span.
	fake = newFake()
	if _, err := conn.Handle(ctx, &transport.Request{Route: route(t, conn, "GET", "/traced"), Query: url.Values{"foreign": {"1"}}}, fake); err != nil {
		t.Fatal(err)
	}
	if host := fake.traces[0]; host.TraceID() != tid || host.SpanID() != sid || host.IsRemote() {
		t.Errorf("host call ran in %s/%s (remote %v), want the caller's own span", host.TraceID(), host.SpanID(), host.IsRemote())
	}
}

func TestRequestReachesPlugin(t *testing.T) {
	conn, rec := shared(t)
	ctx, tid, _ := callerSpan(t)
	resp, err := conn.Handle(ctx, &transport.Request{
		Route:     route(t, conn, "GET", "/whoami/{id}"),
		Params:    map[string]string{"id": "42"},
		Query:     url.Values{"q": {"a", "b"}},
		Header:    http.Header{"Accept-Language": {"fr"}},
		Principal: sdk.Principal{ID: "u1", Type: "user", Email: "u@x", Roles: []string{"member"}},
		Tenant:    sdk.Tenant{ID: "t1", Slug: "acme", Settings: map[string]any{"greeting": "salut", "secret": "s3"}},
		RequestID: "req-42",
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, resp.Body)
	tenant := got["tenant"].(map[string]any)
	settings := tenant["Settings"].(map[string]any)
	if got["id"] != "42" || got["lang"] != "fr" || got["requestID"] != "req-42" || tenant["Slug"] != "acme" {
		t.Errorf("plugin saw %v", got)
	}
	if settings["greeting"] != "salut" || settings["secret"] != nil {
		t.Errorf("settings %v: want only the declared one", settings)
	}
	if q := got["q"].([]any); len(q) != 2 {
		t.Errorf("query %v", q)
	}
	if got["traceID"] != tid.String() || got["remote"] != true {
		t.Errorf("trace %v %v", got["traceID"], got["remote"])
	}
	if resp.Header.Get("X-Item") != "42" {
		t.Errorf("header %v", resp.Header)
	}
	line := rec.find("whoami called", `"request_id":"req-42"`, `"plugin":"testplugin"`)
	if line == "" || !strings.Contains(line, `"level":"INFO"`) {
		t.Errorf("plugin log line not forwarded with level and fields: %q", line)
	}
}

func TestServices(t *testing.T) {
	conn, _ := shared(t)
	fake := newFake()
	resp, err := handle(t, conn, &transport.Request{Route: route(t, conn, "POST", "/services")}, fake)
	if err != nil {
		t.Fatal(err)
	}
	got := decode(t, resp.Body)
	want := map[string]any{"cache": "v", "found": true, "blob": "blob!", "blobType": "text/plain", "blobAbsent": true, "forbidden": true}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(fake.audit) != 1 || fake.audit[0]["item"] != "7" {
		t.Errorf("audit %v", fake.audit)
	}
	if len(fake.authz) != 1 || fake.authz[0].Attributes["secret"] != true {
		t.Errorf("authorize %v", fake.authz)
	}
}

// TestRequireIsDecidedOnReturn: a handler's Require is decided by the
// host's services after the plugin answered, with no call of its own; a
// deny replaces the answer.
func TestRequireIsDecidedOnReturn(t *testing.T) {
	conn, _ := shared(t)
	req := func(id string) *transport.Request {
		return &transport.Request{Route: route(t, conn, "GET", "/required/{id}"), Params: map[string]string{"id": id}}
	}
	fake := newFake()
	resp, err := handle(t, conn, req("open"), fake)
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, resp.Body); got["id"] != "open" {
		t.Errorf("body %v", got)
	}
	if len(fake.authz) != 1 || fake.authz[0].Type != "item" || fake.authz[0].Attributes["n"] != float64(1) {
		t.Errorf("checked %v", fake.authz)
	}

	for id, want := range map[string]string{"shut": "not allowed to testplugin.item.read item shut", "refused": "the policy says no"} {
		resp, err = handle(t, conn, req(id), newFake())
		var e *sdk.Error
		if resp != nil || !errors.As(err, &e) || !errors.Is(err, sdk.ErrForbidden) || e.Message != want {
			t.Errorf("%s: %v %v, want forbidden %q", id, resp, err, want)
		}
	}

	if _, err := handle(t, conn, req("open"), nil); !errors.Is(err, sdk.ErrInternal) {
		t.Errorf("without services: %v, want internal", err)
	}

	// A handler's error does not overtake the check: a refusal wins, and
	// an allowed check lets the error through.
	failing := func(id string) *transport.Request {
		r := req(id)
		r.Query = url.Values{"fail": {"1"}}
		return r
	}
	var check *transport.CheckError
	if _, err := handle(t, conn, failing("shut"), newFake()); !errors.Is(err, sdk.ErrForbidden) || !errors.As(err, &check) {
		t.Errorf("refused, then failed: %v, want the refusal as a CheckError", err)
	}
	if _, err := handle(t, conn, failing("open"), newFake()); !errors.Is(err, sdk.ErrNotFound) || errors.As(err, &check) {
		t.Errorf("allowed, then failed: %v, want the handler's not found", err)
	}
}

func TestHostCallAfterRequestIsRefused(t *testing.T) {
	conn, _ := shared(t)
	// Without Services the plugin's host calls fail cleanly, as they do for
	// a call ID the host no longer knows.
	_, err := handle(t, conn, &transport.Request{Route: route(t, conn, "GET", "/items/{id}"), Params: map[string]string{"id": "1"}}, nil)
	if !errors.Is(err, sdk.ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
}

func TestKillInFlight(t *testing.T) {
	for _, how := range []string{"sigkill", "Kill"} {
		t.Run(how, func(t *testing.T) {
			conn := launch(t, nil)
			errc := make(chan error, 1)
			go func() {
				_, err := conn.Handle(context.Background(), &transport.Request{Route: route(t, conn, "GET", "/sleep")}, nil)
				errc <- err
			}()
			time.Sleep(300 * time.Millisecond) // let the request reach the handler
			start := time.Now()
			if how == "sigkill" {
				if err := syscall.Kill(conn.Pid(), syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
			} else {
				conn.Kill()
			}
			select {
			case err := <-errc:
				var se *sdk.Error
				if !errors.Is(err, sdk.ErrUnavailable) || !errors.As(err, &se) || se.Source != sdk.SourcePlugin {
					t.Errorf("err = %v", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("in-flight request still waiting 3 s after the kill")
			}
			t.Logf("in-flight request failed %v after the kill", time.Since(start))
			for i := 0; !conn.Exited(); i++ {
				if i > 100 {
					t.Fatal("Exited() still false")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := handle(t, conn, &transport.Request{Route: 0, Body: []byte(`{}`)}, nil); !errors.Is(err, sdk.ErrUnavailable) {
				t.Errorf("after exit: %v", err)
			}
		})
	}
}
