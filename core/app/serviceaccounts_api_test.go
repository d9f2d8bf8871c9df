package app_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

func (s *server) createServiceAccount(admin, name string, roles ...string) api.ServiceAccountResponse {
	s.t.Helper()
	var a api.ServiceAccountResponse
	status, raw := s.do(http.MethodPost, "/api/v1/service-accounts", admin, map[string]any{"name": name, "roles": roles}, &a)
	require.Equal(s.t, http.StatusCreated, status, string(raw))
	return a
}

func (s *server) createKey(admin string, account api.ServiceAccountResponse, body map[string]any) api.CreatedKeyResponse {
	s.t.Helper()
	var k api.CreatedKeyResponse
	status, raw := s.do(http.MethodPost, "/api/v1/service-accounts/"+account.ID.String()+"/keys", admin, body, &k)
	require.Equal(s.t, http.StatusCreated, status, string(raw))
	return k
}

func (s *server) userCount(admin string) int {
	s.t.Helper()
	var list api.UserList
	status, raw := s.do(http.MethodGet, "/api/v1/users", admin, nil, &list)
	require.Equal(s.t, http.StatusOK, status, string(raw))
	return len(list.Items)
}

// lockedBuffer collects the core's log lines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServiceAccountKeysAuthenticateWithinTheirRoles(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	logs := new(lockedBuffer)
	s := startCoreLogging(t, postgrestest.NewDatabase(t), slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), nil)
	op := s.operatorToken()
	s.createTenant(op, "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")

	robot := s.createServiceAccount(admin, "robot", "admin")
	viewer := s.createServiceAccount(admin, "reader", "viewer")
	robotKey := s.createKey(admin, robot, map[string]any{"name": "ci"})
	viewerKey := s.createKey(admin, viewer, map[string]any{"name": "dashboards"})
	require.True(t, strings.HasPrefix(robotKey.Key, robotKey.Prefix+"_"), "the prefix is the key's public part")
	require.True(t, strings.HasPrefix(robotKey.Key, "atr_"))
	assert.Nil(t, robotKey.ExpiresAt)

	// The principal is the service account.
	var me api.MeResponse
	status, raw := s.do(http.MethodGet, "/api/v1/auth/me", robotKey.Key, nil, &me)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.Equal(t, "service", me.User.Type)
	assert.Equal(t, robot.ID, me.User.ID)
	assert.Equal(t, []string{"admin"}, me.User.Roles)
	assert.Contains(t, me.User.Permissions, "identity.user.create")

	// A key is no session: logging out is refused, and the key still works.
	status, raw = s.do(http.MethodPost, "/api/v1/auth/logout", robotKey.Key, nil, nil)
	assert.Equal(t, http.StatusForbidden, status, string(raw))
	status, _ = s.do(http.MethodGet, "/api/v1/auth/me", robotKey.Key, nil, nil)
	require.Equal(t, http.StatusOK, status)

	// Within its roles: the admin account creates a user, the viewer cannot,
	// nor manage service accounts.
	users := s.userCount(admin)
	status, raw = s.do(http.MethodPost, "/api/v1/users", robotKey.Key, map[string]any{"email": "made@acme.test", "password": userPassword}, nil)
	require.Equal(t, http.StatusCreated, status, string(raw))
	users++
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/api/v1/users", map[string]any{"email": "no@acme.test", "password": userPassword}},
		{http.MethodGet, "/api/v1/users", nil},
		{http.MethodPost, "/api/v1/service-accounts", map[string]any{"name": "escalate", "roles": []string{"admin"}}},
		{http.MethodPost, "/api/v1/service-accounts/" + viewer.ID.String() + "/keys", map[string]any{"name": "more"}},
	} {
		status, raw := s.do(c.method, c.path, viewerKey.Key, c.body, nil)
		assert.Equal(t, http.StatusForbidden, status, "%s %s: %s", c.method, c.path, raw)
	}
	assert.Equal(t, users, s.userCount(admin))
	var accounts api.ServiceAccountList
	s.do(http.MethodGet, "/api/v1/service-accounts", admin, nil, &accounts)
	assert.Len(t, accounts.Items, 2, "nothing created by the viewer")

	// The audit log names the service account as the actor.
	recs := s.auditLog(admin, "action=identity.user.create")
	i := slices.IndexFunc(recs, func(r api.AuditRecord) bool { return r.Outcome == "success" })
	require.GreaterOrEqual(t, i, 0, "the create is recorded")
	assert.Equal(t, "service", recs[i].Actor.Type)
	assert.Equal(t, robot.ID.String(), recs[i].Actor.ID)

	// The list shows no secret, and when the key was last used.
	var keys api.KeyList
	status, raw = s.do(http.MethodGet, "/api/v1/service-accounts/"+robot.ID.String()+"/keys", admin, nil, &keys)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, keys.Items, 1)
	assert.Equal(t, robotKey.Prefix, keys.Items[0].Prefix)
	require.NotNil(t, keys.Items[0].LastUsedAt)
	assert.NotContains(t, string(raw), robotKey.Key)

	// Refused with the same 401 as a bad token, nothing performed: a
	// flipped character, a key on an operator route.
	flipped := []byte(robotKey.Key)
	last := len(flipped) - 1
	flipped[last] = map[bool]byte{true: '1', false: '0'}[flipped[last] == '0']
	for _, c := range []struct {
		name, method, path, key string
		body                    any
	}{
		{"flipped", http.MethodPost, "/api/v1/users", string(flipped), map[string]any{"email": "flip@acme.test", "password": userPassword}},
		{"flipped tenant", http.MethodPost, "/api/v1/users", strings.Replace(robotKey.Key, robotKey.Key[4:8], "0000", 1), map[string]any{"email": "flip@acme.test", "password": userPassword}},
		{"operator route", http.MethodPost, "/api/v1/tenants", robotKey.Key, map[string]any{"slug": "evil", "name": "Evil", "admin": map[string]string{"email": "a@evil.test", "password": "tenant admin password"}}},
		{"operator list", http.MethodGet, "/api/v1/tenants", robotKey.Key, nil},
	} {
		status, raw := s.do(c.method, c.path, c.key, c.body, nil)
		assert.Equal(t, http.StatusUnauthorized, status, "%s: %s", c.name, raw)
		assert.Equal(t, "unauthenticated", problemCode(t, raw), c.name)
	}
	assert.Equal(t, users, s.userCount(admin))
	var tenants api.TenantList
	s.do(http.MethodGet, "/api/v1/tenants", op, nil, &tenants)
	assert.Len(t, tenants.Items, 1, "no tenant created with a key")

	// Revoked: refused at once; the list says when.
	status, _ = s.do(http.MethodDelete, "/api/v1/service-accounts/"+robot.ID.String()+"/keys/"+robotKey.ID.String(), admin, nil, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, raw = s.do(http.MethodPost, "/api/v1/users", robotKey.Key, map[string]any{"email": "late@acme.test", "password": userPassword}, nil)
	assert.Equal(t, http.StatusUnauthorized, status, string(raw))
	s.do(http.MethodGet, "/api/v1/service-accounts/"+robot.ID.String()+"/keys", admin, nil, &keys)
	assert.NotNil(t, keys.Items[0].RevokedAt)

	// Its account deleted: the key goes with it.
	status, _ = s.do(http.MethodGet, "/api/v1/auth/me", viewerKey.Key, nil, nil)
	require.Equal(t, http.StatusOK, status)
	status, _ = s.do(http.MethodDelete, "/api/v1/service-accounts/"+viewer.ID.String(), admin, nil, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = s.do(http.MethodGet, "/api/v1/auth/me", viewerKey.Key, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, users, s.userCount(admin))

	// The secrets appear in no log line and no audit record.
	var all api.AuditList
	_, rawAudit := s.do(http.MethodGet, "/api/v1/audit?limit=200", admin, nil, &all)
	require.NotEmpty(t, all.Items)
	for _, k := range []string{robotKey.Key, viewerKey.Key} {
		secret := k[len(k)-64:]
		assert.NotContains(t, string(rawAudit), secret)
		assert.NotContains(t, logs.String(), secret)
	}
	assert.Contains(t, logs.String(), "/api/v1/service-accounts", "the log was captured")
}

func TestExpiredKeysAndInvalidInput(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")
	bot := s.createServiceAccount(admin, "bot", "admin")

	// Bad input names its fields and writes nothing.
	for _, c := range []struct {
		path  string
		body  any
		field string
		want  int
	}{
		{"/api/v1/service-accounts", map[string]any{"name": ""}, "name", http.StatusUnprocessableEntity},
		{"/api/v1/service-accounts", map[string]any{"name": "x", "roles": []string{"no-such-role"}}, "roles", http.StatusUnprocessableEntity},
		{"/api/v1/service-accounts", map[string]any{"name": "BOT"}, "name", http.StatusConflict},
		{"/api/v1/service-accounts/" + bot.ID.String() + "/keys", map[string]any{"name": "k", "expires_at": time.Now().Add(-time.Hour)}, "expires_at", http.StatusUnprocessableEntity},
		{"/api/v1/service-accounts/" + bot.ID.String() + "/keys", map[string]any{}, "name", http.StatusUnprocessableEntity},
	} {
		status, raw := s.do(http.MethodPost, c.path, admin, c.body, nil)
		require.Equal(t, c.want, status, string(raw))
		var p api.Problem
		require.NoError(t, jsonUnmarshal(raw, &p))
		require.NotEmpty(t, p.Errors, string(raw))
		assert.True(t, strings.HasPrefix(p.Errors[0].Field, c.field), "%s names %s", raw, c.field)
	}
	status, raw := s.do(http.MethodPost, "/api/v1/service-accounts/"+kernelNilID+"/keys", admin, map[string]any{"name": "k"}, nil)
	assert.Equal(t, http.StatusNotFound, status, string(raw))
	var accounts api.ServiceAccountList
	s.do(http.MethodGet, "/api/v1/service-accounts", admin, nil, &accounts)
	assert.Len(t, accounts.Items, 1)
	var keys api.KeyList
	s.do(http.MethodGet, "/api/v1/service-accounts/"+bot.ID.String()+"/keys", admin, nil, &keys)
	assert.Empty(t, keys.Items)

	// Expired: the same 401 as a bad token.
	short := s.createKey(admin, bot, map[string]any{"name": "short", "expires_at": time.Now().Add(1500 * time.Millisecond)})
	status, _ = s.do(http.MethodGet, "/api/v1/auth/me", short.Key, nil, nil)
	require.Equal(t, http.StatusOK, status)
	time.Sleep(time.Until(*short.ExpiresAt) + 50*time.Millisecond)
	status, raw = s.do(http.MethodGet, "/api/v1/auth/me", short.Key, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "unauthenticated", problemCode(t, raw))

	// A service account has no password to sign in with.
	code, _ := s.login("acme", "bot", "")
	assert.NotEqual(t, http.StatusOK, code)

	// The served document describes the routes.
	_, doc := s.do(http.MethodGet, "/openapi.json", "", nil, nil)
	for _, p := range []string{`"/api/v1/service-accounts"`, `"/api/v1/service-accounts/{id}/keys/{key_id}"`, `"CreatedKeyResponse"`} {
		assert.Contains(t, string(doc), p)
	}
}

const kernelNilID = "00000000-0000-0000-0000-000000000000"

// Another tenant's key is refused whatever the X-Tenant header names, and a
// suspended tenant's keys like its users' tokens.
func TestKeysStayInTheirTenant(t *testing.T) {
	s := startServer(t)
	op := s.operatorToken()
	s.createTenant(op, "acme")
	s.createTenant(op, "globex")
	_, acme := s.login("acme", "admin@acme.test", "tenant admin password")
	_, globex := s.login("globex", "admin@globex.test", "tenant admin password")
	key := s.createKey(globex, s.createServiceAccount(globex, "bot", "admin"), map[string]any{"name": "k"})

	users := s.userCount(acme)
	status, raw := s.do(http.MethodPost, "/api/v1/users", key.Key, map[string]any{"email": "x@acme.test", "password": userPassword}, nil, "X-Tenant", "acme")
	assert.Equal(t, http.StatusForbidden, status, string(raw))
	assert.Equal(t, "tenant_mismatch", problemCode(t, raw))
	assert.Equal(t, users, s.userCount(acme))

	status, _ = s.do(http.MethodPatch, "/api/v1/tenants/globex", op, map[string]any{"status": "suspended"}, nil)
	require.Equal(t, http.StatusOK, status)
	status, raw = s.do(http.MethodGet, "/api/v1/auth/me", key.Key, nil, nil)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "tenant_suspended", problemCode(t, raw))
}

// Two replicas on one database: a key revoked through one is refused by
// the other within a second, and new roles reach it too.
func TestKeyRevocationReachesOtherReplicas(t *testing.T) {
	a := startServer(t)
	b := startServerOn(t, a.db)
	a.createTenant(a.operatorToken(), "acme")
	_, admin := a.login("acme", "admin@acme.test", "tenant admin password")
	bot := a.createServiceAccount(admin, "bot", "admin")
	key := a.createKey(admin, bot, map[string]any{"name": "k"})

	status, _ := b.do(http.MethodGet, "/api/v1/users", key.Key, nil, nil)
	require.Equal(t, http.StatusOK, status, "roles cached on b")

	// Demoted on a: b's cached resolution is dropped by notification.
	status, _ = a.do(http.MethodPatch, "/api/v1/service-accounts/"+bot.ID.String(), admin, map[string]any{"roles": []string{"viewer"}}, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Eventually(t, func() bool {
		status, _ := b.do(http.MethodGet, "/api/v1/users", key.Key, nil, nil)
		return status == http.StatusForbidden
	}, time.Second, 20*time.Millisecond, "b learns of the new roles")

	status, _ = a.do(http.MethodDelete, "/api/v1/service-accounts/"+bot.ID.String()+"/keys/"+key.ID.String(), admin, nil, nil)
	require.Equal(t, http.StatusNoContent, status)
	revoked := time.Now()
	assert.Eventually(t, func() bool {
		status, _ := b.do(http.MethodGet, "/api/v1/auth/me", key.Key, nil, nil)
		return status == http.StatusUnauthorized
	}, time.Second, 10*time.Millisecond, "b refuses the revoked key")
	t.Logf("refused on b %v after the revocation committed on a", time.Since(revoked))
}

// Policies see a key's caller as subject.type "service".
func TestPoliciesSeeServiceSubjects(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")
	key := s.createKey(admin, s.createServiceAccount(admin, "bot", "admin"), map[string]any{"name": "k"})
	const rego = "package tenant.machines\n\ndeny contains \"machines do not read the user list\" if {\n\tinput.action == \"identity.user.read\"\n\tinput.subject.type == \"service\"\n}\n"
	status, raw := s.do(http.MethodPut, "/api/v1/policies/machines", admin, map[string]string{"rego": rego}, nil)
	require.Equal(t, http.StatusOK, status, string(raw))

	status, raw = s.do(http.MethodGet, "/api/v1/users", key.Key, nil, nil)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, string(raw), "machines do not read the user list")
	status, _ = s.do(http.MethodGet, "/api/v1/users", admin, nil, nil)
	assert.Equal(t, http.StatusOK, status, "users are not services")
	status, _ = s.do(http.MethodGet, "/api/v1/roles", key.Key, nil, nil)
	assert.Equal(t, http.StatusOK, status, "the rule is about the user list only")
}

// The service account list pages like every list: by name unless the
// client sorts otherwise, each account once, with the list query rules.
func TestServiceAccountsListInPages(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")
	names := []string{"echo", "alpha", "delta", "charlie", "bravo"}
	for _, n := range names {
		s.createServiceAccount(admin, n, "viewer")
	}
	slices.Sort(names)

	var seen []string
	path := "/api/v1/service-accounts?limit=2"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5, "the pages end")
		var page api.ServiceAccountList
		status, raw := s.do(http.MethodGet, path, admin, nil, &page)
		require.Equal(t, http.StatusOK, status, string(raw))
		assert.LessOrEqual(t, len(page.Items), 2)
		for _, a := range page.Items {
			seen = append(seen, a.Name)
		}
		if page.NextCursor == nil {
			break
		}
		path = "/api/v1/service-accounts?limit=2&cursor=" + *page.NextCursor
	}
	assert.Equal(t, names, seen, "every account once, by name")

	var newest api.ServiceAccountList
	status, raw := s.do(http.MethodGet, "/api/v1/service-accounts?sort=-created_at&limit=1", admin, nil, &newest)
	require.Equal(t, http.StatusOK, status, string(raw))
	require.Len(t, newest.Items, 1)
	assert.Equal(t, "bravo", newest.Items[0].Name)
	var one api.ServiceAccountList
	s.do(http.MethodGet, "/api/v1/service-accounts?name=delta", admin, nil, &one)
	require.Len(t, one.Items, 1)
	assert.Equal(t, "delta", one.Items[0].Name)

	for q, code := range map[string]string{
		"limit=0": "invalid_query", "limit=201": "invalid_query", "sort=roles": "invalid_query",
		"description=x": "invalid_query", "cursor=garbage": "invalid_cursor",
	} {
		status, raw := s.do(http.MethodGet, "/api/v1/service-accounts?"+q, admin, nil, nil)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %s", q, raw)
		var p api.Problem
		require.NoError(t, jsonUnmarshal(raw, &p))
		assert.Equal(t, code, p.Code, q)
	}
}

// Keys that do not prove out (a forged secret, a made-up key ID in a real
// tenant, another spelling of a real key) are the same 401 as a bad token,
// and leave no trace: nothing written, no audit record in the tenant's
// chain. A real key's use on a read is recorded as its last use.
func TestMadeUpKeysLeaveNoTrace(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")
	bot := s.createServiceAccount(admin, "bot", "admin")
	key := s.createKey(admin, bot, map[string]any{"name": "k"})

	flip := func(s string, i int) string {
		c := byte('0')
		if s[i] == '0' {
			c = '1'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	n := len(key.Key)
	forged := map[string]string{
		"another secret":        flip(key.Key, n-1),
		"a made-up key ID":      flip(key.Key, n-64-2),
		"upper case":            strings.ToUpper(key.Key[:4]) + key.Key[4:],
		"upper-case hex":        key.Key[:n-64] + strings.ToUpper(key.Key[n-64:]),
		"no secret":             key.Key[:n-65],
		"the prefix alone":      key.Prefix,
		"twice the secret":      key.Key + key.Key[n-64:],
		"the secret's hash hex": key.Key[:n-64] + strings.Repeat("ab", 32),
	}
	users, records := s.userCount(admin), len(s.auditLog(admin, ""))
	for name, k := range forged {
		status, raw := s.do(http.MethodPost, "/api/v1/users", k, map[string]any{"email": "x@acme.test", "password": userPassword}, nil)
		assert.Equal(t, http.StatusUnauthorized, status, "%s: %s", name, raw)
		status, _ = s.do(http.MethodGet, "/api/v1/auth/me", k, nil, nil)
		assert.Equal(t, http.StatusUnauthorized, status, name)
	}
	assert.Equal(t, users, s.userCount(admin), "nothing written")
	assert.Len(t, s.auditLog(admin, ""), records, "no record of callers never identified")

	var me map[string]any
	status, raw := s.do(http.MethodGet, "/api/v1/auth/me", key.Key, nil, &me)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.Eventually(t, func() bool {
		var keys api.KeyList
		s.do(http.MethodGet, "/api/v1/service-accounts/"+bot.ID.String()+"/keys", admin, nil, &keys)
		return len(keys.Items) == 1 && keys.Items[0].LastUsedAt != nil
	}, 2*time.Second, 20*time.Millisecond, "a read is the key's last use")
}
