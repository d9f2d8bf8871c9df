package identity

import (
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
)

// Token audiences: operator tokens never work on tenant routes and back.
const (
	AudienceOperator = "atrium:operator"
	AudienceTenant   = "atrium:tenant"
	tokenType        = "at+jwt" // RFC 9068 access token
	leeway           = 30 * time.Second
)

// SigningKey is an Ed25519 key with its key ID.
type SigningKey struct {
	ID      string
	Private ed25519.PrivateKey
}

// KeyStore keeps the signing keys replicas share.
type KeyStore interface {
	// Active returns the key to sign with, creating one when there is none.
	Active(ctx context.Context) (SigningKey, error)
	// Verifying returns every key whose tokens may still be valid.
	Verifying(ctx context.Context) ([]SigningKey, error)
}

// Claims are an access token's claims.
type Claims struct {
	jwt.RegisteredClaims
	Email    string `json:"email,omitempty"`
	TenantID string `json:"tid,omitempty"`
}

// Tokens issues and verifies access tokens.
type Tokens struct {
	keys   KeyStore
	issuer string
	ttl    time.Duration
	clock  kernel.Clock

	mu        sync.RWMutex
	verifying map[string]ed25519.PublicKey
	loadedAt  time.Time
}

// NewTokens returns the token service; ttl is the access token lifetime.
func NewTokens(keys KeyStore, issuer string, ttl time.Duration, clock kernel.Clock) *Tokens {
	return &Tokens{keys: keys, issuer: issuer, ttl: ttl, clock: clock}
}

// Issue signs an access token for p with the given audience.
func (t *Tokens) Issue(ctx context.Context, p *kernel.Principal, audience string) (string, time.Duration, error) {
	key, err := t.keys.Active(ctx)
	if err != nil {
		return "", 0, err
	}
	now := t.clock.Now()
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   p.ID.String(),
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			ID:        kernel.NewID().String(),
		},
		Email: p.Email,
	}
	if p.TenantID != uuid.Nil {
		claims.TenantID = p.TenantID.String()
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = key.ID
	tok.Header["typ"] = tokenType
	s, err := tok.SignedString(key.Private)
	return s, t.ttl, err
}

// maxTokenLen bounds the work an attacker can ask of the parser.
const maxTokenLen = 4096

var errBadToken = kernel.E(kernel.KindUnauthenticated, "the access token is missing, malformed, expired or not valid here")

// Verify checks signature, algorithm, key ID, issuer, audience, type and
// times, and returns the principal the token names.
func (t *Tokens) Verify(ctx context.Context, raw, audience string) (*kernel.Principal, error) {
	if len(raw) > maxTokenLen {
		return nil, errBadToken
	}
	var claims Claims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithTimeFunc(t.clock.Now),
	)
	_, err := parser.ParseWithClaims(raw, &claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != tokenType {
			return nil, errors.New("wrong token type")
		}
		kid, _ := tok.Header["kid"].(string)
		return t.publicKey(ctx, kid)
	})
	if err != nil {
		return nil, kernel.Wrap(kernel.KindUnauthenticated, err, "%s", errBadToken.Message)
	}
	id, err := uuid.Parse(claims.Subject)
	if err != nil {
		return nil, errBadToken
	}
	p := &kernel.Principal{ID: id, Email: claims.Email, Type: kernel.PrincipalOperator}
	if audience == AudienceTenant {
		p.Type = kernel.PrincipalUser
		if p.TenantID, err = uuid.Parse(claims.TenantID); err != nil {
			return nil, errBadToken
		}
	}
	return p, nil
}

// publicKey maps a key ID through the known key set only; an unknown ID
// reloads the set at most every reloadEvery (another replica may have rotated).
func (t *Tokens) publicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	t.mu.RLock()
	k, ok := t.verifying[kid]
	stale := t.clock.Now().Sub(t.loadedAt) > reloadEvery
	t.mu.RUnlock()
	if ok {
		return k, nil
	}
	if !stale && t.verifying != nil {
		return nil, errors.New("unknown key ID")
	}
	if err := t.Reload(ctx); err != nil {
		return nil, err
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if k, ok := t.verifying[kid]; ok {
		return k, nil
	}
	return nil, errors.New("unknown key ID")
}

const reloadEvery = 10 * time.Second

// Reload reads the verifying keys from the store.
func (t *Tokens) Reload(ctx context.Context) error {
	keys, err := t.keys.Verifying(ctx)
	if err != nil {
		return err
	}
	m := make(map[string]ed25519.PublicKey, len(keys))
	for _, k := range keys {
		m[k.ID] = k.Private.Public().(ed25519.PublicKey)
	}
	t.mu.Lock()
	t.verifying, t.loadedAt = m, t.clock.Now()
	t.mu.Unlock()
	return nil
}
