package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
)

// An API key reads atr_<tenant>_<key>_<secret>: the tenant's and the key's
// IDs as 32 hex digits each, then 256 random bits as 64 hex digits. The
// tenant part says which schema to look the key up in; nothing in it is
// trusted, since the key's hash is then checked in that tenant alone. The
// part before the secret is the key's prefix, shown to tell keys apart.
//
// Only SHA-256 of the whole key is kept. A slow hash (bcrypt) guards
// passwords people choose, which can be guessed; a 256-bit random secret
// cannot, so one fast hash is as strong and costs nothing per request.
const keyScheme = "atr_"

type apiKey struct {
	tenant, id uuid.UUID
	secret     [32]byte
}

func newKey(tenant uuid.UUID) (apiKey, error) {
	k := apiKey{tenant: tenant, id: kernel.NewID()}
	if _, err := rand.Read(k.secret[:]); err != nil {
		return apiKey{}, err
	}
	return k, nil
}

func (k apiKey) prefix() string {
	return keyScheme + hex.EncodeToString(k.tenant[:]) + "_" + hex.EncodeToString(k.id[:])
}

func (k apiKey) String() string { return k.prefix() + "_" + hex.EncodeToString(k.secret[:]) }

func (k apiKey) hash() []byte {
	h := sha256.Sum256([]byte(k.String()))
	return h[:]
}

// IsAPIKey tells an API key from an access token (a JWT never starts so).
func IsAPIKey(token string) bool { return strings.HasPrefix(token, keyScheme) }

// parseKey reads a key's parts; anything malformed is a bad token.
func parseKey(s string) (apiKey, error) {
	parts := strings.Split(strings.TrimPrefix(s, keyScheme), "_")
	if !IsAPIKey(s) || len(parts) != 3 || len(parts[0]) != 32 || len(parts[1]) != 32 || len(parts[2]) != 64 {
		return apiKey{}, errBadToken
	}
	var k apiKey
	for i, dst := range [][]byte{k.tenant[:], k.id[:], k.secret[:]} {
		if _, err := hex.Decode(dst, []byte(parts[i])); err != nil {
			return apiKey{}, errBadToken
		}
	}
	// Hex decodes upper case too: only the canonical spelling is the key.
	if k.String() != s {
		return apiKey{}, errBadToken
	}
	return k, nil
}

// ServiceKeys authenticates API keys.
type ServiceKeys struct {
	store   ServiceAccountStore
	tenants TenantResolver
	uow     kernel.Transactor
	clock   kernel.Clock
	log     *slog.Logger
}

// NewServiceKeys returns the API key authenticator.
func NewServiceKeys(store ServiceAccountStore, tenants TenantResolver, uow kernel.Transactor, clock kernel.Clock, log *slog.Logger) *ServiceKeys {
	return &ServiceKeys{store: store, tenants: tenants, uow: uow, clock: clock, log: log}
}

// lastUsedEvery is how stale a key's last_used_at may grow: a request
// writes it only when it is older, not on every request.
const lastUsedEvery = time.Minute

// Authenticate reads a key's tenant, which must be active, and returns the
// service account's principal, still to prove: the key itself is checked
// by Prove, in the request's unit of work. So a key costs no transaction
// of its own, and made-up keys wait for their tenant's places like any of
// its requests before they reach the database. An unknown tenant is the
// same 401 as a bad token.
func (s *ServiceKeys) Authenticate(ctx context.Context, raw string) (*kernel.Principal, *kernel.Tenant, error) {
	k, err := parseKey(raw)
	if err != nil {
		return nil, nil, err
	}
	t, err := s.tenants.ByID(ctx, k.tenant)
	if err != nil {
		if errors.Is(err, kernel.ErrNotFound) {
			return nil, nil, errBadToken
		}
		return nil, nil, err
	}
	if err := CheckActive(t); err != nil {
		return nil, nil, err
	}
	return &kernel.Principal{Type: kernel.PrincipalService, TenantID: t.ID, Session: k.id, Proof: k.hash()}, t, nil
}

// Prove checks, in the request's unit of work, the key p authenticated
// with: known in the tenant, this secret's, neither revoked nor expired.
// An unknown key, a wrong secret, a revoked or expired key: the same 401
// as a bad token. The key is read from the database each time, so a
// revocation holds on every replica once committed. p gets its service
// account's ID.
func (s *ServiceKeys) Prove(ctx context.Context, p *kernel.Principal) error {
	rec, err := s.store.Key(ctx, p.Session)
	if errors.Is(err, kernel.ErrNotFound) {
		return errBadToken
	}
	if err != nil {
		return err
	}
	now := s.clock.Now()
	if len(p.Proof) == 0 || subtle.ConstantTimeCompare(rec.Hash, p.Proof) != 1 || rec.RevokedAt != nil ||
		(rec.ExpiresAt != nil && !now.Before(*rec.ExpiresAt)) {
		return errBadToken
	}
	p.ID = rec.AccountID
	if rec.LastUsedAt == nil || now.Sub(*rec.LastUsedAt) >= lastUsedEvery {
		// Written apart, after the request committed: a read's unit of
		// work cannot write.
		t, _ := kernel.TenantFrom(ctx)
		kernel.AfterCommit(ctx, func() { s.used(t, rec.ID) })
	}
	return nil
}

// used records that a key was used now, in a unit of work of its own
// (the request's has ended: nothing of its context may carry over).
func (s *ServiceKeys) used(t *kernel.Tenant, key uuid.UUID) {
	if t == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.uow.InTenant(ctx, t, func(ctx context.Context) error { return s.store.Used(ctx, key) }); err != nil {
		s.log.WarnContext(ctx, "an API key's last use was not recorded", "key", key, "error", err)
	}
}
