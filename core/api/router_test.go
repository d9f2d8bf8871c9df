package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/health"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/telemetry"
)

type createThing struct {
	Name  string   `json:"name" validate:"required,min=2,max=20"`
	Email string   `json:"email" validate:"required,email"`
	Kind  string   `json:"kind" validate:"omitempty,oneof=a b"`
	Tags  []string `json:"tags"`
	Owner struct {
		Age int `json:"age" validate:"min=0"`
	} `json:"owner"`
}

type thing struct {
	Name string `json:"name"`
}

// harness is a router with a few routes exercising every failure path.
type harness struct {
	router   *api.Router
	registry *prometheus.Registry
	logs     *bytes.Buffer
	created  int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{registry: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	log := telemetry.NewLogger(h.logs, slog.LevelDebug)
	h.router = api.NewRouter(api.RouterOptions{
		Logger: log, Registerer: h.registry, Tracer: noop.NewTracerProvider(),
		MaxBodyBytes: 1024, Version: "test",
	})
	h.router.Handle(
		api.Route{Method: http.MethodPost, Path: "/things", Summary: "Create a thing",
			Handler: api.JSON(http.StatusCreated, func(_ *gin.Context, in *createThing) (thing, error) {
				h.created++
				return thing{Name: in.Name}, nil
			})},
		api.Route{Method: http.MethodGet, Path: "/things/:id", Summary: "Read a thing",
			Handler: api.Output(func(c *gin.Context) (thing, error) {
				if c.Param("id") == "missing" {
					return thing{}, kernel.NotFound("thing")
				}
				if c.Param("id") == "secret" {
					return thing{}, errors.New("pq: password=hunter2 leaked")
				}
				return thing{Name: c.Param("id")}, nil
			})},
		api.Route{Method: http.MethodGet, Path: "/panic", Summary: "Panics",
			Handler: api.Output(func(*gin.Context) (thing, error) { panic("boom: secret internals") })},
	)
	h.router.Handle(api.OperationalRoutes(h.router, h.registry, []health.Check{
		{Name: "database", Probe: func(ctx context.Context) error { return nil }},
	}, log)...)
	return h
}

func (h *harness) do(t *testing.T, method, path, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.router.ServeHTTP(rec, req)
	return rec
}

func problemOf(t *testing.T, rec *httptest.ResponseRecorder) api.Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"), rec.Body.String())
	var p api.Problem
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
	assert.Equal(t, rec.Code, p.Status)
	assert.Equal(t, rec.Header().Get("X-Request-ID"), p.RequestID)
	assert.Equal(t, "urn:atrium:problem:"+p.Code, p.Type)
	return p
}

func TestCreateSucceedsWithValidBody(t *testing.T) {
	h := newHarness(t)
	rec := h.do(t, http.MethodPost, "/things", `{"name":"lamp","email":"a@b.io","kind":"a"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	assert.JSONEq(t, `{"name":"lamp"}`, rec.Body.String())
	assert.Equal(t, 1, h.created)
}

func TestBadBodiesAreProblemsAndWriteNothing(t *testing.T) {
	big := `{"name":"` + strings.Repeat("x", 2000) + `","email":"a@b.io"}`
	tests := []struct {
		name, body, contentType string
		status                  int
		code                    string
		fields                  map[string]string
	}{
		{"malformed", `{"name": "lamp",`, "", 400, "malformed_json", nil},
		{"syntax error", `{"name" "lamp"}`, "", 400, "malformed_json", nil},
		{"empty", ``, "", 400, "malformed_json", nil},
		{"not an object", `[1,2]`, "", 400, "malformed_json", nil},
		{"trailing data", `{"name":"lamp","email":"a@b.io"} {}`, "", 400, "malformed_json", nil},
		{"unknown field", `{"name":"lamp","email":"a@b.io","admin":true}`, "", 422, "validation_failed",
			map[string]string{"admin": "unknown field"}},
		{"wrong type", `{"name":42,"email":"a@b.io"}`, "", 422, "validation_failed",
			map[string]string{"name": "must be a string, not number"}},
		{"nested wrong type", `{"name":"lamp","email":"a@b.io","owner":{"age":"old"}}`, "", 422, "validation_failed",
			map[string]string{"owner.age": "must be an integer, not string"}},
		{"missing required", `{"kind":"a"}`, "", 422, "validation_failed",
			map[string]string{"name": "is required", "email": "is required"}},
		{"rule broken", `{"name":"x","email":"nope","kind":"c"}`, "", 422, "validation_failed",
			map[string]string{"name": "must be at least 2 characters", "email": "must be a valid email address", "kind": "must be one of: a, b"}},
		{"oversized", big, "", 413, "payload_too_large", nil},
		{"not json", `name=lamp`, "application/x-www-form-urlencoded", 415, "unsupported_media_type", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			req := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			rec := httptest.NewRecorder()
			h.router.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			p := problemOf(t, rec)
			assert.Equal(t, tt.code, p.Code)
			assert.NotEmpty(t, p.Detail)
			got := map[string]string{}
			for _, f := range p.Errors {
				got[f.Field] = f.Message
			}
			if tt.fields != nil {
				assert.Equal(t, tt.fields, got)
			}
			assert.Zero(t, h.created, "a refused request must not reach the handler")
		})
	}
}

func TestOversizedBodyWithoutContentLength(t *testing.T) {
	h := newHarness(t)
	body := `{"name":"` + strings.Repeat("x", 4000) + `","email":"a@b.io"}`
	req := httptest.NewRequest(http.MethodPost, "/things", io.NopCloser(strings.NewReader(body)))
	req.ContentLength = -1 // chunked: the limit must hold while reading
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.router.ServeHTTP(rec, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	assert.Equal(t, "payload_too_large", problemOf(t, rec).Code)
	assert.Zero(t, h.created)
}

func TestUnknownRouteAndMethod(t *testing.T) {
	h := newHarness(t)
	rec := h.do(t, http.MethodGet, "/nowhere", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
	assert.Equal(t, "not_found", problemOf(t, rec).Code)

	rec = h.do(t, http.MethodDelete, "/things", "")
	require.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "method_not_allowed", problemOf(t, rec).Code)
	assert.Equal(t, "POST", rec.Header().Get("Allow"))
}

func TestDomainErrorsMapToTheirStatus(t *testing.T) {
	h := newHarness(t)
	rec := h.do(t, http.MethodGet, "/things/missing", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
	p := problemOf(t, rec)
	assert.Equal(t, "not_found", p.Code)
	assert.Equal(t, "thing not found", p.Detail)
}

func TestInternalErrorsLeakNothingAndAreLoggedOnce(t *testing.T) {
	h := newHarness(t)
	rec := h.do(t, http.MethodGet, "/things/secret", "")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	p := problemOf(t, rec)
	assert.Equal(t, "internal", p.Code)
	assert.NotContains(t, rec.Body.String(), "hunter2")
	assert.Equal(t, 1, strings.Count(h.logs.String(), "hunter2"), "the cause is logged exactly once")
}

func TestPanicBecomesProblem(t *testing.T) {
	h := newHarness(t)
	rec := h.do(t, http.MethodGet, "/panic", "")
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	p := problemOf(t, rec)
	assert.Equal(t, "internal", p.Code)
	assert.NotContains(t, rec.Body.String(), "boom")
	logs := h.logs.String()
	assert.Contains(t, logs, "boom: secret internals")
	assert.Contains(t, logs, "router_test.go", "the stack is logged")
	assert.Contains(t, logs, `"request_id":"`+p.RequestID+`"`)

	// The router keeps serving after a panic.
	assert.Equal(t, http.StatusOK, h.do(t, http.MethodGet, "/things/ok", "").Code)
}

func TestRequestID(t *testing.T) {
	h := newHarness(t)
	rec := h.do(t, http.MethodGet, "/healthz", "", "X-Request-ID", "client-id-123")
	assert.Equal(t, "client-id-123", rec.Header().Get("X-Request-ID"))

	rec = h.do(t, http.MethodGet, "/healthz", "")
	generated := rec.Header().Get("X-Request-ID")
	assert.Len(t, generated, 36)

	// An ID that could forge log lines or headers is replaced.
	rec = h.do(t, http.MethodGet, "/healthz", "", "X-Request-ID", "bad id\"}\n")
	assert.NotContains(t, rec.Header().Get("X-Request-ID"), " ")
	assert.Len(t, rec.Header().Get("X-Request-ID"), 36)
}

func TestAccessLogLine(t *testing.T) {
	h := newHarness(t)
	h.do(t, http.MethodGet, "/things/lamp", "", "X-Request-ID", "req-42")
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(h.logs.String()), "\n") {
		require.NoError(t, json.Unmarshal([]byte(l), &line))
		if line["msg"] == "http request" {
			break
		}
	}
	assert.Equal(t, "req-42", line["request_id"])
	assert.Equal(t, "GET", line["method"])
	assert.Equal(t, "/things/:id", line["route"])
	assert.EqualValues(t, 200, line["status"])
	assert.Contains(t, line, "duration_ms")
}

type nopAuth struct{}

func (nopAuth) Operator(context.Context, string) (*kernel.Principal, error) { return nil, nil }
func (nopAuth) TenantUser(context.Context, string) (*kernel.Principal, *kernel.Tenant, error) {
	return nil, nil, nil
}
func (nopAuth) Standing(context.Context) error { return nil }

type nopUnit struct{}

func (nopUnit) InTenant(ctx context.Context, _ *kernel.Tenant, fn func(context.Context) error) error {
	return fn(ctx)
}

// A handler that writes its own response would answer before the unit of
// work commits; the router refuses it on tenant routes.
func TestRawHandlersAreRefusedOnTenantRoutes(t *testing.T) {
	r := api.NewRouter(api.RouterOptions{
		Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(), Tracer: noop.NewTracerProvider(),
		MaxBodyBytes: 1024, Auth: nopAuth{}, UnitOfWork: nopUnit{},
	})
	raw := api.Raw(http.StatusOK, "text/plain", http.NotFoundHandler())
	assert.Panics(t, func() { r.Handle(api.Route{Method: http.MethodGet, Path: "/t", Access: api.Tenant, Handler: raw}) })
	assert.NotPanics(t, func() { r.Handle(api.Route{Method: http.MethodGet, Path: "/o", Access: api.Operator, Handler: raw}) })
}
