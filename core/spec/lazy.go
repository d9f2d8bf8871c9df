package spec

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"sync"
)

// LazyCodec builds a Codec on first use, from a key that may live where the
// process cannot reach while it is being wired (the database).
type LazyCodec struct {
	source func(context.Context) ([]byte, error)

	mu    sync.Mutex
	codec *Codec
}

// NewLazyCodec returns a codec whose key is derived from source's secret,
// for cursors only (HMAC-SHA256 of the secret with a fixed label), so the
// secret can serve other purposes under other labels.
func NewLazyCodec(source func(context.Context) ([]byte, error)) *LazyCodec {
	return &LazyCodec{source: source}
}

// Get returns the codec, reading the secret the first time.
func (l *LazyCodec) Get(ctx context.Context) (*Codec, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.codec != nil {
		return l.codec, nil
	}
	secret, err := l.source(ctx)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("atrium list cursors v1"))
	c, err := NewCodec(m.Sum(nil))
	if err != nil {
		return nil, err
	}
	l.codec = c
	return c, nil
}
