package app_test

import (
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// A tenant backup while S3 is down, silent or stalled mid-request (an
// in-process S3 reached by the real AWS client through the fault proxy)
// answers a 503 with Retry-After within a bound set by ATRIUM_BLOB_TIMEOUT,
// stores nothing, and works again once S3 is back.
func TestBackupsWhileS3IsDownOrStalled(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	mem := s3mem.New()
	require.NoError(t, mem.CreateBucket("backups"))
	srv := httptest.NewServer(gofakes3.New(mem).Server())
	t.Cleanup(srv.Close)
	proxy, endpoint := postgrestest.NewProxy(t, srv.URL) // a TCP proxy: S3 as well as PostgreSQL
	home := t.TempDir()                                  // no developer's ~/.aws leaks in
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	f := startFaultCore(t, postgrestest.NewDatabase(t), func(c *config.Config) {
		c.BlobURL = "s3://backups?region=us-east-1&endpoint=" + endpoint
		c.BlobTimeout = time.Second
	})
	t.Cleanup(func() { proxy.Set(postgrestest.Pass) }) // before the app's cleanup

	// stored counts the objects in the bucket, each checked whole: its
	// content is what the sha256 it was stored with says.
	stored := func() int {
		list, err := mem.ListBucket("backups", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
		require.NoError(t, err)
		for _, c := range list.Contents {
			obj, err := mem.GetObject("backups", c.Key, nil)
			require.NoError(t, err)
			h := sha256.New()
			_, err = io.Copy(h, obj.Contents)
			require.NoError(t, err)
			_ = obj.Contents.Close()
			sum := obj.Metadata["X-Amz-Meta-Sha256"]
			assert.Equal(t, sum, hex.EncodeToString(h.Sum(nil)), "%s is whole (metadata %v)", c.Key, obj.Metadata)
		}
		return len(list.Contents)
	}
	backup := func() answer { return f.s.send(http.MethodPost, "/api/v1/tenants/acme/backups", f.op, nil) }
	a := backup()
	require.Equal(t, http.StatusOK, a.status, a.String())
	require.Equal(t, 1, stored())

	faults := []struct {
		name   string
		inject func() (heal func())
	}{
		{"down", func() func() {
			proxy.Set(postgrestest.Down)
			proxy.Cut()
			return func() { proxy.Set(postgrestest.Pass) }
		}},
		{"silent", func() func() {
			proxy.Set(postgrestest.Stall)
			proxy.Cut()
			return func() { proxy.Set(postgrestest.Pass) }
		}},
		{"stalled mid-request", func() func() {
			proxy.Freeze(t)
			return proxy.Cut // what the network held is lost
		}},
	}
	for _, fault := range faults {
		t.Run(fault.name, func(t *testing.T) {
			before := stored()
			heal := fault.inject()
			p := wantUnavailable(t, "backup", backup(), "unavailable")
			assert.Contains(t, p.Detail, "object storage is unavailable")
			status, body := get(t, f.s.base+"/readyz") // optional: the replica stays in its balancer
			assert.Equal(t, http.StatusOK, status, body)
			assert.Contains(t, body, `"status":"degraded"`)
			assert.Contains(t, body, `"blobs":{"status":"down"`)
			heal()
			assert.Equal(t, before, stored(), "nothing stored")

			a := backup()
			require.Equal(t, http.StatusOK, a.status, "S3 back: %s", a)
			assert.Equal(t, before+1, stored())
		})
	}
}
