package app_test

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/api/model"
	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

func (s *server) auditLog(token, query string) []api.AuditRecord {
	s.t.Helper()
	var list api.AuditList
	status, raw := s.do(http.MethodGet, "/api/v1/audit?limit=200&"+query, token, nil, &list)
	require.Equal(s.t, http.StatusOK, status, string(raw))
	return list.Items
}

func find(recs []api.AuditRecord, action string, outcome audit.Outcome) *api.AuditRecord {
	i := slices.IndexFunc(recs, func(r api.AuditRecord) bool { return r.Action == action && r.Outcome == string(outcome) })
	if i < 0 {
		return nil
	}
	return &recs[i]
}

func TestAuditRecordsMutationsRefusalsAndSignIns(t *testing.T) {
	s := startServer(t)
	op := s.operatorToken()
	s.createTenant(op, "acme")
	admin := s.signIn("acme", "admin@acme.test", adminPassword).AccessToken
	status, _ := s.login("acme", "admin@acme.test", "not the password")
	require.Equal(t, http.StatusUnauthorized, status)
	bob := s.createUser(admin, "bob@acme.test", "viewer")
	_, bobTok := s.login("acme", "bob@acme.test", userPassword)

	// A refusal, and a failed mutation.
	status, _ = s.do(http.MethodPost, "/api/v1/users", bobTok, map[string]any{"email": "eve@acme.test", "password": userPassword}, nil,
		"User-Agent", "audit-test/1.0")
	require.Equal(t, http.StatusForbidden, status)
	status, _ = s.do(http.MethodPost, "/api/v1/users", admin, map[string]any{"email": "bob@acme.test", "password": userPassword}, nil)
	require.Equal(t, http.StatusConflict, status)
	status, _ = s.do(http.MethodPatch, "/api/v1/tenants/acme", op, map[string]any{"name": "Acme Corp"}, nil)
	require.Equal(t, http.StatusOK, status)

	recs := s.auditLog(admin, "")
	for i := 1; i < len(recs); i++ {
		require.NotNil(t, recs[i].Seq, "every record is sealed by the time it is read")
		assert.Equal(t, *recs[i-1].Seq-1, *recs[i].Seq, "newest first, no gaps")
		assert.Equal(t, *recs[i-1].PrevHash, *recs[i].Hash, "each record points at its predecessor")
	}

	i := slices.IndexFunc(recs, func(r api.AuditRecord) bool {
		return r.Action == "identity.session.login" && r.Outcome == string(audit.Success) && r.Actor.Email == "admin@acme.test"
	})
	require.GreaterOrEqual(t, i, 0, "the admin's sign-in")
	login := recs[i]
	assert.Equal(t, "127.0.0.1", login.IP)

	failed := find(recs, "identity.session.login", audit.Deny)
	require.NotNil(t, failed)
	assert.Equal(t, model.AuditActor{Type: "anonymous", Email: "admin@acme.test"}, failed.Actor)
	assert.Equal(t, []string{"wrong password"}, failed.Reasons)

	created := find(recs, "identity.user.create", audit.Success)
	require.NotNil(t, created)
	assert.Equal(t, model.AuditResource{Type: "user", ID: bob.ID.String()}, created.Resource)
	assert.JSONEq(t, `{"fields": {"email": "bob@acme.test", "password": "***", "roles": ["viewer"]}}`, string(created.Details),
		"the fields set, the password masked")
	assert.NotEmpty(t, created.RequestID)
	assert.NotEmpty(t, created.PolicyVersion)

	denied := find(recs, "identity.user.create", audit.Deny)
	require.NotNil(t, denied)
	assert.Equal(t, "bob@acme.test", denied.Actor.Email)
	assert.NotEmpty(t, denied.Reasons)
	assert.NotEmpty(t, denied.PolicyVersion)
	assert.Equal(t, "audit-test/1.0", denied.UserAgent)

	conflict := find(recs, "identity.user.create", audit.Failure)
	require.NotNil(t, conflict)
	assert.Contains(t, conflict.Reasons[0], "conflict")

	renamed := find(recs, "tenancy.tenant.update", audit.Success)
	require.NotNil(t, renamed, "an operator's change is in the tenant's log")
	assert.Equal(t, "operator", renamed.Actor.Type)

	// Reads are not recorded; filters narrow the list.
	assert.Nil(t, find(recs, "identity.user.read", audit.Success))
	denies := s.auditLog(admin, "outcome=deny")
	require.NotEmpty(t, denies)
	for _, r := range denies {
		assert.Equal(t, string(audit.Deny), r.Outcome)
	}
	mine := s.auditLog(admin, "actor="+bob.ID.String())
	require.NotEmpty(t, mine)
	for _, r := range mine {
		assert.Equal(t, bob.ID.String(), r.Actor.ID)
	}
	future := s.auditLog(admin, "since="+url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339)))
	assert.Empty(t, future)

	for _, q := range []string{"nope=1", "since=yesterday", "outcome=maybe", "cursor=forged"} {
		status, raw := s.do(http.MethodGet, "/api/v1/audit?"+q, admin, nil, nil)
		assert.Equal(t, http.StatusBadRequest, status, q+": "+string(raw))
	}

	// The log is the admins': a viewer's attempt is refused, and recorded.
	status, _ = s.do(http.MethodGet, "/api/v1/audit", bobTok, nil, nil)
	assert.Equal(t, http.StatusForbidden, status)
	assert.NotNil(t, find(s.auditLog(admin, "outcome=deny"), "audit.log.read", audit.Deny))

	var v audit.Verification
	status, raw := s.do(http.MethodGet, "/api/v1/audit/verify", admin, nil, &v)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.True(t, v.OK, v.Problem)
	assert.GreaterOrEqual(t, v.RecordsChecked, int64(len(recs)))

	// Operators read and verify a tenant's log, and sign checkpoints.
	var opList api.AuditList
	status, _ = s.do(http.MethodGet, "/api/v1/tenants/acme/audit", op, nil, &opList)
	require.Equal(t, http.StatusOK, status)
	assert.NotEmpty(t, opList.Items)
	var cp api.CheckpointResponse
	status, raw = s.do(http.MethodPost, "/api/v1/tenants/acme/audit/checkpoint", op, nil, &cp)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.Positive(t, cp.Seq)
	_, err := hex.DecodeString(cp.Hash)
	require.NoError(t, err)
	status, _ = s.do(http.MethodGet, "/api/v1/tenants/acme/audit/verify", op, nil, &v)
	require.Equal(t, http.StatusOK, status)
	assert.True(t, v.OK, v.Problem)
	assert.Equal(t, 1, v.CheckpointsChecked)
	status, _ = s.do(http.MethodGet, "/api/v1/tenants/nope/audit", op, nil, nil)
	assert.Equal(t, http.StatusNotFound, status)
}

func TestRefreshReuseIsAudited(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	first := s.signIn("acme", "admin@acme.test", adminPassword)
	status, second, _ := s.refresh("/api/v1/auth/refresh", first.RefreshToken)
	require.Equal(t, http.StatusOK, status)
	status, _, _ = s.refresh("/api/v1/auth/refresh", first.RefreshToken)
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = s.do(http.MethodPost, "/api/v1/auth/logout", second.AccessToken, nil, nil)
	require.Equal(t, http.StatusUnauthorized, status, "the reuse ended the family")

	admin := s.signIn("acme", "admin@acme.test", adminPassword).AccessToken
	status, _ = s.do(http.MethodPost, "/api/v1/auth/logout", admin, nil, nil)
	require.Equal(t, http.StatusNoContent, status)

	var list api.AuditList
	// The admin has signed out: read the log as an operator.
	status, _ = s.do(http.MethodGet, "/api/v1/tenants/acme/audit?limit=200", s.operatorToken(), nil, &list)
	require.Equal(t, http.StatusOK, status)
	assert.NotNil(t, find(list.Items, "identity.session.refresh", audit.Success))
	reuse := find(list.Items, "identity.session.refresh", audit.Deny)
	require.NotNil(t, reuse)
	assert.Contains(t, reuse.Reasons[0], "reused")
	assert.NotNil(t, find(list.Items, "identity.session.logout", audit.Success))
}

// A mutation whose record cannot be written fails with 503 and changes
// nothing.
func TestAMutationThatCannotBeAuditedFails(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	admin := s.signIn("acme", "admin@acme.test", adminPassword).AccessToken

	role := postgrestest.Exec(t, s.db, "SELECT role_name FROM atrium.tenants WHERE slug = 'acme'")
	// The tenant role's one way into the log closes.
	postgrestest.Exec(t, s.db, `REVOKE EXECUTE ON FUNCTION t_acme.audit_append(text, bytea) FROM "`+role+`"`)

	status, raw := s.do(http.MethodPost, "/api/v1/users", admin, map[string]any{"email": "carol@acme.test", "password": userPassword}, nil)
	assert.Equal(t, http.StatusServiceUnavailable, status, string(raw))
	assert.Equal(t, "audit_unavailable", problemCode(t, raw))
	var users api.UserList
	status, _ = s.do(http.MethodGet, "/api/v1/users", admin, nil, &users)
	require.Equal(t, http.StatusOK, status)
	assert.Len(t, users.Items, 1, "the user was not created")
}

// An operator's change to a tenant commits with its audit record or not at
// all.
func TestAnOperatorChangeThatCannotBeAuditedFails(t *testing.T) {
	s := startServer(t)
	op := s.operatorToken()
	s.createTenant(op, "acme")
	// The tenant's log breaks (only a superuser could do this).
	postgrestest.Exec(t, s.db, "ALTER TABLE t_acme.audit_pending RENAME TO audit_pending_gone")

	status, raw := s.do(http.MethodPatch, "/api/v1/tenants/acme", op, map[string]any{"name": "Renamed"}, nil)
	assert.Equal(t, http.StatusServiceUnavailable, status, string(raw))
	assert.Equal(t, "audit_unavailable", problemCode(t, raw))
	var tn api.TenantResponse
	status, _ = s.do(http.MethodGet, "/api/v1/tenants/acme", op, nil, &tn)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, "acme Inc", tn.Name, "the change rolled back with its record")

	postgrestest.Exec(t, s.db, "ALTER TABLE t_acme.audit_pending_gone RENAME TO audit_pending")
	status, _ = s.do(http.MethodPatch, "/api/v1/tenants/acme", op, map[string]any{"name": "Renamed"}, nil)
	require.Equal(t, http.StatusOK, status)
	var list api.AuditList
	s.do(http.MethodGet, "/api/v1/tenants/acme/audit?action=tenancy.tenant.update", op, nil, &list)
	require.Len(t, list.Items, 1, "one update, recorded once")
	assert.JSONEq(t, `{"fields": {"name": "Renamed"}}`, string(list.Items[0].Details))
	assert.NotNil(t, list.Items[0].Seq, "sealed")
	s.do(http.MethodGet, "/api/v1/tenants/acme/audit?action=tenancy.tenant.create", op, nil, &list)
	assert.Len(t, list.Items, 1, "the creation is in the new tenant's log")
}
