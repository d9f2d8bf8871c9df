// Package plugintest runs a plugin under test inside a real Atrium core: the
// whole core (HTTP API, tokens, tenant scoping, the policy engine, audit)
// started in the test's process on a fresh PostgreSQL database, with the
// plugin attached in-process over real gRPC connections. A plugin's tests are
// then ordinary `go test`, with no core binary to build:
//
//	func TestProjects(t *testing.T) {
//		core := plugintest.Start(t, projects.Plugin())
//		acme := core.Tenant("acme")
//		res := acme.Admin.Post("/api/v1/projects", map[string]any{"name": "Apollo"})
//		res.Want(t, http.StatusCreated)
//	}
//
// It needs PostgreSQL: ATRIUM_TEST_DATABASE_URL, else the server on
// 127.0.0.1:5432 (user postgres). Under `go test -short` it skips.
package plugintest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/atriumhq/atrium/core/app"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/sdk"
)

const (
	operatorEmail    = "operator@plugintest.test"
	operatorPassword = "plugintest operator password"
	// Password is every user's password in a test core.
	Password = "plugintest user password"
)

// Core is a running Atrium core with the plugin under test.
type Core struct {
	t      testing.TB
	plugin string
	// URL is the core's base URL, for clients of your own.
	URL string
	// Operator is signed in as a platform operator.
	Operator *Client
}

// Start starts a core on a new database with p attached, and stops it when
// the test ends. Extra settings change the core's configuration
// (environment variable names, as in the README).
func Start(t testing.TB, p sdk.Plugin, settings ...map[string]string) *Core {
	t.Helper()
	if testing.Short() {
		t.Skip("plugintest needs PostgreSQL")
	}
	env := map[string]string{
		"ATRIUM_HTTP_ADDR":                   "127.0.0.1:0",
		"DATABASE_URL":                       postgrestest.NewDatabase(t),
		"ATRIUM_BCRYPT_COST":                 "10",
		"ATRIUM_SHUTDOWN_TIMEOUT":            "5s",
		"ATRIUM_SHUTDOWN_READINESS_DELAY":    "0s", // no balancer to wait for
		"ATRIUM_BLOB_URL":                    "file://" + t.TempDir(),
		"ATRIUM_PLUGIN_DIR":                  t.TempDir(),
		"ATRIUM_BOOTSTRAP_OPERATOR_EMAIL":    operatorEmail,
		"ATRIUM_BOOTSTRAP_OPERATOR_PASSWORD": operatorPassword,
		"ATRIUM_AUDIT_CHECKPOINT_INTERVAL":   "0",
	}
	for _, s := range settings {
		for k, v := range s {
			env[k] = v
		}
	}
	cfg, err := config.Parse(env)
	if err != nil {
		t.Fatalf("plugintest: configuration: %v", err)
	}
	a, srv, err := app.Harness(cfg, logger(), p)
	if err != nil {
		t.Fatalf("plugintest: build the core: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatalf("plugintest: start the core: %v", err)
	}
	c := &Core{t: t, plugin: p.Name, URL: "http://" + srv.Addr()}
	c.Operator = &Client{t: t, base: c.URL}
	c.Operator.Token = c.signIn("/api/v1/operator/login", map[string]string{"email": operatorEmail, "password": operatorPassword})
	t.Cleanup(func() {
		// Tenants' roles are server-wide: remove the tenants before the
		// database goes.
		var list struct{ Items []struct{ Slug string } }
		c.Operator.Get("/api/v1/tenants?limit=200").Decode(t, &list)
		for _, tn := range list.Items {
			c.Operator.Delete("/api/v1/tenants/" + tn.Slug)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("plugintest: stop the core: %v", err)
		}
	})
	return c
}

// logger discards the core's logs unless ATRIUM_TEST_LOG is set.
func logger() *slog.Logger {
	if os.Getenv("ATRIUM_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func (c *Core) signIn(path string, body any) string {
	c.t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	anon := &Client{t: c.t, base: c.URL}
	anon.Post(path, body).Want(c.t, http.StatusOK).Decode(c.t, &tok)
	return tok.AccessToken
}

// Tenant is a tenant with the plugin enabled, and its first admin.
type Tenant struct {
	core  *Core
	Slug  string
	Admin *Client
}

// Tenant creates a tenant that enabled the plugin, with settings.
func (c *Core) Tenant(slug string, settings ...map[string]any) *Tenant {
	c.t.Helper()
	s := map[string]any{}
	for _, m := range settings {
		for k, v := range m {
			s[k] = v
		}
	}
	c.Operator.Post("/api/v1/tenants", map[string]any{
		"slug": slug, "name": slug, "plugins": []string{c.plugin}, "settings": s,
		"admin": map[string]string{"email": "admin@" + slug + ".test", "password": Password},
	}).Want(c.t, http.StatusCreated)
	t := &Tenant{core: c, Slug: slug}
	t.Admin = t.SignIn("admin@" + slug + ".test")
	return t
}

// TenantWithout creates a tenant that did not enable the plugin.
func (c *Core) TenantWithout(slug string) *Tenant {
	c.t.Helper()
	c.Operator.Post("/api/v1/tenants", map[string]any{
		"slug": slug, "name": slug, "admin": map[string]string{"email": "admin@" + slug + ".test", "password": Password},
	}).Want(c.t, http.StatusCreated)
	t := &Tenant{core: c, Slug: slug}
	t.Admin = t.SignIn("admin@" + slug + ".test")
	return t
}

// User creates a user with roles (admin, member, viewer or custom) and
// returns it signed in.
func (t *Tenant) User(email string, roles ...string) *Client {
	t.core.t.Helper()
	t.Admin.Post("/api/v1/users", map[string]any{"email": email, "password": Password, "roles": roles}).
		Want(t.core.t, http.StatusCreated)
	return t.SignIn(email)
}

// SignIn signs a user of the tenant in.
func (t *Tenant) SignIn(email string) *Client {
	t.core.t.Helper()
	tok := t.core.signIn("/api/v1/auth/login", map[string]string{"tenant": t.Slug, "email": email, "password": Password})
	return &Client{t: t.core.t, base: t.core.URL, Token: tok}
}

// Client calls the core's HTTP API with a bearer token.
type Client struct {
	t     testing.TB
	base  string
	Token string
}

// Get, Post, Put, Patch and Delete send a request; a body other than nil
// is sent as JSON.
func (c *Client) Get(path string) *Response             { return c.Do(http.MethodGet, path, nil) }
func (c *Client) Post(path string, body any) *Response  { return c.Do(http.MethodPost, path, body) }
func (c *Client) Put(path string, body any) *Response   { return c.Do(http.MethodPut, path, body) }
func (c *Client) Patch(path string, body any) *Response { return c.Do(http.MethodPatch, path, body) }
func (c *Client) Delete(path string) *Response          { return c.Do(http.MethodDelete, path, nil) }

// Do sends a request.
func (c *Client) Do(method, path string, body any) *Response {
	c.t.Helper()
	if body == nil {
		return c.Send(method, path, nil, nil)
	}
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatalf("plugintest: encode body: %v", err)
	}
	return c.Send(method, path, bytes.NewReader(b), http.Header{"Content-Type": {"application/json"}})
}

// Send sends a request with a body of any kind (a multipart upload) and
// headers of the test's choosing (Range, If-None-Match).
func (c *Client) Send(method, path string, body io.Reader, header http.Header) *Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatalf("plugintest: %v", err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("plugintest: %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("plugintest: %s %s: %v", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: raw, what: method + " " + path}
}

// Response is the core's answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	what   string
}

// Want fails the test unless the status is status.
func (r *Response) Want(t testing.TB, status int) *Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", r.what, r.Status, status, r.Body)
	}
	return r
}

// Decode decodes the JSON body into v, failing the test if it cannot.
func (r *Response) Decode(t testing.TB, v any) *Response {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: decode %s: %v", r.what, r.Body, err)
	}
	return r
}

// Problem is an error response (RFC 9457).
type Problem struct {
	Status int    `json:"status"`
	Code   string `json:"code"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// Problem decodes an error response.
func (r *Response) Problem(t testing.TB) Problem {
	t.Helper()
	var p Problem
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("%s: status %d with %s, not a problem: %s", r.what, r.Status, ct, r.Body)
	}
	r.Decode(t, &p)
	return p
}

func (r *Response) String() string { return fmt.Sprintf("%s: %d %s", r.what, r.Status, r.Body) }
