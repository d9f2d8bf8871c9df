package app_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
)

// reply is what raw returns: the response's status and headers, and its body.
type reply struct {
	StatusCode int
	Header     http.Header
}

func (s *server) raw(method, path, token, contentType string, body []byte) (reply, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return reply{resp.StatusCode, resp.Header}, b
}

func TestBackupAndRestoreThroughTheAPI(t *testing.T) {
	s := startServer(t)
	op := s.operatorToken()
	s.createTenant(op, "acme")

	resp, archive := s.raw(http.MethodPost, "/api/v1/tenants/acme/backup", op, "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(archive))
	assert.Equal(t, "application/gzip", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Content-Disposition"), "acme-")
	assert.Equal(t, []byte{0x1f, 0x8b}, archive[:2], "gzip")

	var restored api.TenantResponse
	resp, body := s.raw(http.MethodPost, "/api/v1/tenants/acme-restored/restore", op, "application/gzip", archive)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.NoError(t, jsonUnmarshal(body, &restored))
	assert.Equal(t, "acme-restored", restored.Slug)
	assert.Equal(t, "acme Inc", restored.Name, "name and settings come from the backup")

	status, tok := s.login("acme-restored", "admin@acme.test", "tenant admin password")
	assert.Equal(t, http.StatusOK, status, "the backup's users sign in to the restored tenant")
	status, _ = s.do(http.MethodGet, "/api/v1/auth/me", tok, nil, nil)
	require.Equal(t, http.StatusOK, status)

	resp, body = s.raw(http.MethodPost, "/api/v1/tenants/acme-restored/restore", op, "application/gzip", archive)
	assert.Equal(t, http.StatusConflict, resp.StatusCode, string(body))
	resp, body = s.raw(http.MethodPost, "/api/v1/tenants/acme-restored/restore?replace=true", op, "application/gzip", archive)
	assert.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	status, _ = s.do(http.MethodGet, "/api/v1/auth/me", tok, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, status, "a restore revokes the sessions it replaced")

	resp, body = s.raw(http.MethodPost, "/api/v1/tenants/other/restore", op, "application/gzip", []byte("garbage"))
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Equal(t, "invalid_backup", problemCode(t, body))
	resp, _ = s.raw(http.MethodPost, "/api/v1/tenants/other/restore", op, "text/plain", archive)
	assert.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	status, _ = s.do(http.MethodGet, "/api/v1/tenants/other", op, nil, nil)
	assert.Equal(t, http.StatusNotFound, status, "refused restores create nothing")

	resp, _ = s.raw(http.MethodPost, "/api/v1/tenants/nope/backup", op, "", nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestStoredBackupsRoundTrip(t *testing.T) {
	s := startServer(t)
	op := s.operatorToken()
	s.createTenant(op, "acme")

	var stored api.StoredBackup
	status, raw := s.do(http.MethodPost, "/api/v1/tenants/acme/backups", op, nil, &stored)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.Regexp(t, `^backups/acme/\d{8}T\d{6}\.\d{3}Z\.tar\.gz$`, stored.Key)
	assert.Positive(t, stored.Size)
	assert.Len(t, stored.SHA256, 64)

	var restored api.TenantResponse
	status, raw = s.do(http.MethodPost, "/api/v1/tenants/acme-two/restore", op, map[string]string{"backup_key": stored.Key}, &restored)
	require.Equal(t, http.StatusOK, status, string(raw))
	status, _ = s.login("acme-two", "admin@acme.test", "tenant admin password")
	assert.Equal(t, http.StatusOK, status)

	for key, want := range map[string]int{
		"backups/acme/missing.tar.gz": http.StatusNotFound,
		"secrets/elsewhere":           http.StatusUnprocessableEntity,
	} {
		status, raw = s.do(http.MethodPost, "/api/v1/tenants/acme-three/restore", op, map[string]string{"backup_key": key}, nil)
		assert.Equal(t, want, status, "%s: %s", key, raw)
	}
}
