package app_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
)

const guardPolicy = `package tenant.guard

deny contains "contractors do not read the user list" if {
	input.action == "identity.user.read"
	endswith(input.subject.email, "@contractor.test")
}
`

const guardTests = `package tenant.guard_test

import data.tenant.guard

test_contractor_denied if {
	guard.deny["contractors do not read the user list"] with input as {"action": "identity.user.read", "subject": {"email": "x@contractor.test"}}
}

test_staff_not_denied if {
	count(guard.deny) == 0 with input as {"action": "identity.user.read", "subject": {"email": "x@acme.test"}}
}
`

func TestTenantPoliciesThroughTheAPI(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")
	s.createUser(admin, "eve@contractor.test", "member")
	_, eve := s.login("acme", "eve@contractor.test", userPassword)

	status, _ := s.do(http.MethodGet, "/api/v1/users", eve, nil, nil)
	require.Equal(t, http.StatusOK, status, "members read users")

	// A policy whose own tests pass is activated and takes effect.
	var m api.PolicyModule
	status, raw := s.do(http.MethodPut, "/api/v1/policies/guard", admin, map[string]string{"rego": guardPolicy, "tests": guardTests}, &m)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.Equal(t, 1, m.Version)
	assert.True(t, m.Active)
	status, raw = s.do(http.MethodGet, "/api/v1/users", eve, nil, nil)
	assert.Equal(t, http.StatusForbidden, status)
	assert.Contains(t, string(raw), "contractors do not read the user list")
	status, _ = s.do(http.MethodGet, "/api/v1/users", admin, nil, nil)
	assert.Equal(t, http.StatusOK, status, "the rule denies contractors only")

	// Refused uploads: failing tests, network access, the base package; the active version stays.
	for name, body := range map[string]map[string]string{
		"failing tests": {"rego": guardPolicy, "tests": "package tenant.guard_test\n\nimport data.tenant.guard\n\ntest_wrong if {\n\tcount(guard.deny) == 1 with input as {}\n}\n"},
		"http.send":     {"rego": "package tenant.guard\n\ndeny contains r if {\n\tr := http.send({\"method\": \"get\", \"url\": \"http://127.0.0.1:1\"}).body\n}\n"},
		"base package":  {"rego": "package atrium.base\n\nallow if true\n"},
	} {
		status, raw = s.do(http.MethodPut, "/api/v1/policies/guard", admin, body, nil)
		assert.Equal(t, http.StatusUnprocessableEntity, status, name)
		assert.Equal(t, "policy_invalid", problemCode(t, raw), name)
	}
	status, _ = s.do(http.MethodGet, "/api/v1/users", eve, nil, nil)
	assert.Equal(t, http.StatusForbidden, status, "the active version stayed")

	// A tenant policy cannot grant what the base keeps to admins.
	const grant = "package tenant.grant\n\nallow contains \"everyone administers users\" if {\n\tinput.action == \"identity.user.create\"\n}\n"
	status, raw = s.do(http.MethodPut, "/api/v1/policies/grant", admin, map[string]string{"rego": grant}, nil)
	require.Equal(t, http.StatusOK, status, string(raw))
	status, _ = s.do(http.MethodPost, "/api/v1/users", eve, map[string]any{"email": "z@acme.test", "password": userPassword}, nil)
	assert.Equal(t, http.StatusForbidden, status, "identity.* is not grantable by tenants")

	// Dry run with an explanation, for a hypothetical subject.
	var d api.EvaluateResponse
	status, raw = s.do(http.MethodPost, "/api/v1/policies/evaluate", admin, map[string]any{
		"subject": map[string]any{"email": "x@contractor.test", "roles": []string{"member"}},
		"action":  "identity.user.read", "explain": true,
	}, &d)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.False(t, d.Allow)
	assert.Contains(t, d.Reasons, "contractors do not read the user list")
	assert.NotEmpty(t, d.PolicyVersion)
	assert.NotEmpty(t, d.Explanation)

	// Versions, rollback to none-denying v1 of a changed module, and delete.
	const lenient = "package tenant.guard\n\ndeny contains \"nobody\" if {\n\tinput.action == \"no.such.action\"\n}\n"
	s.do(http.MethodPut, "/api/v1/policies/guard", admin, map[string]string{"rego": lenient}, nil)
	status, _ = s.do(http.MethodGet, "/api/v1/users", eve, nil, nil)
	assert.Equal(t, http.StatusOK, status, "version 2 denies nothing here")
	var versions api.PolicyList
	s.do(http.MethodGet, "/api/v1/policies/guard/versions", admin, nil, &versions)
	assert.Len(t, versions.Items, 2)
	status, raw = s.do(http.MethodPost, "/api/v1/policies/guard/rollback", admin, map[string]int{"version": 1}, nil)
	require.Equal(t, http.StatusOK, status, string(raw))
	status, _ = s.do(http.MethodGet, "/api/v1/users", eve, nil, nil)
	assert.Equal(t, http.StatusForbidden, status, "rolled back to version 1")
	status, _ = s.do(http.MethodDelete, "/api/v1/policies/guard", admin, nil, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = s.do(http.MethodGet, "/api/v1/users", eve, nil, nil)
	assert.Equal(t, http.StatusOK, status)

	// Only admins administer policies.
	status, _ = s.do(http.MethodGet, "/api/v1/policies", eve, nil, nil)
	assert.Equal(t, http.StatusForbidden, status)
}
