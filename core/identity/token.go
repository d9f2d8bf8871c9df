package identity

import (
	"context"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/atriumhq/atrium/core/kernel"
)

// Token audiences: operator tokens never work on tenant routes and back.
const (
	AudienceOperator = "atrium:operator"
	AudienceTenant   = "atrium:tenant"
	tokenType        = "at+jwt" // RFC 9068 access token
	leeway           = 30 * time.Second
)

func init() {
	// iat is compared with a user's tokens_valid_after, the instant of a
	// password change. In whole seconds a token minted earlier in that same
	// second would survive the change; milliseconds leave no such window.
	jwt.TimePrecision = time.Millisecond
}

// Claims are an access token's claims.
type Claims struct {
	jwt.RegisteredClaims
	Email    string `json:"email,omitempty"`
	TenantID string `json:"tid,omitempty"`
	// SessionID is the refresh token family the token was issued with:
	// revoking the family (logout, reuse) ends its access tokens too.
	SessionID string `json:"sid"`
}

// Access is a verified access token.
type Access struct {
	Principal *kernel.Principal
	Session   uuid.UUID
	IssuedAt  time.Time
}

// TokenOptions configure Tokens.
type TokenOptions struct {
	Issuer string
	TTL    time.Duration // access token lifetime
	// RotateAfter is the signing key's age at which the next Issue retires
	// it and signs with a new one; zero rotates only on demand.
	RotateAfter time.Duration
	Clock       kernel.Clock
}

// Tokens issues and verifies access tokens.
type Tokens struct {
	keys        KeyStore
	issuer      string
	ttl         time.Duration
	rotateAfter time.Duration
	clock       kernel.Clock
	set         keySet
	verified    *lru.Cache[string, verifiedToken]
	stats       kernel.CacheStats // of verified
}

// NewTokens returns the token service.
func NewTokens(keys KeyStore, o TokenOptions) *Tokens {
	verified, _ := lru.New[string, verifiedToken](verifiedTokens) // fails only for a size below 1
	t := &Tokens{keys: keys, issuer: o.Issuer, ttl: o.TTL, rotateAfter: o.RotateAfter, clock: o.Clock, verified: verified}
	t.set.tokens = t
	return t
}

// Issue signs an access token for p with the given audience, bound to the
// refresh token family session.
func (t *Tokens) Issue(ctx context.Context, p *kernel.Principal, audience string, session uuid.UUID) (string, time.Duration, error) {
	key, err := t.signingKey(ctx)
	if err != nil {
		return "", 0, err
	}
	return t.sign(key, p, audience, session)
}

// sign is Issue with the signing key read already.
func (t *Tokens) sign(key SigningKey, p *kernel.Principal, audience string, session uuid.UUID) (string, time.Duration, error) {
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
		Email:     p.Email,
		SessionID: session.String(),
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

var (
	errBadToken     = kernel.E(kernel.KindUnauthenticated, "the access token is missing, malformed, expired or not valid here")
	errRevokedToken = kernel.E(kernel.KindUnauthenticated, "the access token has been revoked")
	errUnknownKey   = errors.New("unknown key ID")
)

// Verify checks signature, algorithm (EdDSA only), key ID (known keys
// only), issuer, audience, type and times, and returns what the token says.
// It does not ask whether the token was revoked since: Authenticator does.
//
// CacheStats counts the lookups of verified tokens.
func (t *Tokens) CacheStats() *kernel.CacheStats { return &t.stats }

// A verified token is remembered until it expires, so a client's next
// requests skip the signature check (an Ed25519 verification is most of a
// token's cost); the cache is keyed by the whole token and its audience.
func (t *Tokens) Verify(ctx context.Context, raw, audience string) (*Access, error) {
	if len(raw) > maxTokenLen {
		return nil, errBadToken
	}
	key := audience + " " + raw
	now := t.clock.Now()
	if v, ok := t.verified.Get(key); ok {
		if now.Before(v.until) {
			t.stats.Record(true)
			return v.access.clone(), nil
		}
		t.verified.Remove(key)
	}
	t.stats.Record(false)
	acc, until, err := t.verify(ctx, raw, audience)
	if err != nil {
		return nil, err
	}
	t.verified.Add(key, verifiedToken{access: acc, until: until})
	dropExpired(t.verified, now, func(v verifiedToken) time.Time { return v.until })
	return acc.clone(), nil
}

// verifiedToken is a cached verification.
type verifiedToken struct {
	access *Access
	until  time.Time // expiry plus leeway
}

// clone copies the principal, which callers fill in (roles, permissions).
func (a *Access) clone() *Access {
	c := *a
	p := *a.Principal
	c.Principal = &p
	return &c
}

// verifiedTokens bounds the cache of verified tokens.
const verifiedTokens = 50_000

func (t *Tokens) verify(ctx context.Context, raw, audience string) (*Access, time.Time, error) {
	var claims Claims
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(leeway),
		jwt.WithStrictDecoding(), // one encoding per signature: no malleable copies
		jwt.WithTimeFunc(t.clock.Now),
	)
	_, err := parser.ParseWithClaims(raw, &claims, func(tok *jwt.Token) (any, error) {
		if typ, _ := tok.Header["typ"].(string); typ != tokenType {
			return nil, errors.New("wrong token type")
		}
		kid, _ := tok.Header["kid"].(string)
		return t.set.publicKey(ctx, kid)
	})
	if err != nil {
		return nil, time.Time{}, kernel.Wrap(kernel.KindUnauthenticated, err, "%s", errBadToken.Message)
	}
	if claims.IssuedAt == nil { // WithIssuedAt checks iat only when present
		return nil, time.Time{}, errBadToken
	}
	id, err1 := uuid.Parse(claims.Subject)
	sid, err2 := uuid.Parse(claims.SessionID)
	if err1 != nil || err2 != nil {
		return nil, time.Time{}, errBadToken
	}
	p := &kernel.Principal{ID: id, Email: claims.Email, Type: kernel.PrincipalOperator}
	if audience == AudienceTenant {
		p.Type = kernel.PrincipalUser
		if p.TenantID, err = uuid.Parse(claims.TenantID); err != nil {
			return nil, time.Time{}, errBadToken
		}
	}
	return &Access{Principal: p, Session: sid, IssuedAt: claims.IssuedAt.Time}, claims.ExpiresAt.Add(leeway), nil
}

// signingKey is the key to sign with, rotated first when it is too old.
func (t *Tokens) signingKey(ctx context.Context) (SigningKey, error) {
	key, err := t.keys.Active(ctx)
	if err != nil || t.rotateAfter <= 0 || t.clock.Now().Sub(key.CreatedAt) < t.rotateAfter {
		return key, err
	}
	return t.rotate(ctx, key.ID)
}

// Rotate retires the signing key and signs with a new one from now on.
// Tokens signed with the old key verify until they expire. It returns the
// new key's ID.
func (t *Tokens) Rotate(ctx context.Context) (string, error) {
	key, err := t.keys.Active(ctx)
	if err != nil {
		return "", err
	}
	key, err = t.rotate(ctx, key.ID)
	return key.ID, err
}

func (t *Tokens) rotate(ctx context.Context, retire string) (SigningKey, error) {
	key, err := t.keys.Rotate(ctx, retire)
	if err != nil {
		return SigningKey{}, err
	}
	// This replica verifies the new key's tokens at once; others reload
	// when they meet its key ID.
	return key, t.Reload(ctx)
}

// Reload reads the verifying keys from the store.
func (t *Tokens) Reload(ctx context.Context) error { return t.set.load(ctx) }

// grace is how long a retired key keeps verifying: until every token it
// signed has expired.
func (t *Tokens) grace() time.Duration { return t.ttl + leeway }
