package transport_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// fakeServices is an in-memory host for one request, standing in for the
// core's unit of work, cache, blob store, policy and audit record.
type fakeServices struct {
	mu     sync.Mutex
	cache  map[string][]byte
	blobs  map[string][]byte
	audit  []map[string]any
	authz  []sdk.Resource
	sqlLog []string
	traces []trace.SpanContext // of each cache get
}

func newFake() *fakeServices {
	return &fakeServices{cache: map[string][]byte{}, blobs: map[string][]byte{}}
}

var created = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func (f *fakeServices) Query(_ context.Context, sql string, args []any) (*transport.ResultSet, error) {
	f.mu.Lock()
	f.sqlLog = append(f.sqlLog, sql)
	f.mu.Unlock()
	switch {
	case strings.HasPrefix(sql, "SELECT id, name"):
		if len(args) != 1 || args[0] != "1" {
			return &transport.ResultSet{Columns: []string{"id"}}, nil
		}
		return &transport.ResultSet{
			Columns: []string{"id", "name", "price", "active", "created", "note", "meta"},
			Rows:    [][]any{{int64(1), "first", 9.5, true, created, nil, []byte(`{"a":1}`)}},
		}, nil
	case strings.HasPrefix(sql, "SELECT count(*)"):
		return &transport.ResultSet{Columns: []string{"count"}, Rows: [][]any{{int64(3)}}}, nil
	case strings.HasPrefix(sql, "UPDATE"):
		return &transport.ResultSet{RowsAffected: 3}, nil
	}
	return nil, errors.New("fake: unknown statement " + sql)
}

func (f *fakeServices) Exec(ctx context.Context, sql string, args []any) (int64, error) {
	if strings.HasPrefix(sql, "INSERT") {
		return 0, sdk.Conflict("item %v exists", args[0])
	}
	rs, err := f.Query(ctx, sql, args)
	if err != nil {
		return 0, err
	}
	return rs.RowsAffected, nil
}

func (f *fakeServices) Batch(ctx context.Context, stmts []transport.Statement) ([]*transport.ResultSet, error) {
	out := make([]*transport.ResultSet, len(stmts))
	for i, s := range stmts {
		rs, err := f.Query(ctx, s.SQL, s.Args)
		if err != nil {
			return nil, err
		}
		out[i] = rs
	}
	return out, nil
}

func (f *fakeServices) CacheGet(ctx context.Context, key string) ([]byte, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.traces = append(f.traces, trace.SpanContextFromContext(ctx))
	v, ok := f.cache[key]
	return v, ok, nil
}

func (f *fakeServices) CacheSet(_ context.Context, key string, value []byte, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cache[key] = value
	return nil
}

func (f *fakeServices) CacheDelete(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.cache, key)
	return nil
}

func (f *fakeServices) BlobPut(_ context.Context, key, contentType string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blobs[key] = append([]byte(contentType+"|"), data...)
	return nil
}

func (f *fakeServices) BlobGet(_ context.Context, key string) ([]byte, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.blobs[key]
	if !ok {
		return nil, "", sdk.NotFound("blob %s", key)
	}
	ct, data, _ := strings.Cut(string(v), "|")
	return []byte(data), ct, nil
}

func (f *fakeServices) BlobDelete(_ context.Context, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.blobs, key)
	return nil
}

func (f *fakeServices) BlobWrite(ctx context.Context, key, contentType string, r io.Reader) (sdk.BlobInfo, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return sdk.BlobInfo{}, err
	}
	sum := sha256.Sum256(data)
	return sdk.BlobInfo{Key: key, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), ContentType: contentType},
		f.BlobPut(ctx, key, contentType, data)
}

func (f *fakeServices) BlobRead(ctx context.Context, key string, offset, length int64) (io.ReadCloser, sdk.BlobInfo, error) {
	data, ct, err := f.BlobGet(ctx, key)
	if err != nil {
		return nil, sdk.BlobInfo{}, err
	}
	info := sdk.BlobInfo{Key: key, Size: int64(len(data)), ContentType: ct}
	data = data[offset:]
	if length >= 0 {
		data = data[:length]
	}
	return io.NopCloser(bytes.NewReader(data)), info, nil
}

func (f *fakeServices) BlobPresign(context.Context, string, time.Duration) (string, bool, error) {
	return "", false, nil
}

func (f *fakeServices) BlobList(_ context.Context, prefix string) ([]sdk.BlobInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sdk.BlobInfo
	for k, v := range f.blobs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, sdk.BlobInfo{Key: k, Size: int64(len(v))})
		}
	}
	return out, nil
}

func (f *fakeServices) Authorize(_ context.Context, _ string, res sdk.Resource) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.authz = append(f.authz, res)
	switch res.ID {
	case "open":
		return true, nil
	case "refused":
		return false, sdk.Forbidden("the policy says no")
	}
	return false, nil
}

func (f *fakeServices) Audit(_ context.Context, detail map[string]any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audit = append(f.audit, detail)
	return nil
}

func (f *fakeServices) Emit(context.Context, string, []byte) error { return nil }
