package identity_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"sync"
	"time"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// memKeys is an in-memory KeyStore shared by "replicas" in a test.
type memKeys struct {
	mu    sync.Mutex
	clock kernel.Clock
	keys  []identity.SigningKey
	n     int
}

var _ identity.KeyStore = (*memKeys)(nil)

func (m *memKeys) Active(ctx context.Context) (identity.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.active(); ok {
		return k, nil
	}
	return m.generate(), nil
}

func (m *memKeys) Rotate(_ context.Context, retire string) (identity.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.active(); ok && k.ID != retire {
		return k, nil
	}
	for i := range m.keys {
		if m.keys[i].RetiredAt.IsZero() {
			m.keys[i].RetiredAt = m.clock.Now()
		}
	}
	return m.generate(), nil
}

func (m *memKeys) Verifying(_ context.Context, since time.Time) ([]identity.SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []identity.SigningKey
	for _, k := range m.keys {
		if k.RetiredAt.IsZero() || k.RetiredAt.After(since) {
			out = append(out, k)
		}
	}
	return out, nil
}

func (m *memKeys) active() (identity.SigningKey, bool) {
	for i := len(m.keys) - 1; i >= 0; i-- {
		if m.keys[i].RetiredAt.IsZero() {
			return m.keys[i], true
		}
	}
	return identity.SigningKey{}, false
}

func (m *memKeys) generate() identity.SigningKey {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	m.n++
	k := identity.SigningKey{ID: "key-" + string(rune('a'+m.n-1)), Private: priv, CreatedAt: m.clock.Now()}
	m.keys = append(m.keys, k)
	return k
}

const ttl = 15 * time.Minute

func newTokens(keys identity.KeyStore, c kernel.Clock) *identity.Tokens {
	return identity.NewTokens(keys, identity.TokenOptions{Issuer: "atrium", TTL: ttl, Clock: c})
}
