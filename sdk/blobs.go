package sdk

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// Blobs stores files in the core's object storage. The host prefixes every
// key with the tenant and the plugin, so neither tenants nor plugins see
// each other's blobs. Blobs travel in chunks both ways, so their size is
// bounded by the store, not by memory.
//
// Blob changes follow the request's unit of work as far as a store allows:
// a blob written by a request whose unit of work does not commit is
// deleted again, and a Delete takes effect once the unit of work commits.
// Only a crash between the two can leave a blob behind; a plugin that
// records its blobs in rows sweeps those with no row (see BlobInfo.ModTime).
type Blobs struct{ call *call }

// Blob is an open blob. Close its Body when done.
type Blob struct {
	BlobInfo
	Body io.ReadCloser
}

// BlobInfo describes a stored blob.
type BlobInfo struct {
	Key         string // as the plugin named it
	Size        int64
	SHA256      string // lowercase hex of the content, computed by the store
	ContentType string
	ModTime     time.Time
}

// blobChunk is the data in one message of a blob stream.
const blobChunk = 128 << 10

// Put stores what r yields under key and returns what the store computed
// (size and sha256) on the way. A size of 0 or more must be r's exact
// length; a negative size reads r to its end. An error reading r (a
// TooLarge from the plugin's own limit, say) is returned as it is, and
// nothing is stored.
func (b *Blobs) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) (BlobInfo, error) {
	host, err := b.call.client()
	if err != nil {
		return BlobInfo{}, err
	}
	if size >= 0 {
		r = &exactReader{r: io.LimitReader(r, size), left: size}
	}
	// Canceling the stream is how a failed read tells the host to store
	// nothing: closing it would store what was sent.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := host.BlobWrite(sctx)
	if err != nil {
		return BlobInfo{}, hostCallError("blob write", err)
	}
	msg := &wire.BlobWriteRequest{CallId: b.call.id, Key: key, ContentType: contentType}
	buf := make([]byte, blobChunk) // reused: Send has encoded a message when it returns
	for {
		n, rerr := io.ReadAtLeast(r, buf, len(buf))
		if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			cancel()
			return BlobInfo{}, rerr
		}
		msg.Data = buf[:n]
		if err := stream.Send(msg); err != nil {
			if errors.Is(err, io.EOF) { // the host has answered already: its error
				break
			}
			return BlobInfo{}, hostCallError("blob write", err)
		}
		if rerr != nil {
			break
		}
		msg = &wire.BlobWriteRequest{}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return BlobInfo{}, hostCallError("blob write", err)
	}
	if resp.Error != nil {
		return BlobInfo{}, errorFromWire(resp.Error)
	}
	return blobInfoFromWire(key, resp.Info), nil
}

// exactReader fails a read that ends before left bytes, so a short reader
// stores nothing rather than a truncated blob.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if errors.Is(err, io.EOF) && e.left > 0 {
		return n, BadRequest("blob is %d bytes shorter than its stated size", e.left)
	}
	return n, err
}

// Get opens the blob under key, or returns an ErrNotFound error. Its body
// streams from the store as it is read.
func (b *Blobs) Get(ctx context.Context, key string) (*Blob, error) {
	host, err := b.call.client()
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stream, err := host.BlobRead(sctx, &wire.BlobReadRequest{CallId: b.call.id, Key: key, Length: -1})
	if err != nil {
		cancel()
		return nil, hostCallError("blob read", err)
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, hostCallError("blob read", err)
	}
	if first.Error != nil {
		cancel()
		return nil, errorFromWire(first.Error)
	}
	body := &readStream{cancel: cancel, buf: first.Data, next: func() ([]byte, error) {
		m, err := stream.Recv()
		switch {
		case errors.Is(err, io.EOF):
			return nil, io.EOF
		case err != nil:
			return nil, hostCallError("blob read", err)
		case m.Error != nil:
			return nil, errorFromWire(m.Error)
		}
		return m.Data, nil
	}}
	return &Blob{BlobInfo: blobInfoFromWire(key, first.Info), Body: body}, nil
}

// readStream reads a stream of chunks; Close ends the stream.
type readStream struct {
	cancel context.CancelFunc
	buf    []byte
	next   func() ([]byte, error)
	err    error
	once   sync.Once
}

func (r *readStream) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.buf, r.err = r.next()
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *readStream) Close() error {
	r.once.Do(r.cancel)
	return nil
}

// Delete removes the blob under key once the request's unit of work
// commits; a missing key is not an error.
func (b *Blobs) Delete(ctx context.Context, key string) error {
	host, err := b.call.client()
	if err != nil {
		return err
	}
	resp, err := host.BlobDelete(ctx, &wire.KeyRequest{CallId: b.call.id, Key: key})
	return ackError("blob delete", resp, err)
}

// List describes the blobs whose keys start with prefix, sorted by key:
// Key, Size and ModTime only.
func (b *Blobs) List(ctx context.Context, prefix string) ([]BlobInfo, error) {
	host, err := b.call.client()
	if err != nil {
		return nil, err
	}
	resp, err := host.BlobList(ctx, &wire.KeyRequest{CallId: b.call.id, Key: prefix})
	if err != nil {
		return nil, hostCallError("blob list", err)
	}
	if resp.Error != nil {
		return nil, errorFromWire(resp.Error)
	}
	out := make([]BlobInfo, len(resp.Blobs))
	for i, w := range resp.Blobs {
		out[i] = blobInfoFromWire(w.Key, w)
	}
	return out, nil
}

// ErrNoPresign is PresignGet's answer when the store cannot presign (a
// local directory): serve the blob with ServeBlob instead.
var ErrNoPresign = errors.New("the blob store cannot presign URLs")

// PresignGet returns a URL that downloads the blob under key, without
// credentials, until ttl passes (at most 7 days), or ErrNoPresign.
// Presigning does not check that the blob exists.
func (b *Blobs) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	host, err := b.call.client()
	if err != nil {
		return "", err
	}
	resp, err := host.BlobPresign(ctx, &wire.BlobPresignRequest{CallId: b.call.id, Key: key, TtlSeconds: int64(ttl / time.Second)})
	if err != nil {
		return "", hostCallError("blob presign", err)
	}
	if resp.Error != nil {
		return "", errorFromWire(resp.Error)
	}
	if !resp.Ok {
		return "", ErrNoPresign
	}
	return resp.Url, nil
}

func blobInfoFromWire(key string, w *wire.BlobInfo) BlobInfo {
	info := BlobInfo{Key: key, Size: w.GetSize(), SHA256: w.GetSha256(), ContentType: w.GetContentType()}
	if t := w.GetModTime(); t != nil {
		info.ModTime = t.AsTime()
	}
	return info
}
