package app_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/blob"
)

// benchDocSize is the file each benchmark operation moves.
const benchDocSize = 32 << 20

// BenchmarkDocuments compares uploads and downloads of a 32 MiB file
// through Atrium (HTTP, the core, the documents plugin's streams, the blob
// store on a local directory) with the same bytes written to and read from
// the same store directly. MB/s is the figure; the target is at least 0.7
// of direct.
func BenchmarkDocuments(b *testing.B) {
	if testing.Short() {
		b.Skip("needs PostgreSQL")
	}
	dir := b.TempDir()
	data := make([]byte, benchDocSize)
	_, _ = rand.Read(data)
	store, err := blob.Open(b.Context(), "file://"+dir, 0)
	require.NoError(b, err)

	b.Run("upload/direct", func(b *testing.B) {
		b.SetBytes(benchDocSize)
		for i := range b.N {
			_, err := store.Put(b.Context(), fmt.Sprintf("direct/%d", i), bytes.NewReader(data), "application/octet-stream")
			require.NoError(b, err)
		}
	})
	b.Run("download/direct", func(b *testing.B) {
		b.SetBytes(benchDocSize)
		for range b.N {
			r, _, err := store.Get(b.Context(), "direct/0")
			require.NoError(b, err)
			_, err = io.Copy(io.Discard, r)
			require.NoError(b, err)
			r.Close()
		}
	})

	pluginDir := b.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "documents"), "github.com/atriumhq/atrium/plugins/documents")
	build.Stderr = os.Stderr
	require.NoError(b, build.Run())
	core := startLoadCore(b, pluginDir) // its blob store: a directory beside dir
	var tokens struct {
		AccessToken string `json:"access_token"`
	}
	core.call(http.MethodPost, "/api/v1/operator/login", "", map[string]string{"email": operatorEmail, "password": operatorPassword}, http.StatusOK, &tokens)
	op := tokens.AccessToken
	core.call(http.MethodPost, "/api/v1/plugins", op, map[string]any{"name": "documents", "file": "documents"}, http.StatusOK, nil)
	core.call(http.MethodPost, "/api/v1/tenants", op, map[string]any{
		"slug": "acme", "name": "Acme", "plugins": []string{"documents"}, "settings": map[string]any{"documents.max_bytes": 1 << 30},
		"admin": map[string]string{"email": "admin@acme.test", "password": adminPassword},
	}, http.StatusCreated, nil)
	core.call(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "email": "admin@acme.test", "password": adminPassword},
		http.StatusOK, &tokens)
	admin := tokens.AccessToken
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	w, err := mw.CreateFormFile("file", "bench.bin")
	require.NoError(b, err)
	_, _ = w.Write(data)
	require.NoError(b, mw.Close())
	var doc document
	b.Run("upload/atrium", func(b *testing.B) {
		b.SetBytes(benchDocSize)
		for range b.N {
			req, _ := http.NewRequest(http.MethodPost, core.base+"/api/v1/documents", bytes.NewReader(body.Bytes()))
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(b, err)
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(b, http.StatusCreated, resp.StatusCode, string(raw))
			require.NoError(b, jsonUnmarshal(raw, &doc))
		}
	})
	b.Run("download/atrium", func(b *testing.B) {
		b.SetBytes(benchDocSize)
		for range b.N {
			req, _ := http.NewRequest(http.MethodGet, core.base+"/api/v1/documents/"+doc.ID+"/content", nil)
			req.Header.Set("Authorization", "Bearer "+admin)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(b, err)
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			require.NoError(b, err)
			require.Equal(b, http.StatusOK, resp.StatusCode)
			require.Equal(b, int64(benchDocSize), n)
		}
	})
}
