package main

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/plugins/documents/internal/api"
	"github.com/atriumhq/atrium/sdk/plugintest"
)

func TestManifest(t *testing.T) {
	_, err := api.Plugin().Manifest()
	require.NoError(t, err)
}

func upload(t *testing.T, c *plugintest.Client, name string, content []byte) *plugintest.Response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	w, err := mw.CreateFormFile("file", name)
	require.NoError(t, err)
	_, _ = w.Write(content)
	require.NoError(t, mw.Close())
	return c.Send(http.MethodPost, "/api/v1/documents", &buf, http.Header{"Content-Type": {mw.FormDataContentType()}})
}

// TestDocumentsPlugin drives the plugin, attached in-process, through a
// real core: the streamed upload and download paths, the member's and
// viewer's rights, and the OpenAPI document's multipart upload.
func TestDocumentsPlugin(t *testing.T) {
	core := plugintest.Start(t, api.Plugin())
	acme := core.Tenant("acme", map[string]any{"documents.max_bytes": 1 << 20})
	member := acme.User("member@acme.test", "member")
	viewer := acme.User("viewer@acme.test", "viewer")

	content := bytes.Repeat([]byte("0123456789"), 50_000) // 500 kB: several chunks each way
	var doc api.Document
	upload(t, member, "digits.txt", content).Want(t, http.StatusCreated).Decode(t, &doc)
	assert.Equal(t, "text/plain", doc.ContentType)
	assert.Equal(t, int64(len(content)), doc.Size)

	r := viewer.Get("/api/v1/documents/"+doc.ID+"/content").Want(t, http.StatusOK)
	assert.Equal(t, content, r.Body)
	r = viewer.Send(http.MethodGet, "/api/v1/documents/"+doc.ID+"/content", nil, http.Header{"Range": {"bytes=100000-100009"}}).
		Want(t, http.StatusPartialContent)
	assert.Equal(t, content[100000:100010], r.Body)

	upload(t, viewer, "v.txt", content).Want(t, http.StatusForbidden)
	assert.Equal(t, "payload_too_large", upload(t, member, "big.txt", bytes.Repeat(content, 3)).Want(t, http.StatusRequestEntityTooLarge).Problem(t).Code)
	member.Delete("/api/v1/documents/"+doc.ID).Want(t, http.StatusForbidden)
	acme.Admin.Delete("/api/v1/documents/"+doc.ID).Want(t, http.StatusNoContent)
	viewer.Get("/api/v1/documents/"+doc.ID+"/content").Want(t, http.StatusNotFound)

	var openapi struct {
		Paths map[string]map[string]struct {
			RequestBody struct {
				Content map[string]struct {
					Schema struct {
						Properties map[string]struct {
							Format string `json:"format"`
						} `json:"properties"`
					} `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	acme.Admin.Get("/openapi.json").Want(t, http.StatusOK).Decode(t, &openapi)
	form, ok := openapi.Paths["/api/v1/documents"]["post"].RequestBody.Content["multipart/form-data"]
	require.True(t, ok, "the upload is a multipart form")
	assert.Equal(t, "binary", form.Schema.Properties["file"].Format)
	_, ok = openapi.Paths["/api/v1/documents/{id}/content"]["get"]
	assert.True(t, ok)
}
