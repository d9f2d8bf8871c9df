package blob_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/atriumhq/atrium/core/blob"
	"github.com/atriumhq/atrium/core/kernel"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend is what the contract suite needs of a backend under test: a fresh,
// empty store, and a way to see temporary files that a Put left behind.
type backend struct {
	store  blob.Store
	strays func() []string
}

// testContract runs the behaviour every Store promises against one backend,
// so the file backend used in development cannot drift from S3.
func testContract(t *testing.T, newBackend func(t *testing.T) backend) {
	cases := []struct {
		name string
		run  func(t *testing.T, b backend)
	}{
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"Ranges", testRanges},
		{"NotFound", testNotFound},
		{"DeleteIsIdempotent", testDelete},
		{"ListByPrefixSorted", testList},
		{"InvalidKeysRefused", testInvalidKeys},
		{"FailingReaderLeavesNothing", testFailingReader},
		{"CancelLeavesNothing", testCancel},
		{"ConcurrentPutsAreAtomic", testConcurrentPuts},
		{"Readiness", testReadiness},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, newBackend(t)) })
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func put(t *testing.T, s blob.Store, key string, data []byte, ct string) blob.Info {
	t.Helper()
	info, err := s.Put(t.Context(), key, bytes.NewReader(data), ct)
	require.NoError(t, err)
	return info
}

func get(t *testing.T, s blob.Store, key string) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := s.Get(t.Context(), key)
	require.NoError(t, err)
	defer rc.Close()
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	return data, info
}

func requireNotFound(t *testing.T, err error) {
	t.Helper()
	require.ErrorIs(t, err, kernel.ErrNotFound)
	var kerr *kernel.Error
	require.ErrorAs(t, err, &kerr)
	assert.Equal(t, kernel.KindNotFound, kerr.Kind)
}

func testRoundTrip(t *testing.T, b backend) {
	big := make([]byte, 3<<20+17) // several buffers and S3 chunks
	_, _ = rand.Read(big)
	// A maximal key: 1024 bytes, in segments a file system accepts.
	longKey := strings.Repeat(strings.Repeat("k", 99)+"/", 10) + strings.Repeat("z", 24)
	require.Len(t, longKey, blob.MaxKeyLen)
	for _, tc := range []struct {
		key, ct, wantCT string
		data            []byte
	}{
		{"tenants/acme/hello.txt", "text/plain; charset=utf-8", "text/plain; charset=utf-8", []byte("hello, world\n")},
		{"tenants/acme/big.bin", "application/x-big", "application/x-big", big},
		{"empty", "", "application/octet-stream", nil},
		{"ünïcode/with space/ü.txt", "text/plain", "text/plain", []byte("ü")},
		{longKey, "text/plain", "text/plain", []byte("long")},
	} {
		t.Run(tc.key[:min(len(tc.key), 20)], func(t *testing.T) {
			info := put(t, b.store, tc.key, tc.data, tc.ct)
			want := blob.Info{Key: tc.key, Size: int64(len(tc.data)), SHA256: sum(tc.data), ContentType: tc.wantCT}
			assert.False(t, info.ModTime.IsZero())
			info.ModTime = want.ModTime
			assert.Equal(t, want, info)

			data, got := get(t, b.store, tc.key)
			assert.Equal(t, sum(tc.data), sum(data)) // no 3 MiB diffs on failure
			assert.False(t, got.ModTime.IsZero())
			got.ModTime = want.ModTime
			assert.Equal(t, want, got)

			st, err := b.store.Stat(t.Context(), tc.key)
			require.NoError(t, err)
			st.ModTime = want.ModTime
			assert.Equal(t, want, st)
		})
	}
}

func testOverwrite(t *testing.T, b backend) {
	put(t, b.store, "doc", []byte("version one, longer"), "text/plain")
	put(t, b.store, "doc", []byte("v2"), "application/json")
	data, info := get(t, b.store, "doc")
	assert.Equal(t, "v2", string(data))
	assert.Equal(t, "application/json", info.ContentType)
	assert.Equal(t, sum([]byte("v2")), info.SHA256)
	assert.EqualValues(t, 2, info.Size)
}

// testRanges reads byte ranges: Info describes the whole object, and a
// range outside it is a bad request.
func testRanges(t *testing.T, b backend) {
	data := []byte("0123456789abcdef")
	put(t, b.store, "r", data, "text/plain")
	for _, tc := range []struct {
		off, n int64
		want   string
	}{
		{0, -1, "0123456789abcdef"}, {3, 4, "3456"}, {10, -1, "abcdef"}, {15, 1, "f"}, {16, 0, ""}, {16, -1, ""}, {0, 16, "0123456789abcdef"},
	} {
		r, info, err := b.store.GetRange(t.Context(), "r", tc.off, tc.n)
		require.NoError(t, err, "%d+%d", tc.off, tc.n)
		got, err := io.ReadAll(r)
		r.Close()
		require.NoError(t, err)
		assert.Equal(t, tc.want, string(got), "%d+%d", tc.off, tc.n)
		assert.EqualValues(t, len(data), info.Size, "the whole object's size")
		assert.Equal(t, sum(data), info.SHA256)
	}
	for _, bad := range [][2]int64{{17, -1}, {10, 7}, {-1, 2}} {
		_, _, err := b.store.GetRange(t.Context(), "r", bad[0], bad[1])
		require.ErrorIs(t, err, kernel.ErrBadRequest, "%v", bad)
	}
	_, _, err := b.store.GetRange(t.Context(), "missing", 1, 2)
	requireNotFound(t, err)
}

func testNotFound(t *testing.T, b backend) {
	_, _, err := b.store.Get(t.Context(), "missing/key")
	requireNotFound(t, err)
	_, err = b.store.Stat(t.Context(), "missing/key")
	requireNotFound(t, err)

	// A key that is only a prefix of others is no object either.
	put(t, b.store, "dir/child", []byte("x"), "")
	_, err = b.store.Stat(t.Context(), "dir")
	requireNotFound(t, err)
	_, err = b.store.Stat(t.Context(), "dir/child/grandchild")
	requireNotFound(t, err)
}

func testDelete(t *testing.T, b backend) {
	put(t, b.store, "a/b/c", []byte("x"), "")
	require.NoError(t, b.store.Delete(t.Context(), "a/b/c"))
	require.NoError(t, b.store.Delete(t.Context(), "a/b/c"))
	require.NoError(t, b.store.Delete(t.Context(), "never/existed"))
	_, err := b.store.Stat(t.Context(), "a/b/c")
	requireNotFound(t, err)
	// What was a directory on the way to the key can now be a key itself.
	put(t, b.store, "a", []byte("y"), "")
}

func testList(t *testing.T, b backend) {
	for _, k := range []string{"b/1", "a/2", "ab", "a/b/3", "a/1", "a.b"} {
		put(t, b.store, k, []byte(k), "text/plain")
	}
	keys := func(prefix string) []string {
		infos, err := b.store.List(t.Context(), prefix)
		require.NoError(t, err)
		out := []string{}
		for _, i := range infos {
			assert.Equal(t, int64(len(i.Key)), i.Size, i.Key)
			assert.False(t, i.ModTime.IsZero())
			assert.Empty(t, i.SHA256+i.ContentType, "List promises Key, Size and ModTime only")
			out = append(out, i.Key)
		}
		return out
	}
	assert.Equal(t, []string{"a.b", "a/1", "a/2", "a/b/3", "ab", "b/1"}, keys(""))
	assert.Equal(t, []string{"a/1", "a/2", "a/b/3"}, keys("a/"))
	assert.Equal(t, []string{"a.b", "a/1", "a/2", "a/b/3", "ab"}, keys("a"))
	assert.Equal(t, []string{"a/b/3"}, keys("a/b"))
	assert.Equal(t, []string{"a/1"}, keys("a/1"))
	assert.Empty(t, keys("zzz/"))
	assert.Empty(t, keys("a/1/x/"))
}

var badKeys = map[string]string{
	"empty":           "",
	"leading slash":   "/abs",
	"dotdot":          "..",
	"dot":             ".",
	"inner dotdot":    "a/../b",
	"trailing dotdot": "a/..",
	"inner dot":       "a/./b",
	"empty segment":   "a//b",
	"trailing slash":  "a/",
	"backslash":       `a\..\b`,
	"NUL":             "a\x00b",
	"bad UTF-8":       "a\xffb",
	"too long":        strings.Repeat("k/", 512) + "k",
}

func testInvalidKeys(t *testing.T, b backend) {
	ctx := t.Context()
	for name, key := range badKeys {
		t.Run(name, func(t *testing.T) {
			_, err := b.store.Put(ctx, key, strings.NewReader("x"), "")
			assert.ErrorIs(t, err, kernel.ErrBadRequest, "Put")
			_, _, err = b.store.Get(ctx, key)
			assert.ErrorIs(t, err, kernel.ErrBadRequest, "Get")
			_, err = b.store.Stat(ctx, key)
			assert.ErrorIs(t, err, kernel.ErrBadRequest, "Stat")
			assert.ErrorIs(t, b.store.Delete(ctx, key), kernel.ErrBadRequest, "Delete")
			_, _, err = b.store.PresignGet(ctx, key, time.Minute)
			assert.ErrorIs(t, err, kernel.ErrBadRequest, "PresignGet")
		})
	}
	for _, prefix := range []string{"/a", "../", "a/../", "a//", "a\x00"} {
		_, err := b.store.List(ctx, prefix)
		assert.ErrorIs(t, err, kernel.ErrBadRequest, "List(%q)", prefix)
	}
	for _, ct := range []string{"text/plain\r\nX-Injected: 1", strings.Repeat("a", 256), "text/ü"} {
		_, err := b.store.Put(ctx, "k", strings.NewReader("x"), ct)
		assert.ErrorIs(t, err, kernel.ErrBadRequest, "content type %q", ct)
	}
	all, err := b.store.List(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, all, "nothing was written")
}

var errBoom = errors.New("boom")

func testFailingReader(t *testing.T, b backend) {
	ctx := t.Context()
	failing := func() io.Reader {
		return io.MultiReader(bytes.NewReader(make([]byte, 200<<10)), iotest.ErrReader(errBoom))
	}
	_, err := b.store.Put(ctx, "new", failing(), "")
	require.ErrorIs(t, err, errBoom)
	_, err = b.store.Stat(ctx, "new")
	requireNotFound(t, err)

	put(t, b.store, "old", []byte("intact"), "text/plain")
	_, err = b.store.Put(ctx, "old", failing(), "")
	require.ErrorIs(t, err, errBoom)
	data, _ := get(t, b.store, "old")
	assert.Equal(t, "intact", string(data))

	assert.Empty(t, b.strays(), "temporary files left behind")
}

// cancelReader cancels its context after handing out its first chunk, as a
// client that goes away mid-upload does.
type cancelReader struct {
	r      io.Reader
	cancel context.CancelFunc
	once   sync.Once
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p[:min(len(p), 1024)])
	c.once.Do(c.cancel)
	return n, err
}

func testCancel(t *testing.T, b backend) {
	ctx, cancel := context.WithCancel(t.Context())
	r := &cancelReader{r: bytes.NewReader(make([]byte, 1<<20)), cancel: cancel}
	_, err := b.store.Put(ctx, "cancelled", r, "")
	require.ErrorIs(t, err, context.Canceled)

	_, err = b.store.Put(ctx, "cancelled", strings.NewReader("x"), "")
	require.ErrorIs(t, err, context.Canceled, "already cancelled")

	_, err = b.store.Stat(t.Context(), "cancelled")
	requireNotFound(t, err)
	assert.Empty(t, b.strays(), "temporary files left behind")
}

func testConcurrentPuts(t *testing.T, b backend) {
	versions := make([][]byte, 6)
	var wg sync.WaitGroup
	for i := range versions {
		versions[i] = bytes.Repeat([]byte(fmt.Sprint(i)), 64<<10+i)
		wg.Go(func() {
			_, err := b.store.Put(t.Context(), "shared/key", bytes.NewReader(versions[i]), "")
			assert.NoError(t, err)
		})
		wg.Go(func() {
			rc, info, err := b.store.Get(t.Context(), "shared/key")
			if errors.Is(err, kernel.ErrNotFound) {
				return
			}
			if assert.NoError(t, err) {
				defer rc.Close()
				data, err := io.ReadAll(rc)
				assert.NoError(t, err)
				assert.Equal(t, info.SHA256, sum(data), "a reader saw a mix of versions")
			}
		})
	}
	wg.Wait()
	data, info := get(t, b.store, "shared/key")
	assert.Equal(t, info.SHA256, sum(data))
	assert.Empty(t, b.strays())
}

func testReadiness(t *testing.T, b backend) {
	check := blob.Check(b.store)
	assert.Equal(t, "blobs", check.Name)
	assert.True(t, check.Optional, "blobs down degrades a replica, never takes it out of its balancer")
	assert.NoError(t, check.Probe(t.Context()))
}
