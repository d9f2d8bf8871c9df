package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/blob"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// document is a document's metadata as the API returns it.
type document struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	SHA256      string    `json:"sha256"`
	ProjectID   *string   `json:"project_id"`
	CreatedAt   time.Time `json:"created_at"`
}

type documentList struct {
	Items      []document `json:"items"`
	NextCursor *string    `json:"next_cursor"`
}

// blobCounter counts the documents plugin's objects in a backend.
type blobCounter func() int

// documentsBackend starts a core with the documents plugin on one blob
// backend: a local directory, or an in-process S3 (gofakes3) reached by the
// real AWS client over HTTP through a TCP proxy the test can cut.
type documentsBackend struct {
	name  string
	setup func(t *testing.T) (blobURL string, count blobCounter, proxy *postgrestest.Proxy)
}

// setupDir counts the documents' objects in a file store's directory.
func (documentsBackend) setupDir(dir string) blobCounter {
	return func() int {
		n := 0
		_ = filepath.WalkDir(filepath.Join(dir, "objects"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(p, "/plugins/documents/documents/") {
				n++
			}
			return nil
		})
		return n
	}
}

var documentsBackends = []documentsBackend{
	{"file", func(t *testing.T) (string, blobCounter, *postgrestest.Proxy) {
		dir := t.TempDir()
		return "file://" + dir, documentsBackend{}.setupDir(dir), nil
	}},
	{"s3", func(t *testing.T) (string, blobCounter, *postgrestest.Proxy) {
		mem := s3mem.New()
		require.NoError(t, mem.CreateBucket("docs"))
		srv := httptest.NewServer(gofakes3.New(mem).Server())
		t.Cleanup(srv.Close)
		proxy, endpoint := postgrestest.NewProxy(t, srv.URL)
		home := t.TempDir() // no developer's ~/.aws leaks in
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
		t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
		return "s3://docs?region=us-east-1&endpoint=" + endpoint, func() int {
			list, err := mem.ListBucket("docs", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
			require.NoError(t, err)
			n := 0
			for _, c := range list.Contents {
				if strings.Contains(c.Key, "/plugins/documents/documents/") {
					n++
				}
			}
			return n
		}, proxy
	}},
}

// upload sends a multipart upload: the file part (unless name is empty),
// then the extra fields.
func (s *pluginServer) upload(token, name string, content []byte, fields ...string) result {
	s.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		require.NoError(s.t, mw.WriteField(fields[i], fields[i+1]))
	}
	if name != "" {
		w, err := mw.CreateFormFile("file", name)
		require.NoError(s.t, err)
		_, err = w.Write(content)
		require.NoError(s.t, err)
	}
	require.NoError(s.t, mw.Close())
	return s.raw(http.MethodPost, "/api/v1/documents", token, &buf, "Content-Type", mw.FormDataContentType()).result
}

// rawResult is a result with its headers, as "Header: value" lines.
type rawResult struct {
	result
	header string
}

// raw sends a request with the given body and headers.
func (s *pluginServer) raw(method, path, token string, body io.Reader, header ...string) rawResult {
	s.t.Helper()
	resp := s.rawResponse(method, path, token, body, header...)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return rawResult{result{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: raw}, headerLines(resp.Header)}
}

func (s *pluginServer) rawResponse(method, path, token string, body io.Reader, header ...string) *http.Response {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, body)
	require.NoError(s.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(s.t, err)
	return resp
}

func headerLines(h http.Header) string {
	var b strings.Builder
	for _, k := range []string{"Content-Type", "Content-Length", "Content-Range", "Etag", "Location", "Content-Disposition", "X-Content-Type-Options"} {
		if v := h.Get(k); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	return b.String()
}

func (s *pluginServer) settings(slug string, settings map[string]any) {
	s.t.Helper()
	status, raw := s.do(http.MethodPatch, "/api/v1/tenants/"+slug, s.op, map[string]any{"settings": settings}, nil)
	require.Equal(s.t, http.StatusOK, status, string(raw))
}

func (s *pluginServer) documentRows(slug string) int {
	s.t.Helper()
	schema := postgrestest.Exec(s.t, s.db, "SELECT schema_name FROM atrium.tenants WHERE slug = '"+slug+"'")
	var n int
	_, err := fmt.Sscan(postgrestest.Exec(s.t, s.db, "SELECT count(*) FROM "+schema+".documents"), &n)
	require.NoError(s.t, err)
	return n
}

func hexSHA(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// The documents plugin end to end, through the real HTTP API, the real
// plugin binary and each blob backend.
func TestDocumentsEndToEnd(t *testing.T) {
	for _, b := range documentsBackends {
		t.Run(b.name, func(t *testing.T) {
			blobURL, stored, proxy := b.setup(t)
			s := startPluginCore(t, func(c *config.Config) {
				c.BlobURL = blobURL
				c.BlobTimeout = time.Second
			})
			if proxy != nil {
				t.Cleanup(func() { proxy.Set(postgrestest.Pass) })
			}
			s.install("documents", "documents")
			s.mustRegister("documents", "documents")
			acme := s.tenant("acme", "documents")
			globex := s.tenant("globex", "documents")

			// Upload: streamed, sniffed, hashed.
			text := []byte(strings.Repeat("hello, documents\n", 100))
			var doc document
			s.upload(acme, "../notes/hello.txt", text).want(t, http.StatusCreated, &doc)
			assert.Equal(t, "hello.txt", doc.Name, "the name is the file name's last element")
			assert.Equal(t, "text/plain", doc.ContentType)
			assert.Equal(t, int64(len(text)), doc.Size)
			assert.Equal(t, hexSHA(text), doc.SHA256)
			assert.Nil(t, doc.ProjectID)
			require.Equal(t, 1, stored())
			require.Equal(t, 1, s.documentRows("acme"))

			project := "0190a0b0-0000-7000-8000-000000000001"
			png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 3000)...)
			var img document
			s.upload(acme, "pixel.png", png, "project_id", project).want(t, http.StatusCreated, &img)
			assert.Equal(t, "image/png", img.ContentType)
			require.NotNil(t, img.ProjectID)
			assert.Equal(t, project, *img.ProjectID)

			// Metadata and lists.
			var got document
			s.call(http.MethodGet, "/api/v1/documents/"+doc.ID, acme, nil).want(t, http.StatusOK, &got)
			assert.Equal(t, doc, got)
			var list documentList
			s.call(http.MethodGet, "/api/v1/documents", acme, nil).want(t, http.StatusOK, &list)
			require.Len(t, list.Items, 2)
			assert.Equal(t, img.ID, list.Items[0].ID, "newest first")
			s.call(http.MethodGet, "/api/v1/documents?project_id="+project, acme, nil).want(t, http.StatusOK, &list)
			require.Len(t, list.Items, 1)
			assert.Equal(t, img.ID, list.Items[0].ID)
			s.call(http.MethodGet, "/api/v1/documents?content_type=text/plain", acme, nil).want(t, http.StatusOK, &list)
			require.Len(t, list.Items, 1)
			assert.Equal(t, doc.ID, list.Items[0].ID)
			s.call(http.MethodGet, "/api/v1/documents?sort=size&limit=1", acme, nil).want(t, http.StatusOK, &list)
			require.Len(t, list.Items, 1)
			assert.Equal(t, doc.ID, list.Items[0].ID, "the smaller first")
			require.NotNil(t, list.NextCursor)
			s.call(http.MethodGet, "/api/v1/documents?sort=size&limit=1&cursor="+*list.NextCursor, acme, nil).want(t, http.StatusOK, &list)
			require.Len(t, list.Items, 1)
			assert.Equal(t, img.ID, list.Items[0].ID)
			s.call(http.MethodGet, "/api/v1/documents?sort=owner", acme, nil).problem(t, http.StatusBadRequest, "invalid_query")

			// Download: whole, a range, not modified.
			content := "/api/v1/documents/" + doc.ID + "/content"
			r := s.raw(http.MethodGet, content, acme, nil)
			require.Equal(t, http.StatusOK, r.status, r.String())
			assert.Equal(t, text, r.body)
			assert.Contains(t, r.header, "Content-Type: text/plain\n")
			assert.Contains(t, r.header, fmt.Sprintf("Content-Length: %d\n", len(text)))
			assert.Contains(t, r.header, `Etag: "`+doc.SHA256+`"`)
			assert.Contains(t, r.header, "X-Content-Type-Options: nosniff")
			assert.Contains(t, r.header, `Content-Disposition: attachment; filename=hello.txt`)
			r = s.raw(http.MethodGet, content, acme, nil, "Range", "bytes=7-16")
			require.Equal(t, http.StatusPartialContent, r.status, r.String())
			assert.Equal(t, text[7:17], r.body)
			assert.Contains(t, r.header, fmt.Sprintf("Content-Range: bytes 7-16/%d", len(text)))
			r = s.raw(http.MethodGet, content, acme, nil, "Range", fmt.Sprintf("bytes=%d-", len(text)-5))
			require.Equal(t, http.StatusPartialContent, r.status, r.String())
			assert.Equal(t, text[len(text)-5:], r.body)
			r = s.raw(http.MethodGet, content, acme, nil, "Range", fmt.Sprintf("bytes=%d-", len(text)+5))
			assert.Equal(t, http.StatusRequestedRangeNotSatisfiable, r.status, r.String())
			r = s.raw(http.MethodGet, content, acme, nil, "If-None-Match", `"`+doc.SHA256+`"`)
			assert.Equal(t, http.StatusNotModified, r.status, r.String())
			assert.Empty(t, r.body)
			r = s.raw(http.MethodGet, content, acme, nil, "If-None-Match", `"other"`)
			assert.Equal(t, http.StatusOK, r.status, r.String())

			// A presigned URL where the store can presign; a stream where not.
			r = s.raw(http.MethodGet, content+"?redirect=1", acme, nil)
			if b.name == "s3" {
				require.Equal(t, http.StatusFound, r.status, r.String())
				loc := strings.TrimSpace(strings.TrimPrefix(lineOf(r.header, "Location: "), "Location: "))
				assert.Contains(t, loc, "X-Amz-Expires=300")
				resp, err := http.Get(loc)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, text, body, "the presigned URL downloads the content")
			} else {
				require.Equal(t, http.StatusOK, r.status, r.String())
				assert.Equal(t, text, r.body)
			}

			// Tenant isolation: globex sees nothing of acme's.
			s.call(http.MethodGet, "/api/v1/documents/"+doc.ID, globex, nil).problem(t, http.StatusNotFound, "not_found")
			r = s.raw(http.MethodGet, content, globex, nil)
			assert.Equal(t, http.StatusNotFound, r.status, r.String())
			s.call(http.MethodDelete, "/api/v1/documents/"+doc.ID, globex, nil).problem(t, http.StatusNotFound, "not_found")
			s.call(http.MethodGet, "/api/v1/documents", globex, nil).want(t, http.StatusOK, &list)
			assert.Empty(t, list.Items)
			s.call(http.MethodGet, "/api/v1/documents/not-a-uuid", acme, nil).problem(t, http.StatusNotFound, "not_found")

			// A viewer reads but cannot upload or delete.
			s.createUser(acme, "viewer@acme.test", "viewer")
			viewer := s.signIn("acme", "viewer@acme.test", userPassword).AccessToken
			s.call(http.MethodGet, "/api/v1/documents/"+doc.ID, viewer, nil).want(t, http.StatusOK, nil)
			s.upload(viewer, "v.txt", text).problem(t, http.StatusForbidden, "forbidden")
			s.call(http.MethodDelete, "/api/v1/documents/"+doc.ID, viewer, nil).problem(t, http.StatusForbidden, "forbidden")

			// Bad uploads write nothing.
			s.upload(acme, "", nil).problem(t, http.StatusUnprocessableEntity, "validation_failed")
			s.upload(acme, "a.txt", text, "project_id", "nope").problem(t, http.StatusUnprocessableEntity, "validation_failed")
			s.upload(acme, "a.txt", text, "colour", "red").problem(t, http.StatusUnprocessableEntity, "validation_failed")
			s.raw(http.MethodPost, "/api/v1/documents", acme, strings.NewReader(string(text)), "Content-Type", "text/plain").
				problem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
			s.raw(http.MethodPost, "/api/v1/documents", acme, strings.NewReader("--x\r\nbroken"), "Content-Type", "multipart/form-data; boundary=x").
				problem(t, http.StatusBadRequest, "bad_request")
			assert.Equal(t, 2, stored(), "a refused upload leaves no blob")
			assert.Equal(t, 2, s.documentRows("acme"))

			// The tenant's limits: size (413) and types (415), nothing stored.
			s.settings("acme", map[string]any{"documents.max_bytes": 1000, "documents.content_types": []string{"image/*", "application/pdf"}})
			big := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{1}, 5<<20)...)
			s.upload(acme, "big.png", big).problem(t, http.StatusRequestEntityTooLarge, "payload_too_large")
			s.upload(acme, "small.txt", []byte("plain text")).problem(t, http.StatusUnsupportedMediaType, "unsupported_media_type")
			s.upload(acme, "small.png", png[:900]).want(t, http.StatusCreated, nil)
			assert.Equal(t, 3, stored(), "only the allowed upload is stored")
			assert.Equal(t, 3, s.documentRows("acme"))
			s.settings("acme", map[string]any{"documents.max_bytes": nil, "documents.content_types": nil})

			// Delete: row and blob.
			s.call(http.MethodDelete, "/api/v1/documents/"+doc.ID, acme, nil).want(t, http.StatusNoContent, nil)
			s.call(http.MethodGet, "/api/v1/documents/"+doc.ID, acme, nil).problem(t, http.StatusNotFound, "not_found")
			r = s.raw(http.MethodGet, content, acme, nil)
			assert.Equal(t, http.StatusNotFound, r.status, r.String())
			assert.Equal(t, 2, stored(), "the blob went with the row")
			assert.Equal(t, 2, s.documentRows("acme"))

			// The audit chain has the upload and the delete.
			var audit struct {
				Items []struct {
					Action   string `json:"action"`
					Resource struct {
						Type string `json:"type"`
						ID   string `json:"id"`
					} `json:"resource"`
				} `json:"items"`
			}
			s.call(http.MethodGet, "/api/v1/audit", acme, nil).want(t, http.StatusOK, &audit)
			actions := map[string]bool{}
			for _, it := range audit.Items {
				if it.Resource.ID == doc.ID {
					actions[it.Action] = true
				}
			}
			assert.True(t, actions["documents.document.create"], "%+v", audit.Items)
			assert.True(t, actions["documents.document.delete"], "%+v", audit.Items)

			if proxy == nil {
				return
			}
			// S3 down: a 503, and nothing written.
			proxy.Set(postgrestest.Down)
			proxy.Cut()
			s.upload(acme, "down.txt", text).problem(t, http.StatusServiceUnavailable, "unavailable")
			proxy.Set(postgrestest.Pass)
			assert.Equal(t, 2, stored())
			assert.Equal(t, 2, s.documentRows("acme"))
			s.upload(acme, "up.txt", text).want(t, http.StatusCreated, nil)
			assert.Equal(t, 3, stored())
		})
	}
}

func lineOf(lines, prefix string) string {
	for l := range strings.Lines(lines) {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

const documentsPolicy = `package tenant.docs

deny contains "uploads over 2000 bytes need approval" if {
	input.action == "documents.document.create"
	input.resource.attributes.size > 2000
}

deny contains "images of a project are not downloaded" if {
	input.action == "documents.document.read"
	input.resource.attributes.content_type == "image/png"
	input.resource.attributes.project_id != null
}
`

// A tenant policy decides on a document's attributes; an upload it refuses
// after the blob was stored leaves neither row nor blob (the unit of work
// rolled back, and the core deleted the blob); the sweep removes a blob no
// row names once it is an hour old, and leaves younger ones.
func TestDocumentsPolicyRollbackAndSweep(t *testing.T) {
	dir := t.TempDir()
	s := startPluginCore(t, func(c *config.Config) { c.BlobURL = "file://" + dir })
	s.install("documents", "documents")
	s.mustRegister("documents", "documents")
	acme := s.tenant("acme", "documents")
	stored := documentsBackends[0].setupDir(dir)

	// Two orphans, as a crash between a blob's write and its row's commit
	// leaves them: an old one and a young one.
	tenantID := postgrestest.Exec(t, s.db, "SELECT id::text FROM atrium.tenants WHERE slug = 'acme'")
	store, err := blob.Open(t.Context(), "file://"+dir, 0)
	require.NoError(t, err)
	prefix := "tenants/" + tenantID + "/plugins/documents/documents/"
	for _, k := range []string{"0190a0b0-0000-7000-8000-0000000000aa", "0190a0b0-0000-7000-8000-0000000000bb"} {
		_, err := store.Put(t.Context(), prefix+k, strings.NewReader("orphan"), "text/plain")
		require.NoError(t, err)
	}
	old := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(dir, "objects", prefix+"0190a0b0-0000-7000-8000-0000000000aa"), old, old))
	require.Equal(t, 2, stored())

	var m map[string]any
	status, raw := s.do(http.MethodPut, "/api/v1/policies/docs", acme, map[string]string{"rego": documentsPolicy}, &m)
	require.Equal(t, http.StatusOK, status, string(raw))

	big := bytes.Repeat([]byte("x"), 3000)
	s.upload(acme, "big.txt", big).problem(t, http.StatusForbidden, "forbidden")
	assert.Equal(t, 0, s.documentRows("acme"))
	assert.Equal(t, 2, stored(), "the refused upload's blob was deleted on rollback")

	// The first upload that commits sweeps: the old orphan goes.
	var doc document
	s.upload(acme, "small.txt", big[:100]).want(t, http.StatusCreated, &doc)
	assert.Equal(t, 2, stored(), "the new blob in, the old orphan out")
	_, _, err = store.Get(t.Context(), prefix+"0190a0b0-0000-7000-8000-0000000000aa")
	require.ErrorIs(t, err, kernel.ErrNotFound)
	_, _, err = store.Get(t.Context(), prefix+"0190a0b0-0000-7000-8000-0000000000bb")
	require.NoError(t, err, "a young orphan may be an upload in flight: kept")

	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 100)...)
	var img, loose document
	s.upload(acme, "p.png", png, "project_id", "0190a0b0-0000-7000-8000-000000000001").want(t, http.StatusCreated, &img)
	s.upload(acme, "q.png", png).want(t, http.StatusCreated, &loose)
	r := s.raw(http.MethodGet, "/api/v1/documents/"+img.ID+"/content", acme, nil)
	assert.Equal(t, http.StatusForbidden, r.status, r.String())
	r = s.raw(http.MethodGet, "/api/v1/documents/"+loose.ID+"/content", acme, nil)
	assert.Equal(t, http.StatusOK, r.status, r.String())
	assert.Equal(t, png, r.body)
}

// Two bounded contexts that share no table: a project deleted in projects
// is an event that documents handles, deleting that project's documents
// and their content, in the tenant where it happened and nowhere else.
func TestDeletingAProjectDeletesItsDocuments(t *testing.T) {
	dir := t.TempDir()
	stored := documentsBackend{}.setupDir(dir)
	s := startPluginCore(t, func(c *config.Config) { c.BlobURL = "file://" + dir })
	s.install("projects", "projects")
	s.install("documents", "documents")
	s.mustRegister("projects", "projects")
	s.mustRegister("documents", "documents")
	acme := s.tenant("acme", "projects", "documents")
	globex := s.tenant("globex", "projects", "documents")

	var doomed, kept struct {
		ID string `json:"id"`
	}
	s.call(http.MethodPost, "/api/v1/projects", acme, map[string]any{"name": "Doomed"}).want(t, http.StatusCreated, &doomed)
	s.call(http.MethodPost, "/api/v1/projects", acme, map[string]any{"name": "Kept"}).want(t, http.StatusCreated, &kept)
	text := []byte("a document of a project\n")
	for range 2 {
		s.upload(acme, "doomed.txt", text, "project_id", doomed.ID).want(t, http.StatusCreated, nil)
	}
	s.upload(acme, "kept.txt", text, "project_id", kept.ID).want(t, http.StatusCreated, nil)
	s.upload(acme, "loose.txt", text).want(t, http.StatusCreated, nil)
	// Another tenant's document naming the same project id is its own.
	s.upload(globex, "same-id.txt", text, "project_id", doomed.ID).want(t, http.StatusCreated, nil)
	require.Equal(t, 5, stored())

	start := time.Now()
	s.call(http.MethodDelete, "/api/v1/projects/"+doomed.ID, acme, nil).want(t, http.StatusNoContent, nil)
	require.Eventually(t, func() bool { return s.documentRows("acme") == 2 && stored() == 3 }, 5*time.Second, 10*time.Millisecond,
		"the doomed project's documents and their content go")
	t.Logf("project deleted -> its documents gone in %s", time.Since(start))

	var list documentList
	s.call(http.MethodGet, "/api/v1/documents?project_id="+doomed.ID, acme, nil).want(t, http.StatusOK, &list)
	assert.Empty(t, list.Items)
	s.call(http.MethodGet, "/api/v1/documents", acme, nil).want(t, http.StatusOK, &list)
	assert.Len(t, list.Items, 2, "the other project's and the loose document stay")
	assert.Equal(t, 1, s.documentRows("globex"), "another tenant's event stream is its own")

	// The delivery is on record, and documents' own changes are events.
	var events struct {
		Items []struct {
			Type       string `json:"type"`
			Deliveries []struct {
				Subscriber string `json:"subscriber"`
				Status     string `json:"status"`
			} `json:"deliveries"`
		} `json:"items"`
	}
	s.call(http.MethodGet, "/api/v1/events?type=projects.project.deleted", acme, nil).want(t, http.StatusOK, &events)
	require.Len(t, events.Items, 1)
	require.Len(t, events.Items[0].Deliveries, 1)
	assert.Equal(t, "plugin:documents", events.Items[0].Deliveries[0].Subscriber)
	assert.Equal(t, "delivered", events.Items[0].Deliveries[0].Status)
	s.call(http.MethodGet, "/api/v1/events?type=documents.document.created", acme, nil).want(t, http.StatusOK, &events)
	assert.Len(t, events.Items, 4)
}
