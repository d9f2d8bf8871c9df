package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The CLI's side of verification: which route it asks, with which token,
// and how it reports and exits. The route itself is tested through the API
// in core/app.
func TestAuditVerifyReportsAndExits(t *testing.T) {
	var gotPath, gotAuth string
	reply := `{"ok": true, "records_checked": 12, "unsealed": 0, "checkpoints_checked": 1}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth = r.URL.Path, r.Header.Get("Authorization")
		_, _ = w.Write([]byte(reply))
	}))
	defer srv.Close()

	run := func(args ...string) (string, error) {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(append([]string{"audit", "verify", "--server", srv.URL}, args...))
		err := root.Execute()
		return out.String(), err
	}

	out, err := run("--token", "t1")
	require.NoError(t, err)
	assert.Equal(t, "/api/v1/audit/verify", gotPath)
	assert.Equal(t, "Bearer t1", gotAuth)
	assert.Contains(t, out, "records checked:      12")
	assert.Contains(t, out, "the chain is intact")

	reply = `{"ok": false, "records_checked": 4, "first_broken_seq": 5, "problem": "record 5 is missing"}`
	out, err = run("--token", "op", "--tenant", "acme")
	assert.ErrorIs(t, err, errBroken)
	assert.Equal(t, "/api/v1/tenants/acme/audit/verify", gotPath)
	assert.Contains(t, out, "BROKEN at record 5: record 5 is missing")

	t.Setenv("ATRIUM_TOKEN", "")
	_, err = run()
	assert.ErrorContains(t, err, "token")
}
