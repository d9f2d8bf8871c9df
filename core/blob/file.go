package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"github.com/atriumhq/atrium/core/kernel"
)

// The file backend's directory holds objects/<key> (the objects) and tmp/
// (Puts in progress, renamed into objects/ when complete, which is what
// makes Put atomic). Every access goes through os.Root, so neither a key nor
// a symlink planted in the tree can reach a file outside the directory.
const (
	objectsDir = "objects"
	tmpDir     = "tmp"
	// staleTmp is how old a tmp file must be before Open deletes it as the
	// leftover of a crash; younger ones may belong to another live process.
	staleTmp = 24 * time.Hour
)

// An object file starts with a header holding what S3 keeps in metadata, so
// that content and metadata are replaced together by one rename:
//
//	magic (4) | sha256 (32) | len(content type) (1) | content type | content
const (
	magic     = "ATB1"
	fixedHead = len(magic) + 32 + 1
)

type fileStore struct {
	dir string // absolute, so a later chdir changes nothing
}

func openFile(u *url.URL) (Store, error) {
	p := u.Host + u.Path // file://./rel has host "."
	if u.Host == "localhost" {
		p = u.Path
	}
	if p == "" || u.RawQuery != "" {
		return nil, errors.New("blob: file URLs name a directory and nothing else: file:///var/lib/atrium/blobs or file://./blobs")
	}
	dir, err := filepath.Abs(filepath.FromSlash(p))
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil { //nolint:gosec // the directory comes from the operator
		return nil, fmt.Errorf("blob: create directory: %w", err)
	}
	s := &fileStore{dir: dir}
	root, err := s.root()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	for _, d := range []string{objectsDir, tmpDir} {
		if err := root.Mkdir(d, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("blob: %w", err)
		}
	}
	sweepTmp(root)
	return s, nil
}

// root is opened per call rather than held, so the store needs no Close.
func (s *fileStore) root() (*os.Root, error) {
	r, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, fmt.Errorf("blob: open directory: %w", err)
	}
	return r, nil
}

func sweepTmp(root *os.Root) {
	entries, err := fs.ReadDir(root.FS(), tmpDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleTmp {
			_ = root.Remove(path.Join(tmpDir, e.Name()))
		}
	}
}

func objectPath(key string) string { return objectsDir + "/" + key }

func (s *fileStore) Put(ctx context.Context, key string, r io.Reader, contentType string) (_ Info, err error) {
	ct, err := checkContentType(contentType)
	if err != nil {
		return Info{}, err
	}
	if err := ValidateKey(key); err != nil {
		return Info{}, err
	}
	root, err := s.root()
	if err != nil {
		return Info{}, err
	}
	defer root.Close()
	tmp := path.Join(tmpDir, rand.Text())
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Info{}, fmt.Errorf("blob: put: %w", err)
	}
	defer func() {
		f.Close()
		if err != nil {
			_ = root.Remove(tmp)
		}
	}()
	// The sha256 is unknown until the content is written: reserve its place.
	head := append(make([]byte, fixedHead), ct...)
	copy(head, magic)
	head[fixedHead-1] = byte(len(ct)) //nolint:gosec // checkContentType caps it at 255
	if _, err := f.Write(head); err != nil {
		return Info{}, fmt.Errorf("blob: put: %w", err)
	}
	n, sum, err := spool(ctx, f, r)
	if err != nil {
		return Info{}, err
	}
	raw, _ := hex.DecodeString(sum)
	if _, err := f.WriteAt(raw, int64(len(magic))); err != nil {
		return Info{}, fmt.Errorf("blob: put: %w", err)
	}
	if err := f.Sync(); err != nil {
		return Info{}, fmt.Errorf("blob: put: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		return Info{}, fmt.Errorf("blob: put: %w", err)
	}
	if err := f.Close(); err != nil {
		return Info{}, fmt.Errorf("blob: put: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	if err := publish(root, tmp, objectPath(key)); err != nil {
		return Info{}, err
	}
	return Info{Key: key, Size: n, SHA256: sum, ContentType: ct, ModTime: fi.ModTime()}, nil
}

// publish renames tmp into place. It retries when a concurrent Delete pruned
// the parent directory between MkdirAll and Rename.
func publish(root *os.Root, tmp, dst string) error {
	var err error
	for range 3 {
		if err = root.MkdirAll(path.Dir(dst), 0o750); err == nil {
			if err = root.Rename(tmp, dst); !errors.Is(err, fs.ErrNotExist) {
				break
			}
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR),
		errors.Is(err, fs.ErrExist), errors.Is(err, syscall.ENOTEMPTY):
		// S3 allows objects "a" and "a/b" side by side; a directory tree cannot.
		return kernel.Wrap(kernel.KindConflict, err, "blob key collides with a key that is a prefix of it, or that it prefixes")
	}
	return fmt.Errorf("blob: put: %w", err)
}

func (s *fileStore) Delete(ctx context.Context, key string) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	root, err := s.root()
	if err != nil {
		return err
	}
	defer root.Close()
	p := objectPath(key)
	if fi, err := root.Lstat(p); err != nil || fi.IsDir() {
		return nil // missing, or a directory, which holds other keys and is no object
	}
	if err := root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete %q: %w", key, err)
	}
	// Prune directories left empty, so that a later Put of a key equal to
	// one of their paths does not meet a stale directory.
	for d := path.Dir(p); d != objectsDir; d = path.Dir(d) {
		if root.Remove(d) != nil {
			break
		}
	}
	return nil
}
