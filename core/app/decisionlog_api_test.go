package app_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/audit"
)

// With the tenant's decision log on, "who was allowed to read this user
// last week, under which policy version" is an audit list query; off, reads
// leave no record. Bad settings are refused and change nothing.
func TestDecisionLogAnswersWhoReadWhat(t *testing.T) {
	s := startServer(t)
	op := s.operatorToken()
	s.createTenant(op, "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")
	target := s.createUser(admin, "target@acme.test", "member")
	mia := s.createUser(admin, "mia@acme.test", "member")
	_, miaTok := s.login("acme", "mia@acme.test", userPassword)
	path := "/api/v1/users/" + target.ID.String()
	readsOf := func() []api.AuditRecord {
		since := url.QueryEscape(time.Now().Add(-7 * 24 * time.Hour).Format(time.RFC3339))
		return s.auditLog(admin, "action=identity.user.read&outcome=success&resource_id="+target.ID.String()+"&since="+since)
	}

	// Off (the default): a read is not recorded.
	status, _ := s.do(http.MethodGet, path, miaTok, nil, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, readsOf())

	for _, bad := range []map[string]any{
		{"decision_log": "everything"},
		{"decision_log": "all", "decision_log_sample": 2},
		{"decision_log_sample": "half"},
	} {
		status, raw := s.do(http.MethodPatch, "/api/v1/tenants/acme", op, map[string]any{"settings": bad}, nil)
		require.Equal(t, http.StatusUnprocessableEntity, status, "%v: %s", bad, raw)
		assert.Equal(t, "validation_failed", problemCode(t, raw))
	}
	var tn api.TenantResponse
	status, raw := s.do(http.MethodPatch, "/api/v1/tenants/acme", op, map[string]any{"settings": map[string]any{"decision_log": "all"}}, &tn)
	require.Equal(t, http.StatusOK, status, string(raw))

	// On: each allowed read is in the chain, with its reader and policy version.
	for range 2 {
		status, _ = s.do(http.MethodGet, path, miaTok, nil, nil)
		require.Equal(t, http.StatusOK, status)
	}
	status, _ = s.do(http.MethodGet, path, admin, nil, nil)
	require.Equal(t, http.StatusOK, status)
	reads := readsOf()
	require.Len(t, reads, 3)
	byMia := 0
	for _, r := range reads {
		assert.Equal(t, string(audit.Success), r.Outcome)
		assert.Equal(t, "user", r.Resource.Type)
		assert.Regexp(t, `^base:.+\+tenant:\d+$`, r.PolicyVersion)
		var details map[string]any
		require.NoError(t, json.Unmarshal(r.Details, &details))
		assert.Equal(t, true, details["decision_log"])
		if r.Actor.ID == mia.ID.String() {
			byMia++
			assert.Equal(t, "mia@acme.test", r.Actor.Email)
		}
	}
	assert.Equal(t, 2, byMia)
	var v audit.Verification
	status, raw = s.do(http.MethodGet, "/api/v1/audit/verify", admin, nil, &v)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.True(t, v.OK, v.Problem)

	// Sampled at 0: none recorded.
	status, _ = s.do(http.MethodPatch, "/api/v1/tenants/acme", op, map[string]any{"settings": map[string]any{"decision_log": "all", "decision_log_sample": 0}}, nil)
	require.Equal(t, http.StatusOK, status)
	status, _ = s.do(http.MethodGet, path, miaTok, nil, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, readsOf(), 3)
}

// TestDecisionLogCost measures a read's latency through the HTTP API with
// the decision log off and recording every allowed read (figures in
// docs/operations.md). It only measures: run it with ATRIUM_MEASURE=1 -v.
func TestDecisionLogCost(t *testing.T) {
	if os.Getenv("ATRIUM_MEASURE") == "" {
		t.Skip("a measurement: set ATRIUM_MEASURE=1")
	}
	s := startServer(t)
	op := s.operatorToken()
	s.createTenant(op, "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")
	target := s.createUser(admin, "target@acme.test", "member")
	path := "/api/v1/users/" + target.ID.String()
	const n = 500
	for round := range 2 {
		for _, mode := range []string{"off", "all"} {
			status, _ := s.do(http.MethodPatch, "/api/v1/tenants/acme", op, map[string]any{"settings": map[string]any{"decision_log": mode}}, nil)
			require.Equal(t, http.StatusOK, status)
			durations := make([]time.Duration, 0, n)
			for range n {
				start := time.Now()
				status, _ := s.do(http.MethodGet, path, admin, nil, nil)
				durations = append(durations, time.Since(start))
				require.Equal(t, http.StatusOK, status)
			}
			slices.Sort(durations)
			t.Logf("round %d, decision log %s: p50 %v, p99 %v over %d reads", round+1, mode, durations[n/2], durations[n*99/100], n)
		}
	}
}
