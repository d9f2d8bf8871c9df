package blob_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/blob"
)

// fakeS3 serves an in-memory S3 holding bucket "bucket" and points the AWS
// SDK's environment at it, so tests drive the real client over HTTP. It
// returns the server's URL and the directory Put spools to.
func fakeS3(t *testing.T) (endpoint, spoolDir string) {
	mem := s3mem.New()
	require.NoError(t, mem.CreateBucket("bucket"))
	srv := httptest.NewServer(gofakes3.New(mem).Server())
	t.Cleanup(srv.Close)

	home := t.TempDir() // no developer's ~/.aws leaks in
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	spoolDir = t.TempDir()
	t.Setenv("TMPDIR", spoolDir)
	return srv.URL, spoolDir
}

func openS3Store(t *testing.T, endpoint, bucket string) blob.Store {
	t.Helper()
	s, err := blob.Open(t.Context(), "s3://"+bucket+"?endpoint="+endpoint+"&region=us-east-1", 0)
	require.NoError(t, err)
	return s
}

func newS3Backend(t *testing.T) backend {
	endpoint, spoolDir := fakeS3(t)
	return backend{
		store: openS3Store(t, endpoint, "bucket"),
		strays: func() []string {
			m, err := filepath.Glob(filepath.Join(spoolDir, "*"))
			require.NoError(t, err)
			return m
		},
	}
}

func TestS3Contract(t *testing.T) { testContract(t, newS3Backend) }

func TestS3PresignedURLServesTheObject(t *testing.T) {
	b := newS3Backend(t)
	put(t, b.store, "tenants/acme/report 1.pdf", []byte("%PDF-1.7 fake"), "application/pdf")

	u, ok, err := b.store.PresignGet(t.Context(), "tenants/acme/report 1.pdf", 5*time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Contains(t, u, "X-Amz-Signature=")
	assert.Contains(t, u, "X-Amz-Expires=300")

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "%PDF-1.7 fake", string(body))
	assert.Equal(t, "application/pdf", resp.Header.Get("Content-Type"))

	for _, ttl := range []time.Duration{0, -time.Second, 8 * 24 * time.Hour} {
		_, _, err := b.store.PresignGet(t.Context(), "k", ttl)
		assert.Error(t, err, ttl)
	}
}

func TestS3ReadinessFailsForMissingBucket(t *testing.T) {
	endpoint, _ := fakeS3(t)
	s := openS3Store(t, endpoint, "no-such-bucket")
	require.Error(t, blob.Check(s).Probe(t.Context()))
}

func TestS3OpenNeedsARegion(t *testing.T) {
	fakeS3(t)
	_, err := blob.Open(t.Context(), "s3://bucket", 0)
	require.ErrorContains(t, err, "region")

	t.Setenv("AWS_REGION", "eu-west-1")
	_, err = blob.Open(t.Context(), "s3://bucket", 0)
	require.NoError(t, err, "the standard AWS environment supplies it")
}
