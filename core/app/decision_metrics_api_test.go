package app_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// metric returns the value of the metric line that starts with series, or
// -1 when there is none.
func (s *server) metric(series string) float64 {
	s.t.Helper()
	return metricAt(s.t, s.base, series)
}

// metricAt reads the metric line that starts with series from the
// /metrics of the server at base, or -1 when there is none.
func metricAt(t *testing.T, base, series string) float64 {
	t.Helper()
	status, body := get(t, base+"/metrics")
	require.Equal(t, http.StatusOK, status)
	for line := range strings.Lines(body) {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			require.NoError(t, err, line)
			return v
		}
	}
	return -1
}

// Decisions are counted by outcome and timed, every cache the core keeps
// counts its lookups, and database statements are timed.
func TestDecisionCacheAndQueryMetrics(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	_, admin := s.login("acme", "admin@acme.test", "tenant admin password")
	s.createUser(admin, "vic@acme.test", "viewer")
	_, vic := s.login("acme", "vic@acme.test", userPassword)

	allowed := s.metric(`atrium_policy_decisions_total{outcome="allow",source="policy"}`)
	denied := max(s.metric(`atrium_policy_decisions_total{outcome="deny",source="policy"}`), 0)
	timed := s.metric("atrium_policy_decision_duration_seconds_count")
	tokenHits := max(s.metric(`atrium_cache_requests_total{cache="tokens",result="hit"}`), 0)
	for range 3 {
		status, _ := s.do(http.MethodGet, "/api/v1/users", admin, nil, nil)
		require.Equal(t, http.StatusOK, status)
		status, _ = s.do(http.MethodGet, "/api/v1/users", vic, nil, nil) // viewers do not read users
		require.Equal(t, http.StatusForbidden, status)
	}
	assert.GreaterOrEqual(t, s.metric(`atrium_policy_decisions_total{outcome="allow",source="policy"}`)-allowed, 3.0)
	assert.Equal(t, 3.0, s.metric(`atrium_policy_decisions_total{outcome="deny",source="policy"}`)-denied)
	assert.GreaterOrEqual(t, s.metric("atrium_policy_decision_duration_seconds_count")-timed, 6.0)
	assert.GreaterOrEqual(t, s.metric(`atrium_cache_requests_total{cache="tokens",result="hit"}`)-tokenHits, 5.0,
		"the second and later uses of each token")
	for _, c := range []string{"tokens", "tenants", "standing", "roles", "policies", "plugin"} {
		for _, r := range []string{"hit", "miss"} {
			assert.GreaterOrEqual(t, s.metric(`atrium_cache_requests_total{cache="`+c+`",result="`+r+`"}`), 0.0, c+" "+r)
		}
	}
	assert.Greater(t, s.metric(`atrium_cache_requests_total{cache="roles",result="hit"}`), 0.0)
	assert.Greater(t, s.metric(`atrium_cache_requests_total{cache="policies",result="hit"}`), 0.0)
	assert.Greater(t, s.metric(`atrium_cache_requests_total{cache="tenants",result="hit"}`), 0.0)
	assert.Greater(t, s.metric("atrium_db_query_duration_seconds_count"), 0.0)
	assert.Equal(t, 0.0, s.metric("atrium_policy_shadow_skipped_total"))
}
