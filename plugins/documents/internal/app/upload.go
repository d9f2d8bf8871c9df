// Package app holds the documents plugin's use cases over the request's
// store and blobs: what an upload must check as the bytes arrive, and what
// deleting documents must remove.
package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/atriumhq/atrium/sdk"
)

// Tenant settings the plugin reads.
const (
	SettingMaxBytes     = "documents.max_bytes"
	SettingContentTypes = "documents.content_types"
	SettingRedirect     = "documents.redirect"
)

// DefaultMaxBytes is an upload's limit when the tenant sets none.
const DefaultMaxBytes = 25 << 20

// Limits are what a tenant allows an upload.
type Limits struct {
	MaxBytes int64
	Types    []string // media types or "type/*"; empty: any
}

// LimitsOf reads the tenant's settings. A malformed setting is the
// tenant's configuration error: an internal error, never a silent default
// that would let through what the tenant meant to refuse.
func LimitsOf(t sdk.Tenant) (Limits, error) {
	l := Limits{MaxBytes: DefaultMaxBytes}
	if v, ok := t.Settings[SettingMaxBytes]; ok && v != nil {
		n, ok := v.(float64)
		if !ok || n < 0 || n != float64(int64(n)) {
			return l, sdk.Internal(nil, "tenant setting %s is %v, want a whole number of bytes", SettingMaxBytes, v)
		}
		l.MaxBytes = int64(n)
	}
	if v, ok := t.Settings[SettingContentTypes]; ok && v != nil {
		list, ok := v.([]any)
		if !ok {
			return l, sdk.Internal(nil, "tenant setting %s is %v, want a list of media types", SettingContentTypes, v)
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return l, sdk.Internal(nil, "tenant setting %s holds %v, want media types", SettingContentTypes, e)
			}
			l.Types = append(l.Types, strings.ToLower(strings.TrimSpace(s)))
		}
	}
	return l, nil
}

// Allows tells whether a media type (without parameters) is allowed.
func (l Limits) Allows(mediaType string) bool {
	if len(l.Types) == 0 {
		return true
	}
	major, _, _ := strings.Cut(mediaType, "/")
	for _, t := range l.Types {
		if t == mediaType || t == "*/*" || strings.HasSuffix(t, "/*") && strings.TrimSuffix(t, "/*") == major {
			return true
		}
	}
	return false
}

// sniffLen is what http.DetectContentType looks at.
const sniffLen = 512

// Sniff reads the start of r and returns the content's media type, as
// net/http's sniffing algorithm sees it (without parameters), and a reader
// that yields r whole again.
func Sniff(r io.Reader) (string, io.Reader, error) {
	head := make([]byte, sniffLen)
	n, err := io.ReadFull(r, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", nil, err
	}
	head = head[:n]
	mt, _, perr := mime.ParseMediaType(http.DetectContentType(head))
	if perr != nil {
		mt = "application/octet-stream"
	}
	return mt, io.MultiReader(bytes.NewReader(head), r), nil
}

// LimitReader fails with a TooLarge error as soon as r yields more than
// max bytes, so an upload past the limit stops there, and what was read is
// never stored.
type LimitReader struct {
	R   io.Reader
	Max int64
	n   int64
}

func (l *LimitReader) Read(p []byte) (int, error) {
	n, err := l.R.Read(p)
	l.n += int64(n)
	if l.n > l.Max {
		return 0, sdk.TooLarge("the file is larger than the tenant's limit of %d bytes", l.Max)
	}
	return n, err
}

// MaxNameLen bounds a document's name (the uploaded file's name).
const MaxNameLen = 255

// CleanName makes the file name a client gave a document's name: its last
// path element, valid UTF-8 without control characters, at most MaxNameLen
// bytes. An empty name is a validation error.
func CleanName(name string) (string, error) {
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base(strings.TrimSpace(name))
	if name == "." || name == ".." || name == "/" || name == "" {
		return "", errors.New("the file part needs a file name")
	}
	if !utf8.ValidString(name) {
		return "", errors.New("the file name is not valid UTF-8")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", errors.New("the file name has a control character")
		}
	}
	if len(name) > MaxNameLen {
		return "", fmt.Errorf("the file name is longer than %d bytes", MaxNameLen)
	}
	return name, nil
}
