package blob_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/blob"
	"github.com/atriumhq/atrium/core/kernel"
)

func openFileStore(t *testing.T, dir string) blob.Store {
	t.Helper()
	s, err := blob.Open(t.Context(), "file://"+filepath.ToSlash(dir), 0)
	require.NoError(t, err)
	return s
}

func newFileBackend(t *testing.T) backend {
	dir := t.TempDir()
	return backend{
		store: openFileStore(t, dir),
		strays: func() []string {
			entries, err := os.ReadDir(filepath.Join(dir, "tmp"))
			require.NoError(t, err)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			return names
		},
	}
}

func TestFileContract(t *testing.T) { testContract(t, newFileBackend) }

func TestFileOpenRelativeCreatesDirectory(t *testing.T) {
	wd := t.TempDir()
	t.Chdir(wd)
	s, err := blob.Open(t.Context(), "file://./.atrium/blobs", 0)
	require.NoError(t, err)
	t.Chdir(t.TempDir()) // the store keeps its absolute directory

	fi, err := os.Stat(filepath.Join(wd, ".atrium", "blobs"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o750), fi.Mode().Perm()&^0o022) // umask may only remove bits

	put(t, s, "k/v", []byte("x"), "")
	assert.FileExists(t, filepath.Join(wd, ".atrium", "blobs", "objects", "k", "v"))
}

func TestFilePresignIsUnsupported(t *testing.T) {
	s := openFileStore(t, t.TempDir())
	url, ok, err := s.PresignGet(t.Context(), "any", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Empty(t, url)
}

// TestFileSymlinksCannotEscapeRoot plants symlinks to a directory and a file
// outside the store, as an attacker with write access to the tree might.
func TestFileSymlinksCannotEscapeRoot(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	s := openFileStore(t, dir)
	secret := filepath.Join(outside, "secret")
	require.NoError(t, os.WriteFile(secret, []byte("ATB1 do not read"), 0o600))
	objects := filepath.Join(dir, "objects")
	require.NoError(t, os.Symlink(outside, filepath.Join(objects, "linkdir")))
	require.NoError(t, os.Symlink(secret, filepath.Join(objects, "linkfile")))
	ctx := t.Context()

	for _, key := range []string{"linkdir/secret", "linkfile"} {
		_, _, err := s.Get(ctx, key)
		assert.Error(t, err, key)
		_, err = s.Stat(ctx, key)
		assert.Error(t, err, key)
	}

	_, err := s.Put(ctx, "linkdir/planted", strings.NewReader("x"), "")
	assert.Error(t, err)
	assert.NoFileExists(t, filepath.Join(outside, "planted"))

	// Put replaces the link itself; Delete removes it; neither touches the target.
	put(t, s, "linkfile", []byte("replaced"), "")
	require.NoError(t, s.Delete(ctx, "linkdir"))
	require.NoError(t, s.Delete(ctx, "linkfile"))
	got, err := os.ReadFile(secret)
	require.NoError(t, err)
	assert.Equal(t, "ATB1 do not read", string(got))

	infos, err := s.List(ctx, "")
	require.NoError(t, err)
	assert.Empty(t, infos, "List follows no symlink")
	require.NoError(t, os.Symlink(outside, filepath.Join(objects, "linkdir")))
	infos, _ = s.List(ctx, "linkdir/") // an error is fine too, content from outside is not
	assert.Empty(t, infos)
}

// TestFileTraversalStaysInRoot checks that the key rules, not luck, keep
// paths inside: every traversal attempt is refused before touching disk.
func TestFileTraversalStaysInRoot(t *testing.T) {
	parent := t.TempDir()
	s := openFileStore(t, filepath.Join(parent, "store"))
	for _, key := range []string{"../escaped", "../../escaped", "a/../../escaped", "/escaped", `..\escaped`} {
		_, err := s.Put(t.Context(), key, strings.NewReader("x"), "")
		assert.ErrorIs(t, err, kernel.ErrBadRequest, key)
	}
	entries, err := os.ReadDir(parent)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "store", entries[0].Name())
}

func TestFileKeyThatIsAlsoADirectoryConflicts(t *testing.T) {
	s := openFileStore(t, t.TempDir())
	put(t, s, "a", []byte("file"), "")
	_, err := s.Put(t.Context(), "a/b", strings.NewReader("x"), "")
	assert.ErrorIs(t, err, kernel.ErrConflict)

	put(t, s, "c/d", []byte("file"), "")
	_, err = s.Put(t.Context(), "c", strings.NewReader("x"), "")
	assert.ErrorIs(t, err, kernel.ErrConflict)
}

func TestFileForeignFileIsAnErrorNotContent(t *testing.T) {
	dir := t.TempDir()
	s := openFileStore(t, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "objects", "foreign"), []byte("x"), 0o600))
	_, _, err := s.Get(t.Context(), "foreign")
	require.Error(t, err)
	assert.NotErrorIs(t, err, kernel.ErrNotFound)
}

func TestFileOpenSweepsStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	openFileStore(t, dir)
	stale, fresh := filepath.Join(dir, "tmp", "stale"), filepath.Join(dir, "tmp", "fresh")
	require.NoError(t, os.WriteFile(stale, nil, 0o600))
	require.NoError(t, os.WriteFile(fresh, nil, 0o600))
	old := time.Now().Add(-48 * time.Hour)
	require.NoError(t, os.Chtimes(stale, old, old))

	openFileStore(t, dir)
	assert.NoFileExists(t, stale)
	assert.FileExists(t, fresh, "may belong to a live Put of another process")
}

func TestOpenRefusesBadURLs(t *testing.T) {
	for _, raw := range []string{
		"ftp://host/x",
		"blobs",
		"file://",
		"file:///tmp/x?mode=fast",
		"s3://",
		"s3:///key",
		"s3://bucket/prefix",
		"s3://bucket?regoin=eu-west-1",
		"s3://bucket?region=eu-west-1&endpoint=localhost:9000",
		"://",
	} {
		_, err := blob.Open(t.Context(), raw, 0)
		assert.Error(t, err, raw)
	}
}

func TestValidateKey(t *testing.T) {
	for name, key := range badKeys {
		err := blob.ValidateKey(key)
		assert.ErrorIs(t, err, kernel.ErrBadRequest, name)
	}
	for _, key := range []string{"a", "a/b/c", ".hidden", "a/..b", "a/.../b", "tenants/acme/ü 1.txt", "a:b?c#d%20"} {
		assert.NoError(t, blob.ValidateKey(key), key)
	}
}

func TestFileReadinessFailsWhenDirectoryIsGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	s := openFileStore(t, dir)
	require.NoError(t, os.RemoveAll(dir))
	require.Error(t, blob.Check(s).Probe(t.Context()))
}
