package identity

import (
	"context"
	"crypto/ed25519"
	"slices"
	"strings"
	"sync"
	"time"
)

// SigningKey is an Ed25519 key with its key ID.
type SigningKey struct {
	ID        string
	Private   ed25519.PrivateKey
	CreatedAt time.Time
	RetiredAt time.Time // zero while it signs
}

// KeyStore keeps the signing keys replicas share.
type KeyStore interface {
	// Active returns the key to sign with, creating one when there is none.
	Active(ctx context.Context) (SigningKey, error)
	// Rotate retires the key with ID retire and returns its successor. When
	// retire is no longer active (another replica rotated first) it returns
	// the active key and creates nothing.
	Rotate(ctx context.Context, retire string) (SigningKey, error)
	// Verifying returns the active key and the keys retired after since.
	Verifying(ctx context.Context, since time.Time) ([]SigningKey, error)
}

// PublicKey is a verifying key as the JWKS document publishes it.
type PublicKey struct {
	ID  string
	Key ed25519.PublicKey
}

// PublicKeys returns the keys that verify access tokens now, sorted by ID.
func (t *Tokens) PublicKeys(ctx context.Context) ([]PublicKey, error) {
	if err := t.set.reloadIfOlder(ctx, keySetMaxAge); err != nil {
		return nil, err
	}
	now := t.clock.Now()
	t.set.mu.RLock()
	defer t.set.mu.RUnlock()
	out := make([]PublicKey, 0, len(t.set.keys))
	for id, k := range t.set.keys {
		if k.validAt(now) {
			out = append(out, PublicKey{ID: id, Key: k.public})
		}
	}
	slices.SortFunc(out, func(a, b PublicKey) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// The verifying key set is cached. It is reloaded when older than
// keySetMaxAge, so a rotation on another replica retires keys here too, and
// on an unknown key ID (another replica's new key) at most every
// keySetMinAge, so random key IDs cannot turn into a query each.
const (
	keySetMaxAge = time.Minute
	keySetMinAge = time.Second
)

type verifyingKey struct {
	public ed25519.PublicKey
	until  time.Time // zero: the active key
}

func (k verifyingKey) validAt(now time.Time) bool { return k.until.IsZero() || now.Before(k.until) }

type keySet struct {
	tokens *Tokens
	reload sync.Mutex // one reload at a time; the others wait for it

	mu       sync.RWMutex
	keys     map[string]verifyingKey
	loadedAt time.Time
}

// publicKey maps a key ID through the known key set only.
func (s *keySet) publicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	key, age := s.lookup(kid)
	switch {
	case key != nil && age < keySetMaxAge:
		return key, nil
	case key == nil && age < keySetMinAge:
		return nil, errUnknownKey
	}
	maxAge := keySetMaxAge
	if key == nil {
		maxAge = keySetMinAge
	}
	if err := s.reloadIfOlder(ctx, maxAge); err != nil && key == nil {
		return nil, err
	}
	// A failed reload keeps the set we have.
	if key, _ = s.lookup(kid); key == nil {
		return nil, errUnknownKey
	}
	return key, nil
}

// lookup returns the key if it verifies now, and the set's age.
func (s *keySet) lookup(kid string) (ed25519.PublicKey, time.Duration) {
	now := s.tokens.clock.Now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	age := time.Duration(1<<63 - 1)
	if s.keys != nil {
		age = now.Sub(s.loadedAt)
	}
	if k, ok := s.keys[kid]; ok && k.validAt(now) {
		return k.public, age
	}
	return nil, age
}

func (s *keySet) reloadIfOlder(ctx context.Context, maxAge time.Duration) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	s.mu.RLock()
	fresh := s.keys != nil && s.tokens.clock.Now().Sub(s.loadedAt) < maxAge
	s.mu.RUnlock()
	if fresh {
		return nil
	}
	return s.load(ctx)
}

func (s *keySet) load(ctx context.Context) error {
	now := s.tokens.clock.Now()
	grace := s.tokens.grace()
	keys, err := s.tokens.keys.Verifying(ctx, now.Add(-grace))
	if err != nil {
		return err
	}
	m := make(map[string]verifyingKey, len(keys))
	for _, k := range keys {
		v := verifyingKey{public: k.Private.Public().(ed25519.PublicKey)}
		if !k.RetiredAt.IsZero() {
			v.until = k.RetiredAt.Add(grace)
		}
		m[k.ID] = v
	}
	s.mu.Lock()
	s.keys, s.loadedAt = m, now
	s.mu.Unlock()
	return nil
}
