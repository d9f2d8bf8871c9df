package sdk

import (
	"bytes"
	"context"
	"io"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// MaxBlobSize caps one blob. A blob travels whole in one message between
// plugin and host, so it must stay well under the protocol's message cap.
const MaxBlobSize = 8 << 20

// Blobs stores files in the core's object storage. The host prefixes every
// key with the tenant, so tenants never see each other's blobs.
type Blobs struct{ call *call }

// Blob is a stored file. Close its Body when done: it is read from memory
// today, but a streaming transport may replace it without an API change.
type Blob struct {
	ContentType string
	Size        int64
	Body        io.ReadCloser
}

// Put stores size bytes read from r under key. A negative size reads r to
// its end. More than MaxBlobSize bytes is a TooLarge error.
func (b *Blobs) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if size > MaxBlobSize {
		return TooLarge("blob of %d bytes is over the limit of %d", size, MaxBlobSize)
	}
	data, err := readBlob(r, size)
	if err != nil {
		return err
	}
	host, err := b.call.client()
	if err != nil {
		return err
	}
	resp, err := host.BlobPut(ctx, &wire.BlobPutRequest{
		CallId: b.call.id, Key: key, ContentType: contentType, Data: data,
	})
	return ackError("blob put", resp, err)
}

func readBlob(r io.Reader, size int64) ([]byte, error) {
	if size >= 0 {
		data := make([]byte, size)
		if _, err := io.ReadFull(r, data); err != nil {
			return nil, Internal(err, "read blob of %d bytes", size)
		}
		return data, nil
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxBlobSize+1))
	if err != nil {
		return nil, Internal(err, "read blob")
	}
	if len(data) > MaxBlobSize {
		return nil, TooLarge("blob is over the limit of %d bytes", MaxBlobSize)
	}
	return data, nil
}

// Get returns the blob under key, or an ErrNotFound error.
func (b *Blobs) Get(ctx context.Context, key string) (*Blob, error) {
	host, err := b.call.client()
	if err != nil {
		return nil, err
	}
	resp, err := host.BlobGet(ctx, &wire.KeyRequest{CallId: b.call.id, Key: key})
	if err != nil {
		return nil, hostCallError("blob get", err)
	}
	if resp.Error != nil {
		return nil, errorFromWire(resp.Error)
	}
	return &Blob{
		ContentType: resp.ContentType,
		Size:        int64(len(resp.Data)),
		Body:        io.NopCloser(bytes.NewReader(resp.Data)),
	}, nil
}

// Delete removes the blob under key; a missing key is not an error.
func (b *Blobs) Delete(ctx context.Context, key string) error {
	host, err := b.call.client()
	if err != nil {
		return err
	}
	resp, err := host.BlobDelete(ctx, &wire.KeyRequest{CallId: b.call.id, Key: key})
	return ackError("blob delete", resp, err)
}
