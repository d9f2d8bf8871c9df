// Package blob stores files (attachments, backups, plugin uploads) in S3 or,
// when no S3 is configured, in a local directory, behind one Store interface
// so that callers and their tests never depend on which one is in use.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/atriumhq/atrium/core/health"
	"github.com/atriumhq/atrium/core/kernel"
)

// Store holds objects (content plus Info) addressed by key. Every key is
// checked by ValidateKey first, so a bad one is a kernel.KindBadRequest.
type Store interface {
	// Put stores r under key, replacing any previous object. It is atomic:
	// when r fails or ctx ends, no object and no partial file remain, and a
	// replaced object stays intact. The file backend cannot hold both "a"
	// and "a/b" (S3 can): the second is a kernel.KindConflict there.
	Put(ctx context.Context, key string, r io.Reader, contentType string) (Info, error)
	// Get opens the object; the caller closes the reader. A missing key is a
	// kernel.KindNotFound error.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// GetRange opens length bytes of the object from offset (length -1:
	// to its end); Info describes the whole object. A range past the end
	// is a kernel.KindBadRequest error.
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Info, error)
	// Stat describes the object; a missing key is a kernel.KindNotFound error.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object. A missing key is not an error, so retries
	// and concurrent deletes are harmless.
	Delete(ctx context.Context, key string) error
	// List returns the objects whose keys start with prefix, sorted by key.
	// Only Key, Size and ModTime are set: S3 lists no metadata, and callers
	// must not come to rely on what one backend happens to fill in.
	List(ctx context.Context, prefix string) ([]Info, error)
	// PresignGet returns a URL that lets anyone holding it download the
	// object until ttl passes, so large downloads can bypass atriumd. ok is
	// false when the backend cannot presign (the file backend); callers
	// then stream through Get instead. ttl is at most 7 days (SigV4).
	// Presigning is offline: the URL proves nothing about whether the object
	// exists.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (url string, ok bool, err error)
}

// Info describes a stored object.
type Info struct {
	Key         string
	Size        int64
	SHA256      string // lowercase hex of the content, computed by Put
	ContentType string
	ModTime     time.Time
}

// Open returns the Store that rawURL (ATRIUM_BLOB_URL) names:
//
//	file:///abs/path or file://./relative   a local directory, created if missing
//	s3://bucket?region=R&endpoint=URL      S3; endpoint selects MinIO or a fake
//
// S3 credentials come from the standard AWS environment and config chain.
// timeout bounds each S3 request's wait for a connection and, once it is
// sent, for S3's answer (zero: the AWS SDK's defaults, which never give up
// on a silent S3); the SDK tries a failed request three times.
func Open(ctx context.Context, rawURL string, timeout time.Duration) (Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("blob: not a URL") // never echo it: it may hold secrets
	}
	switch u.Scheme {
	case "file":
		return openFile(u)
	case "s3":
		return openS3(ctx, u, timeout)
	}
	return nil, fmt.Errorf("blob: scheme %q not supported, want file or s3", u.Scheme)
}

// Check reports the store ready once it answers a List. It lists rather than
// stats a probe key because S3 answers a HEAD on a missing bucket with the
// same bare 404 as a missing key, which would hide a wrong bucket name. It is
// optional, as Redis is: only the requests that touch blobs (backups,
// documents) fail while the store is down, so a replica stays in its load
// balancer, degraded, rather than every replica leaving it at once.
func Check(s Store) health.Check {
	return health.Check{Name: "blobs", Optional: true, Probe: func(ctx context.Context) error {
		_, err := s.List(ctx, healthPrefix)
		return err
	}}
}

// healthPrefix matches no object the platform writes, so the probe stays cheap.
const healthPrefix = "atrium-health-probe/"

// maxContentType keeps the type within what S3 headers and the file header hold.
const maxContentType = 255

const defaultContentType = "application/octet-stream"

// checkContentType refuses types that would corrupt a header.
func checkContentType(ct string) (string, error) {
	if ct == "" {
		return defaultContentType, nil
	}
	if len(ct) > maxContentType {
		return "", kernel.E(kernel.KindBadRequest, "content type longer than %d bytes", maxContentType)
	}
	for i := range len(ct) {
		if c := ct[i]; c < 0x20 || c > 0x7e {
			return "", kernel.E(kernel.KindBadRequest, "content type has a control or non-ASCII byte")
		}
	}
	return ct, nil
}

// span checks a range against an object of size bytes and returns its
// length.
func span(size, offset, length int64) (int64, error) {
	if length < 0 {
		length = size - offset
	}
	if offset < 0 || length < 0 || offset > size || length > size-offset {
		return 0, kernel.E(kernel.KindBadRequest, "range %d+%d is outside the object's %d bytes", offset, length, size)
	}
	return length, nil
}

func notFound(cause error) error {
	return kernel.Wrap(kernel.KindNotFound, cause, "blob not found")
}

// spool copies r to w, checking ctx between reads, and returns the size and
// hex sha256 of what it copied. A reader error or cancellation is returned
// as is (wrapped), so a caller's kernel error (too large) keeps its kind.
func spool(ctx context.Context, w io.Writer, r io.Reader) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), ctxReader{ctx, r})
	if err != nil {
		return n, "", fmt.Errorf("blob: reading content: %w", err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader ends a copy soon after ctx ends. A Read that blocks forever is
// not interrupted; the HTTP server ends those when the client goes away.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func sortByKey(infos []Info) {
	slices.SortFunc(infos, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
}
