package app_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

const noMemberReads = `package tenant.readers

deny contains "members no longer read the user list" if {
	input.action == "identity.user.read"
	"member" in input.subject.roles
}
`

const noMemberReadsTests = `package tenant.readers_test

import data.tenant.readers

test_member_denied if {
	count(readers.deny) == 1 with input as {"action": "identity.user.read", "subject": {"roles": ["member"]}}
}
`

// A shadow version that would deny members' reads leaves them working on
// every replica, reports the disagreements from both, and rules once
// promoted.
func TestShadowPolicyVersionRehearsesThenRules(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	db := postgrestest.NewDatabase(t)
	s1 := startServerOn(t, db)
	s2 := startServerOn(t, db)
	s1.createTenant(s1.operatorToken(), "acme")
	_, admin := s1.login("acme", "admin@acme.test", "tenant admin password")
	s1.createUser(admin, "mia@acme.test", "member")
	_, mia := s1.login("acme", "mia@acme.test", userPassword)

	// Refused shadow versions store nothing; a wrong mode is a 422.
	status, raw := s1.do(http.MethodPut, "/api/v1/policies/readers", admin, map[string]string{"rego": "package tenant.readers\n\ndeny contains", "mode": "shadow"}, nil)
	require.Equal(t, http.StatusUnprocessableEntity, status, string(raw))
	assert.Equal(t, "policy_invalid", problemCode(t, raw))
	status, raw = s1.do(http.MethodPut, "/api/v1/policies/readers", admin, map[string]string{"rego": noMemberReads, "mode": "dry"}, nil)
	require.Equal(t, http.StatusUnprocessableEntity, status, string(raw))
	assert.Equal(t, "validation_failed", problemCode(t, raw))
	status, _ = s1.do(http.MethodGet, "/api/v1/policies/readers/shadow", admin, nil, nil)
	require.Equal(t, http.StatusNotFound, status)

	var m api.PolicyModule
	status, raw = s1.do(http.MethodPut, "/api/v1/policies/readers", admin,
		map[string]string{"rego": noMemberReads, "tests": noMemberReadsTests, "mode": "shadow"}, &m)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.Equal(t, 1, m.Version)
	assert.False(t, m.Active)
	var list api.PolicyList
	s1.do(http.MethodGet, "/api/v1/policies", admin, nil, &list)
	assert.Empty(t, list.Items, "a shadow version is not active")

	// A dry run answers from the active version; and the policy it compiles
	// (cached for the decisions after it) carries the shadow version.
	var d api.EvaluateResponse
	status, raw = s1.do(http.MethodPost, "/api/v1/policies/evaluate", admin, map[string]any{
		"subject": map[string]any{"roles": []string{"member"}}, "action": "identity.user.read"}, &d)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.True(t, d.Allow)

	// A second module cannot be shadowed meanwhile.
	status, raw = s2.do(http.MethodPut, "/api/v1/policies/other", admin, map[string]string{"rego": "package tenant.other\n", "mode": "shadow"}, nil)
	require.Equal(t, http.StatusConflict, status, string(raw))

	// Reads keep working on both replicas while the shadow version disagrees.
	for i := 0; i < 3; i++ {
		for _, s := range []*server{s1, s2} {
			status, raw = s.do(http.MethodGet, "/api/v1/users", mia, nil, nil)
			require.Equal(t, http.StatusOK, status, string(raw))
		}
	}
	status, _ = s2.do(http.MethodGet, "/api/v1/users", admin, nil, nil)
	require.Equal(t, http.StatusOK, status)

	// The report, asked of one replica, holds both replicas' comparisons
	// (each adds its own to the database every second).
	var r api.ShadowReport
	require.Eventually(t, func() bool {
		status, raw = s1.do(http.MethodGet, "/api/v1/policies/readers/shadow", admin, nil, &r)
		require.Equal(t, http.StatusOK, status, string(raw))
		return r.ByAction["identity.user.read"].Disagreements >= 6
	}, 10*time.Second, 100*time.Millisecond, "report: %s", raw)
	assert.Equal(t, int64(6), r.ByAction["identity.user.read"].Disagreements, "the six member reads, not the admin's")
	assert.GreaterOrEqual(t, r.ByAction["identity.user.read"].Decisions, int64(7))
	assert.Equal(t, r.Disagreements, int64(6), "only the member's reads disagreed")
	assert.Greater(t, r.Decisions, r.Disagreements)
	require.Len(t, r.Samples, 6)
	sample := r.Samples[0]
	assert.Equal(t, "identity.user.read", sample.Action)
	assert.Equal(t, "mia@acme.test", sample.Subject.Email)
	assert.Equal(t, []string{"member"}, sample.Subject.Roles)
	assert.True(t, sample.Live)
	assert.False(t, sample.Shadow)
	assert.Equal(t, []string{"members no longer read the user list"}, sample.Reasons)
	assert.Equal(t, 3.0, s1.metric(`atrium_policy_shadow_disagreements_total{live="allow"}`), "this replica's three")
	assert.Equal(t, 3.0, s2.metric(`atrium_policy_shadow_disagreements_total{live="allow"}`), "and the other's")

	// Promotion, on the other replica, makes it rule everywhere; it is
	// audited; the report is gone.
	status, raw = s2.do(http.MethodPost, "/api/v1/policies/readers/promote", admin, nil, &m)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.True(t, m.Active)
	assert.Equal(t, 1, m.Version)
	for _, s := range []*server{s2, s1} {
		require.Eventually(t, func() bool {
			status, _ := s.do(http.MethodGet, "/api/v1/users", mia, nil, nil)
			return status == http.StatusForbidden
		}, 5*time.Second, 50*time.Millisecond)
	}
	status, _ = s1.do(http.MethodGet, "/api/v1/policies/readers/shadow", admin, nil, nil)
	assert.Equal(t, http.StatusNotFound, status)
	promoted := find(s1.auditLog(admin, ""), "access.policy.write", audit.Success)
	require.NotNil(t, promoted)
	var details map[string]any
	require.NoError(t, json.Unmarshal(promoted.Details, &details))
	assert.EqualValues(t, 1, details["promoted_shadow_version"])
	assert.Equal(t, "readers", promoted.Resource.ID)

	// A shadow version that lifts the rule, dropped: nothing changes.
	status, raw = s1.do(http.MethodPut, "/api/v1/policies/readers", admin, map[string]string{"rego": "package tenant.readers\n", "mode": "shadow"}, &m)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.Equal(t, 2, m.Version)
	status, _ = s1.do(http.MethodDelete, "/api/v1/policies/readers/shadow", admin, nil, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = s1.do(http.MethodDelete, "/api/v1/policies/readers/shadow", admin, nil, nil)
	require.Equal(t, http.StatusNotFound, status)
	status, _ = s1.do(http.MethodGet, "/api/v1/users", mia, nil, nil)
	assert.Equal(t, http.StatusForbidden, status, "version 1 still rules")
	status, _ = s1.do(http.MethodPost, "/api/v1/policies/readers/promote", admin, nil, nil)
	assert.Equal(t, http.StatusNotFound, status)
}
