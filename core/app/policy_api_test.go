package app_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/api/model"
	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
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

// A change that would deny its author the policy routes is refused with
// the reason; one that denies everything else is the tenant's right.
func TestAPolicyCannotLockItsAuthorOut(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")

	for name, rego := range map[string]string{
		"every policy action": "package tenant.lock\n\ndeny contains \"nobody manages policies\" if startswith(input.action, \"access.policy.\")\n",
		"reads only":          "package tenant.lock\n\ndeny contains \"policies are write-only\" if input.action == \"access.policy.read\"\n",
		"by address":          "package tenant.lock\n\ndeny contains \"only from the office\" if not net.cidr_contains(\"192.0.2.0/24\", input.request.ip)\n",
		"by spelling":         "package tenant.lock\n\ndeny contains \"no writes\" if lower(input.action) == \"access.policy.write\"\n",
	} {
		status, raw := s.do(http.MethodPut, "/api/v1/policies/lock", admin, map[string]string{"rego": rego}, nil)
		require.Equal(t, http.StatusUnprocessableEntity, status, name)
		assert.Equal(t, "policy_invalid", problemCode(t, raw), name)
		assert.Contains(t, string(raw), "would be denied to you", name)
	}
	var list api.PolicyList
	status, _ := s.do(http.MethodGet, "/api/v1/policies", admin, nil, &list)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, list.Items, "nothing was activated")

	// Everything but policy management denied: accepted, and in force.
	const lockdown = "package tenant.lockdown\n\ndeny contains \"locked down\" if not startswith(input.action, \"access.policy.\")\n"
	status, raw := s.do(http.MethodPut, "/api/v1/policies/lockdown", admin, map[string]string{"rego": lockdown}, nil)
	require.Equal(t, http.StatusOK, status, string(raw))
	status, _ = s.do(http.MethodGet, "/api/v1/users", admin, nil, nil)
	assert.Equal(t, http.StatusForbidden, status)
	status, _ = s.do(http.MethodDelete, "/api/v1/policies/lockdown", admin, nil, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = s.do(http.MethodGet, "/api/v1/users", admin, nil, nil)
	assert.Equal(t, http.StatusOK, status)
}

// A stored module that fails every decision (here one using a built-in
// refused since it was stored) denies everything, but a tenant admin can
// still read, delete and roll back policies, decided by the base policy
// alone; the audit record and the metrics say so.
func TestAFailingPolicyLeavesItsAdminsPolicyManagement(t *testing.T) {
	s := startServer(t)
	tn := s.createTenant(s.operatorToken(), "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")
	s.createUser(admin, "bob@acme.test", "member")
	_, bob := s.login("acme", "bob@acme.test", userPassword)
	for _, name := range []string{"legacy", "other"} {
		status, raw := s.do(http.MethodPut, "/api/v1/policies/"+name, admin, map[string]string{"rego": "package tenant." + name + "\n"}, nil)
		require.Equal(t, http.StatusOK, status, string(raw))
	}

	// Version 2, stored before json.marshal was refused, and made active.
	postgrestest.Exec(t, s.db, `INSERT INTO t_acme.policy_modules (name, version, rego, tests, active, created_at, created_by)
		VALUES ('legacy', 2, 'package tenant.legacy
deny contains json.marshal(input.resource) if input.resource.type == "secret"', '', false, now(), NULL)`)
	postgrestest.Exec(t, s.db, `UPDATE t_acme.policy_modules SET active = (version = 2) WHERE name = 'legacy'`)
	postgrestest.Exec(t, s.db, `UPDATE t_acme.policy_revision SET revision = revision + 1`)
	postgrestest.Exec(t, s.db, `SELECT pg_notify('atrium_policy', $1)`, tn.ID)

	require.Eventually(t, func() bool {
		status, _ := s.do(http.MethodGet, "/api/v1/users", admin, nil, nil)
		return status == http.StatusForbidden
	}, 10*time.Second, 50*time.Millisecond, "everything else fails closed")
	status, _ := s.do(http.MethodGet, "/api/v1/policies", bob, nil, nil)
	assert.Equal(t, http.StatusForbidden, status, "only admins fall back")

	var list api.PolicyList
	status, raw := s.do(http.MethodGet, "/api/v1/policies", admin, nil, &list)
	require.Equal(t, http.StatusOK, status, string(raw))
	require.Len(t, list.Items, 2)
	assert.Equal(t, 2, list.Items[0].Version)
	status, raw = s.do(http.MethodDelete, "/api/v1/policies/other", admin, nil, nil)
	require.Equal(t, http.StatusUnprocessableEntity, status, "the rest would not compile either")
	assert.Contains(t, string(raw), "legacy.rego:2: rego_type_error: undefined function json.marshal", "what broke")
	var m api.PolicyModule
	status, raw = s.do(http.MethodPost, "/api/v1/policies/legacy/rollback", admin, map[string]int{"version": 1}, &m)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.Equal(t, 1, m.Version)

	status, _ = s.do(http.MethodGet, "/api/v1/users", admin, nil, nil)
	assert.Equal(t, http.StatusOK, status, "repaired")

	// Broken again; this time the admin removes the module.
	postgrestest.Exec(t, s.db, `UPDATE t_acme.policy_modules SET active = false WHERE name = 'legacy'`)
	postgrestest.Exec(t, s.db, `UPDATE t_acme.policy_modules SET active = true WHERE name = 'legacy' AND version = 2`)
	postgrestest.Exec(t, s.db, `UPDATE t_acme.policy_revision SET revision = revision + 1`)
	postgrestest.Exec(t, s.db, `SELECT pg_notify('atrium_policy', $1)`, tn.ID)
	require.Eventually(t, func() bool {
		status, _ := s.do(http.MethodGet, "/api/v1/users", admin, nil, nil)
		return status == http.StatusForbidden
	}, 10*time.Second, 50*time.Millisecond)
	status, raw = s.do(http.MethodDelete, "/api/v1/policies/legacy", admin, nil, nil)
	require.Equal(t, http.StatusNoContent, status, string(raw))
	status, _ = s.do(http.MethodGet, "/api/v1/users", admin, nil, nil)
	assert.Equal(t, http.StatusOK, status, "repaired")
	rec := find(s.auditLog(admin, "action=access.policy.write"), "access.policy.write", audit.Success)
	require.NotNil(t, rec, "the rollback's record")
	assert.Contains(t, rec.PolicyVersion, "+tenant:bypassed")
	assert.Contains(t, string(rec.Details), "undefined function json.marshal", "the cause, in policy_fallback")
	_, metrics := get(t, s.base+"/metrics")
	assert.Regexp(t, `(?m)^atrium_policy_fallbacks_total [1-9]`, metrics)
}

// Operators can read a tenant's policy and roll back or remove a module,
// with a reason the tenant's audit log keeps beside the operator's name;
// tenant users cannot reach those routes, and a change without a reason
// changes nothing.
func TestOperatorsBreakGlassOnATenantsPolicy(t *testing.T) {
	s := startServer(t)
	op := s.operatorToken()
	s.createTenant(op, "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")
	const lockdown = "package tenant.lockdown\n\ndeny contains \"locked down\" if not startswith(input.action, \"access.policy.\")\n"
	for _, rego := range []string{"package tenant.lockdown\n", lockdown} {
		status, raw := s.do(http.MethodPut, "/api/v1/policies/lockdown", admin, map[string]string{"rego": rego}, nil)
		require.Equal(t, http.StatusOK, status, string(raw))
	}

	var list api.PolicyList
	status, raw := s.do(http.MethodGet, "/api/v1/tenants/acme/policies", op, nil, &list)
	require.Equal(t, http.StatusOK, status, string(raw))
	require.Len(t, list.Items, 1)
	assert.Equal(t, 2, list.Items[0].Version)
	for _, path := range []string{"/api/v1/tenants/acme/policies", "/api/v1/tenants/acme/policies/lockdown"} {
		status, _ = s.do(http.MethodGet, path, admin, nil, nil)
		assert.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed}, status, path)
	}
	status, _ = s.do(http.MethodDelete, "/api/v1/tenants/acme/policies/lockdown", admin, map[string]string{"reason": "me"}, nil)
	assert.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, status, "a tenant token is not an operator's")
	status, _ = s.do(http.MethodGet, "/api/v1/tenants/nope/policies", op, nil, nil)
	assert.Equal(t, http.StatusNotFound, status)

	// No reason, no change.
	for _, body := range []any{map[string]any{}, map[string]any{"reason": ""}, map[string]any{"reason": " \t\n"}, map[string]any{"version": 1}} {
		status, raw = s.do(http.MethodPost, "/api/v1/tenants/acme/policies/lockdown/rollback", op, body, nil)
		assert.Equal(t, http.StatusUnprocessableEntity, status, "%v: %s", body, raw)
		assert.Equal(t, "validation_failed", problemCode(t, raw))
		status, raw = s.do(http.MethodDelete, "/api/v1/tenants/acme/policies/lockdown", op, body, nil)
		assert.Equal(t, http.StatusUnprocessableEntity, status, "%v", body)
		assert.Equal(t, "validation_failed", problemCode(t, raw), "a missing reason, or the version it does not take")
	}
	status, raw = s.do(http.MethodDelete, "/api/v1/tenants/acme/policies/lockdown", op, nil, nil)
	assert.Equal(t, http.StatusBadRequest, status, "no body: %s", raw)
	status, _ = s.do(http.MethodGet, "/api/v1/users", admin, nil, nil)
	require.Equal(t, http.StatusForbidden, status, "still locked down")

	// A change whose record cannot be written does not happen.
	role := postgrestest.Exec(t, s.db, "SELECT role_name FROM atrium.tenants WHERE slug = 'acme'")
	postgrestest.Exec(t, s.db, `REVOKE EXECUTE ON FUNCTION t_acme.audit_append(text, bytea) FROM "`+role+`"`)
	status, raw = s.do(http.MethodDelete, "/api/v1/tenants/acme/policies/lockdown", op, map[string]any{"reason": "unrecorded"}, nil)
	assert.Equal(t, http.StatusServiceUnavailable, status, string(raw))
	postgrestest.Exec(t, s.db, `GRANT EXECUTE ON FUNCTION t_acme.audit_append(text, bytea) TO "`+role+`"`)
	status, _ = s.do(http.MethodGet, "/api/v1/tenants/acme/policies", op, nil, &list)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, list.Items, 1, "still there")

	var m api.PolicyModule
	status, raw = s.do(http.MethodPost, "/api/v1/tenants/acme/policies/lockdown/rollback", op,
		map[string]any{"version": 1, "reason": "INC-42: tenant locked out"}, &m)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.Equal(t, 1, m.Version)
	status, _ = s.do(http.MethodGet, "/api/v1/users", admin, nil, nil)
	assert.Equal(t, http.StatusOK, status, "rolled back")
	status, raw = s.do(http.MethodDelete, "/api/v1/tenants/acme/policies/lockdown", op, map[string]any{"reason": "INC-42: cleanup"}, nil)
	require.Equal(t, http.StatusNoContent, status, string(raw))
	status, _ = s.do(http.MethodGet, "/api/v1/tenants/acme/policies", op, nil, &list)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, list.Items)
	status, _ = s.do(http.MethodDelete, "/api/v1/tenants/acme/policies/lockdown", op, map[string]any{"reason": "again"}, nil)
	assert.Equal(t, http.StatusNotFound, status)

	var details []string
	for _, r := range s.auditLog(admin, "action=access.policy.write") {
		if r.Actor.Type == "operator" && r.Outcome == string(audit.Success) {
			assert.Equal(t, model.AuditResource{Type: "policy", ID: "lockdown"}, r.Resource)
			details = append(details, string(r.Details))
		}
	}
	require.Len(t, details, 2, "the rollback and the delete, as the operator's, once each")
	assert.JSONEq(t, `{"fields": {"reason": "INC-42: cleanup"}}`, details[0], "newest first")
	assert.JSONEq(t, `{"fields": {"version": 1, "reason": "INC-42: tenant locked out"}}`, details[1])
}
