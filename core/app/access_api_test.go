package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
)

const userPassword = "a user password"

func (s *server) createUser(admin, email string, roles ...string) api.UserResponse {
	s.t.Helper()
	var u api.UserResponse
	status, raw := s.do(http.MethodPost, "/api/v1/users", admin, map[string]any{"email": email, "password": userPassword, "roles": roles}, &u)
	require.Equal(s.t, http.StatusCreated, status, string(raw))
	return u
}

func TestUsersRolesAndPermissions(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")

	bob := s.createUser(admin, "bob@acme.test", "viewer")
	assert.Equal(t, []string{"viewer"}, bob.Roles)
	_, bobTok := s.login("acme", "bob@acme.test", userPassword)

	// A viewer holds no identity permissions; the registry is open to any user.
	status, raw := s.do(http.MethodGet, "/api/v1/users", bobTok, nil, nil)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "forbidden", problemCode(t, raw))
	var perms api.PermissionList
	status, _ = s.do(http.MethodGet, "/api/v1/permissions", bobTok, nil, &perms)
	require.Equal(t, http.StatusOK, status)
	assert.NotEmpty(t, perms.Items)

	var users api.UserList
	status, _ = s.do(http.MethodGet, "/api/v1/users?sort=email", admin, nil, &users)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, users.Items, 2)
	assert.Equal(t, "admin@acme.test", users.Items[0].Email)

	// A custom role granting one permission takes effect on bob's next request.
	var role api.RoleResponse
	status, raw = s.do(http.MethodPost, "/api/v1/roles", admin, map[string]any{"name": "auditor", "permissions": []string{"identity.user.read"}}, &role)
	require.Equal(t, http.StatusCreated, status, string(raw))
	status, _ = s.do(http.MethodPut, "/api/v1/users/"+bob.ID.String()+"/roles", admin, map[string]any{"roles": []string{"auditor"}}, nil)
	require.Equal(t, http.StatusOK, status)
	status, _ = s.do(http.MethodGet, "/api/v1/users", bobTok, nil, nil)
	assert.Equal(t, http.StatusOK, status)

	// Unknown permissions and roles are 422s naming them; built-ins are fixed.
	status, raw = s.do(http.MethodPut, "/api/v1/roles/auditor", admin, map[string]any{"permissions": []string{"identity.user.read", "projects.nope.read"}}, nil)
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Contains(t, string(raw), "unknown permission projects.nope.read")
	status, raw = s.do(http.MethodPut, "/api/v1/users/"+bob.ID.String()+"/roles", admin, map[string]any{"roles": []string{"ghost"}}, nil)
	assert.Equal(t, http.StatusUnprocessableEntity, status, string(raw))
	for _, name := range []string{"admin", "member", "viewer"} {
		status, _ = s.do(http.MethodDelete, "/api/v1/roles/"+name, admin, nil, nil)
		assert.Equal(t, http.StatusConflict, status, name)
	}
	var viewer api.RoleResponse
	s.do(http.MethodGet, "/api/v1/roles/viewer", admin, nil, &viewer)
	assert.True(t, viewer.Builtin)
	assert.NotContains(t, viewer.Permissions, "identity.user.read")

	// Deleting the custom role takes it from bob at once.
	status, _ = s.do(http.MethodDelete, "/api/v1/roles/auditor", admin, nil, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = s.do(http.MethodGet, "/api/v1/users", bobTok, nil, nil)
	assert.Equal(t, http.StatusForbidden, status)

	// Members read users but do not administer them.
	s.createUser(admin, "carol@acme.test", "member")
	_, carol := s.login("acme", "carol@acme.test", userPassword)
	status, _ = s.do(http.MethodGet, "/api/v1/users", carol, nil, nil)
	assert.Equal(t, http.StatusOK, status)
	status, _ = s.do(http.MethodPost, "/api/v1/users", carol, map[string]any{"email": "x@acme.test", "password": userPassword}, nil)
	assert.Equal(t, http.StatusForbidden, status)

	// Duplicates and self-deletion are conflicts; refused requests write nothing.
	status, _ = s.do(http.MethodPost, "/api/v1/users", admin, map[string]any{"email": "BOB@acme.test", "password": userPassword}, nil)
	assert.Equal(t, http.StatusConflict, status)
	var me api.MeResponse
	s.do(http.MethodGet, "/api/v1/auth/me", admin, nil, &me)
	status, _ = s.do(http.MethodDelete, "/api/v1/users/"+me.User.ID.String(), admin, nil, nil)
	assert.Equal(t, http.StatusConflict, status)
	s.do(http.MethodGet, "/api/v1/users", admin, nil, &users)
	assert.Len(t, users.Items, 3)

	status, _ = s.do(http.MethodDelete, "/api/v1/users/"+bob.ID.String(), admin, nil, nil)
	assert.Equal(t, http.StatusNoContent, status)
	status, _ = s.do(http.MethodGet, "/api/v1/users/"+bob.ID.String(), admin, nil, nil)
	assert.Equal(t, http.StatusNotFound, status)
}

// Two replicas on one database: a role change made through one is seen by
// the other, whose resolver had the old answer cached.
func TestRoleChangesReachOtherReplicas(t *testing.T) {
	a := startServer(t)
	b := startServerOn(t, a.db)
	a.createTenant(a.operatorToken(), "acme")
	_, admin := a.login("acme", "admin@acme.test", "tenant admin password")
	dana := a.createUser(admin, "dana@acme.test", "member")
	_, danaTok := b.login("acme", "dana@acme.test", userPassword)

	status, _ := b.do(http.MethodGet, "/api/v1/users", danaTok, nil, nil)
	require.Equal(t, http.StatusOK, status, "cached on b: member reads users")

	status, _ = a.do(http.MethodPut, "/api/v1/users/"+dana.ID.String()+"/roles", admin, map[string]any{"roles": []string{"viewer"}}, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Eventually(t, func() bool {
		status, _ := b.do(http.MethodGet, "/api/v1/users", danaTok, nil, nil)
		return status == http.StatusForbidden
	}, 3*time.Second, 20*time.Millisecond, "b learns of the change")
}

// Sessions revoked on one replica stop working on the others, whose cached
// standing a notification empties: a logout, and a password change.
func TestRevocationsReachOtherReplicas(t *testing.T) {
	a := startServer(t)
	b := startServerOn(t, a.db)
	a.createTenant(a.operatorToken(), "acme")
	_, admin := a.login("acme", "admin@acme.test", "tenant admin password")
	erin := a.createUser(admin, "erin@acme.test", "member")
	_, first := b.login("acme", "erin@acme.test", userPassword)
	_, second := b.login("acme", "erin@acme.test", userPassword)
	for _, tok := range []string{first, second} {
		status, _ := b.do(http.MethodGet, "/api/v1/auth/me", tok, nil, nil)
		require.Equal(t, http.StatusOK, status, "standing cached on b")
	}

	status, _ := a.do(http.MethodPost, "/api/v1/auth/logout", first, nil, nil)
	require.Equal(t, http.StatusNoContent, status)
	assert.Eventually(t, func() bool {
		status, _ := b.do(http.MethodGet, "/api/v1/auth/me", first, nil, nil)
		return status == http.StatusUnauthorized
	}, 3*time.Second, 20*time.Millisecond, "b learns of the logout")

	status, _ = a.do(http.MethodPatch, "/api/v1/users/"+erin.ID.String(), admin, map[string]any{"password": "a brand new password"}, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Eventually(t, func() bool {
		status, _ := b.do(http.MethodGet, "/api/v1/auth/me", second, nil, nil)
		return status == http.StatusUnauthorized
	}, 3*time.Second, 20*time.Millisecond, "b learns of the password change")
}
