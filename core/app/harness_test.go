package app_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/app"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

const (
	operatorEmail    = "ops@atrium.test"
	operatorPassword = "operator password 1"
)

// server is the whole core on a fresh database, reached over real HTTP.
type server struct {
	t    *testing.T
	base string
	db   string
}

func startServer(t *testing.T) *server {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	return startServerOn(t, postgrestest.NewDatabase(t))
}

// startServerOn starts a core on an existing database: a second replica.
func startServerOn(t *testing.T, dbURL string) *server {
	t.Helper()
	return startCore(t, dbURL, nil)
}

// startCore starts the whole core on dbURL, with the configuration changed
// by change (when not nil) and populate filled from the graph.
func startCore(t *testing.T, dbURL string, change func(*config.Config), populate ...any) *server {
	t.Helper()
	return startCoreLogging(t, dbURL, testLogger(), change, populate...)
}

// startCoreLogging is startCore logging to log.
func startCoreLogging(t *testing.T, dbURL string, log *slog.Logger, change func(*config.Config), populate ...any) *server {
	t.Helper()
	cfg := testConfig(t, dbURL)
	cfg.BootstrapOperatorEmail, cfg.BootstrapOperatorPassword = operatorEmail, operatorPassword
	if change != nil {
		change(&cfg)
	}
	var srv *api.Server
	a := fxtest.New(t, app.Options(cfg, log), fx.Populate(append([]any{&srv}, populate...)...))
	a.RequireStart()
	s := &server{t: t, base: "http://" + srv.Addr(), db: dbURL}
	// Tenants own server-wide roles: delete them before the app stops.
	t.Cleanup(func() {
		tok := s.operatorToken()
		var list api.TenantList
		s.do(http.MethodGet, "/api/v1/tenants", tok, nil, &list)
		for _, tn := range list.Items {
			if status, raw := s.do(http.MethodDelete, "/api/v1/tenants/"+tn.Slug, tok, nil, nil); status != http.StatusNoContent {
				t.Errorf("delete tenant %s: %d %s", tn.Slug, status, raw)
			}
		}
		a.RequireStop()
	})
	return s
}

// do sends body as JSON (unless it is a string, sent as is) and decodes the
// reply into out; it returns the status and the raw body.
func (s *server) do(method, path, token string, body, out any, header ...string) (int, []byte) {
	s.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = bytes.NewBufferString(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(s.t, err)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	require.NoError(s.t, err)
	if r != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	if out != nil && resp.StatusCode < 300 && len(raw) > 0 {
		require.NoError(s.t, json.Unmarshal(raw, out), string(raw))
	}
	return resp.StatusCode, raw
}

func (s *server) operatorToken() string {
	s.t.Helper()
	var tok api.TokenResponse
	status, raw := s.do(http.MethodPost, "/api/v1/operator/login", "", map[string]string{"email": operatorEmail, "password": operatorPassword}, &tok)
	require.Equal(s.t, http.StatusOK, status, string(raw))
	return tok.AccessToken
}

func (s *server) createTenant(op, slug string) api.TenantResponse {
	s.t.Helper()
	var tn api.TenantResponse
	status, raw := s.do(http.MethodPost, "/api/v1/tenants", op, map[string]any{
		"slug": slug, "name": slug + " Inc", "admin": map[string]string{"email": "admin@" + slug + ".test", "password": "tenant admin password"},
	}, &tn)
	require.Equal(s.t, http.StatusCreated, status, string(raw))
	return tn
}

func (s *server) login(slug, email, password string) (int, string) {
	s.t.Helper()
	var tok api.TokenResponse
	status, _ := s.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"tenant": slug, "email": email, "password": password}, &tok)
	return status, tok.AccessToken
}

func problemCode(t *testing.T, raw []byte) string {
	t.Helper()
	var p api.Problem
	require.NoError(t, json.Unmarshal(raw, &p), string(raw))
	return p.Code
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// testLogger discards logs unless ATRIUM_TEST_LOG is set (debugging).
func testLogger() *slog.Logger {
	if os.Getenv("ATRIUM_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}
