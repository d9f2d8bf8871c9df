package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
)

func TestTenantLifecycleThroughTheAPI(t *testing.T) {
	s := startServer(t)
	op := s.operatorToken()

	acme := s.createTenant(op, "acme")
	assert.Equal(t, "active", acme.Status)
	assert.Equal(t, []string{}, acme.Plugins)

	status, raw := s.do(http.MethodPost, "/api/v1/tenants", op, map[string]any{
		"slug": "acme", "name": "again", "admin": map[string]string{"email": "a@b.test", "password": "tenant admin password"},
	}, nil)
	assert.Equal(t, http.StatusConflict, status)
	assert.Equal(t, "conflict", problemCode(t, raw))

	for _, bad := range []map[string]any{
		{"slug": "Bad Slug", "name": "x", "admin": map[string]string{"email": "a@b.test", "password": "tenant admin password"}},
		{"slug": "okay", "name": "x", "admin": map[string]string{"email": "not-an-email", "password": "tenant admin password"}},
		{"slug": "okay", "name": "x", "admin": map[string]string{"email": "a@b.test", "password": "short"}},
		{"slug": "okay", "name": "x"},
	} {
		status, raw = s.do(http.MethodPost, "/api/v1/tenants", op, bad, nil)
		assert.Equal(t, http.StatusUnprocessableEntity, status, string(raw))
		assert.Equal(t, "validation_failed", problemCode(t, raw))
	}
	status, _ = s.do(http.MethodGet, "/api/v1/tenants/okay", op, nil, nil)
	assert.Equal(t, http.StatusNotFound, status, "refused requests wrote nothing")

	var got api.TenantResponse
	status, _ = s.do(http.MethodGet, "/api/v1/tenants/acme", op, nil, &got)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, acme.ID, got.ID)

	s.createTenant(op, "globex")
	var list api.TenantList
	s.do(http.MethodGet, "/api/v1/tenants", op, nil, &list)
	require.Len(t, list.Items, 2)
	assert.Equal(t, "globex", list.Items[0].Slug, "newest first")

	// Pages follow signed cursors; bad queries and forged cursors are 400s.
	var page1, page2 api.TenantList
	status, raw = s.do(http.MethodGet, "/api/v1/tenants?limit=1&sort=slug", op, nil, &page1)
	require.Equal(t, http.StatusOK, status, string(raw))
	require.Len(t, page1.Items, 1)
	assert.Equal(t, "acme", page1.Items[0].Slug)
	require.NotNil(t, page1.NextCursor)
	s.do(http.MethodGet, "/api/v1/tenants?limit=1&sort=slug&cursor="+*page1.NextCursor, op, nil, &page2)
	require.Len(t, page2.Items, 1)
	assert.Equal(t, "globex", page2.Items[0].Slug)
	assert.Nil(t, page2.NextCursor)
	var filtered api.TenantList
	s.do(http.MethodGet, "/api/v1/tenants?slug=globex", op, nil, &filtered)
	require.Len(t, filtered.Items, 1)
	for _, q := range []string{"sort=password", "limit=500", "schema_name=t_acme", "cursor=forged", "limit=1&sort=-slug&cursor=" + *page1.NextCursor} {
		status, raw = s.do(http.MethodGet, "/api/v1/tenants?"+q, op, nil, nil)
		assert.Equal(t, http.StatusBadRequest, status, q)
		assert.Contains(t, []string{"invalid_query", "invalid_cursor"}, problemCode(t, raw), q)
	}

	var upd api.TenantResponse
	status, raw = s.do(http.MethodPatch, "/api/v1/tenants/acme", op, map[string]any{"name": "Acme Corp", "settings": map[string]any{"upload_limit": 10}}, &upd)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.Equal(t, "Acme Corp", upd.Name)
	assert.EqualValues(t, 10, upd.Settings["upload_limit"])

	status, _ = s.do(http.MethodDelete, "/api/v1/tenants/globex", op, nil, nil)
	assert.Equal(t, http.StatusNoContent, status)
	status, _ = s.do(http.MethodGet, "/api/v1/tenants/globex", op, nil, nil)
	assert.Equal(t, http.StatusNotFound, status)
}

func TestTenantUsersSignInAndSuspension(t *testing.T) {
	s := startServer(t)
	op := s.operatorToken()
	acme := s.createTenant(op, "acme")
	s.createTenant(op, "globex")

	status, tok := s.login("acme", "ADMIN@acme.test", "tenant admin password")
	require.Equal(t, http.StatusOK, status)

	var me api.MeResponse
	status, raw := s.do(http.MethodGet, "/api/v1/auth/me", tok, nil, &me)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.Equal(t, "admin@acme.test", me.User.Email)
	assert.Equal(t, []string{"admin"}, me.User.Roles)
	assert.Contains(t, me.User.Permissions, "identity.user.create", "admin holds every permission")
	assert.Contains(t, me.User.Permissions, "audit.log.read")
	assert.Equal(t, acme.ID, me.Tenant.ID)

	// The token's tenant is authoritative: naming another is refused.
	status, raw = s.do(http.MethodGet, "/api/v1/auth/me", tok, nil, nil, "X-Tenant", "globex")
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "tenant_mismatch", problemCode(t, raw))
	status, _ = s.do(http.MethodGet, "/api/v1/auth/me", tok, nil, nil, "X-Tenant", "acme")
	assert.Equal(t, http.StatusOK, status)

	// Unknown tenant, unknown user, wrong password: one answer.
	var bodies []string
	for _, c := range [][3]string{
		{"acme", "admin@acme.test", "wrong password!!"},
		{"acme", "nobody@acme.test", "tenant admin password"},
		{"nowhere", "admin@acme.test", "tenant admin password"},
		{"globex", "admin@acme.test", "tenant admin password"},
	} {
		status, raw := s.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"tenant": c[0], "email": c[1], "password": c[2]}, nil)
		assert.Equal(t, http.StatusUnauthorized, status)
		bodies = append(bodies, strings.Split(string(raw), `"request_id"`)[0])
	}
	for _, b := range bodies[1:] {
		assert.Equal(t, bodies[0], b, "the same 401 body")
	}

	// Suspension stops every request of the tenant, and lifting it restores them.
	status, _ = s.do(http.MethodPatch, "/api/v1/tenants/acme", op, map[string]any{"status": "suspended"}, nil)
	require.Equal(t, http.StatusOK, status)
	status, raw = s.do(http.MethodGet, "/api/v1/auth/me", tok, nil, nil)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "tenant_suspended", problemCode(t, raw))
	status, _ = s.login("acme", "admin@acme.test", "tenant admin password")
	assert.Equal(t, http.StatusForbidden, status)
	s.do(http.MethodPatch, "/api/v1/tenants/acme", op, map[string]any{"status": "active"}, nil)
	status, _ = s.do(http.MethodGet, "/api/v1/auth/me", tok, nil, nil)
	assert.Equal(t, http.StatusOK, status)

	// A deleted tenant's tokens stop working.
	s.do(http.MethodDelete, "/api/v1/tenants/acme", op, nil, nil)
	status, _ = s.do(http.MethodGet, "/api/v1/auth/me", tok, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
}

func TestTokensOnlyWorkWhereTheyBelong(t *testing.T) {
	s := startServer(t)
	op := s.operatorToken()
	s.createTenant(op, "acme")
	_, user := s.login("acme", "admin@acme.test", "tenant admin password")

	for _, c := range []struct {
		name, method, path, token string
	}{
		{"no token on operator route", http.MethodGet, "/api/v1/tenants", ""},
		{"tenant token on operator route", http.MethodGet, "/api/v1/tenants", user},
		{"operator token on tenant route", http.MethodGet, "/api/v1/auth/me", op},
		{"garbage token", http.MethodGet, "/api/v1/auth/me", "not.a.jwt"},
		{"alg none", http.MethodGet, "/api/v1/auth/me", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJ4In0."},
		{"oversized token", http.MethodGet, "/api/v1/auth/me", strings.Repeat(".", 1<<16)},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, raw := s.do(c.method, c.path, c.token, nil, nil)
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.Equal(t, "unauthenticated", problemCode(t, raw))
		})
	}
}

func TestOpenAPIListsTheTenantAPI(t *testing.T) {
	s := startServer(t)
	_, raw := s.do(http.MethodGet, "/openapi.json", "", nil, nil)
	for _, p := range []string{`"/api/v1/tenants"`, `"/api/v1/tenants/{slug}"`, `"/api/v1/operator/login"`, `"/api/v1/auth/login"`, `"/api/v1/auth/me"`, `"CreateTenantRequest"`} {
		assert.Contains(t, string(raw), p)
	}
}
