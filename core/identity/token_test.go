package identity_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
)

var (
	user    = &kernel.Principal{ID: kernel.NewID(), Type: kernel.PrincipalUser, Email: "a@acme.test", TenantID: kernel.NewID()}
	session = kernel.NewID()
)

func TestIssuedTokensVerify(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	c.Advance(1234 * time.Millisecond)
	tokens := newTokens(&memKeys{clock: c}, c)

	raw, exp, err := tokens.Issue(ctx, user, identity.AudienceTenant, session)
	require.NoError(t, err)
	assert.Equal(t, ttl, exp)
	acc, err := tokens.Verify(ctx, raw, identity.AudienceTenant)
	require.NoError(t, err)
	assert.Equal(t, *user, *acc.Principal)
	assert.Equal(t, session, acc.Session)
	// iat keeps milliseconds (read back through a float64: at most 1ms early).
	assert.WithinDuration(t, c.Now(), acc.IssuedAt, time.Millisecond)
	assert.NotEqual(t, c.Now().Truncate(time.Second), acc.IssuedAt)

	_, err = tokens.Verify(ctx, raw, identity.AudienceOperator)
	assert.ErrorIs(t, err, kernel.ErrUnauthenticated, "a tenant token is no operator token")
}

// forge signs claims under header with key: the tokens an attacker (or a
// bug) could present.
func forge(t *testing.T, method jwt.SigningMethod, key any, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	require.NoError(t, err)
	return s
}

func TestVerifyRefusesEveryBadToken(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	keys := &memKeys{clock: c}
	tokens := newTokens(keys, c)
	key, err := keys.Active(ctx)
	require.NoError(t, err)
	pub := key.Private.Public().(ed25519.PublicKey)
	now := c.Now()

	claims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		m := jwt.MapClaims{
			"iss": "atrium", "aud": identity.AudienceTenant, "sub": user.ID.String(), "tid": user.TenantID.String(),
			"sid": session.String(), "iat": now.Unix(), "exp": now.Add(ttl).Unix(),
		}
		if change != nil {
			change(m)
		}
		return m
	}
	good := map[string]any{"kid": key.ID, "typ": "at+jwt"}
	valid := forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(nil))
	_, err = tokens.Verify(ctx, valid, identity.AudienceTenant)
	require.NoError(t, err, "the forger signs like the issuer")

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	seg := strings.Split(valid, ".")
	tampered := seg[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"`+kernel.NewID().String()+`"}`)) + "." + seg[2]
	_, other, _ := ed25519.GenerateKey(nil)

	for name, raw := range map[string]string{
		"empty":                   "",
		"garbage":                 "not.a.jwt",
		"alg none":                none,
		"HS256 keyed with pub":    forge(t, jwt.SigningMethodHS256, []byte(pub), good, claims(nil)),
		"HS256 keyed with b64":    forge(t, jwt.SigningMethodHS256, []byte(base64.RawURLEncoding.EncodeToString(pub)), good, claims(nil)),
		"tampered payload":        tampered,
		"another key, same kid":   forge(t, jwt.SigningMethodEdDSA, other, good, claims(nil)),
		"unknown kid":             forge(t, jwt.SigningMethodEdDSA, key.Private, map[string]any{"kid": "nope", "typ": "at+jwt"}, claims(nil)),
		"no kid":                  forge(t, jwt.SigningMethodEdDSA, key.Private, map[string]any{"kid": nil, "typ": "at+jwt"}, claims(nil)),
		"no typ":                  forge(t, jwt.SigningMethodEdDSA, key.Private, map[string]any{"kid": key.ID, "typ": nil}, claims(nil)),
		"typ JWT":                 forge(t, jwt.SigningMethodEdDSA, key.Private, map[string]any{"kid": key.ID, "typ": "JWT"}, claims(nil)),
		"wrong aud":               forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { m["aud"] = identity.AudienceOperator })),
		"no aud":                  forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { delete(m, "aud") })),
		"wrong iss":               forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { m["iss"] = "evil" })),
		"no iss":                  forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { delete(m, "iss") })),
		"no exp":                  forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { delete(m, "exp") })),
		"no iat":                  forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { delete(m, "iat") })),
		"iat in the future":       forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { m["iat"] = now.Add(time.Hour).Unix() })),
		"expired beyond leeway":   forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { m["exp"] = now.Add(-31 * time.Second).Unix() })),
		"not yet valid":           forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { m["nbf"] = now.Add(time.Hour).Unix() })),
		"no sid":                  forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { delete(m, "sid") })),
		"sub not a UUID":          forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { m["sub"] = "admin" })),
		"tenant token, no tid":    forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { delete(m, "tid") })),
		"over the length limit":   valid + strings.Repeat("A", 4096),
		"a megabyte of dots":      strings.Repeat(".", 1<<20),
		"valid with padding":      valid + "=",
		"valid with a space":      " " + valid,
		"two tokens concatenated": valid + "." + valid,
	} {
		t.Run(name, func(t *testing.T) {
			acc, err := tokens.Verify(ctx, raw, identity.AudienceTenant)
			assert.Nil(t, acc)
			assert.ErrorIs(t, err, kernel.ErrUnauthenticated)
		})
	}

	t.Run("expired within leeway", func(t *testing.T) {
		raw := forge(t, jwt.SigningMethodEdDSA, key.Private, good, claims(func(m jwt.MapClaims) { m["exp"] = now.Add(-20 * time.Second).Unix() }))
		_, err := tokens.Verify(ctx, raw, identity.AudienceTenant)
		assert.NoError(t, err, "clock skew up to the leeway is tolerated")
	})
}

func TestRotationKeepsOldTokensValidUntilTheyExpire(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	keys := &memKeys{clock: c}
	tokens := newTokens(keys, c)
	require.NoError(t, tokens.Reload(ctx))

	old, _, err := tokens.Issue(ctx, user, identity.AudienceTenant, session)
	require.NoError(t, err)
	oldKID := kidOf(t, old)
	newKID, err := tokens.Rotate(ctx)
	require.NoError(t, err)
	require.NotEqual(t, oldKID, newKID)

	fresh, _, err := tokens.Issue(ctx, user, identity.AudienceTenant, session)
	require.NoError(t, err)
	assert.Equal(t, newKID, kidOf(t, fresh), "the new key signs")
	for _, raw := range []string{old, fresh} {
		_, err := tokens.Verify(ctx, raw, identity.AudienceTenant)
		assert.NoError(t, err, "the retired key still verifies its tokens")
	}
	assert.Equal(t, []string{oldKID, newKID}, publicKIDs(t, tokens))

	// Once every token of the old key has expired, it is gone.
	c.Advance(ttl + time.Minute)
	assert.Equal(t, []string{newKID}, publicKIDs(t, tokens))
}

func TestKeysRotateWithAge(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	keys := &memKeys{clock: c}
	tokens := identity.NewTokens(keys, identity.TokenOptions{Issuer: "atrium", TTL: ttl, RotateAfter: 24 * time.Hour, Clock: c})

	a, _, err := tokens.Issue(ctx, user, identity.AudienceTenant, session)
	require.NoError(t, err)
	c.Advance(23 * time.Hour)
	b, _, err := tokens.Issue(ctx, user, identity.AudienceTenant, session)
	require.NoError(t, err)
	assert.Equal(t, kidOf(t, a), kidOf(t, b))
	c.Advance(2 * time.Hour)
	d, _, err := tokens.Issue(ctx, user, identity.AudienceTenant, session)
	require.NoError(t, err)
	assert.NotEqual(t, kidOf(t, a), kidOf(t, d), "a day-old key is replaced")
	_, err = tokens.Verify(ctx, d, identity.AudienceTenant)
	assert.NoError(t, err)
}

// A replica meets another's new key ID and reloads to find it, at most
// once a second.
func TestReplicasFindEachOthersNewKeys(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	keys := &memKeys{clock: c}
	a, b := newTokens(keys, c), newTokens(keys, c)
	require.NoError(t, b.Reload(ctx))
	_, err := a.Rotate(ctx)
	require.NoError(t, err)
	raw, _, err := a.Issue(ctx, user, identity.AudienceTenant, session)
	require.NoError(t, err)

	_, err = b.Verify(ctx, raw, identity.AudienceTenant)
	assert.Error(t, err, "b loaded its keys this very instant")
	c.Advance(2 * time.Second)
	_, err = b.Verify(ctx, raw, identity.AudienceTenant)
	assert.NoError(t, err)
}

func kidOf(t *testing.T, raw string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	require.NoError(t, err)
	var header struct{ Kid string }
	require.NoError(t, json.Unmarshal(h, &header))
	return header.Kid
}

func publicKIDs(t *testing.T, tokens *identity.Tokens) []string {
	t.Helper()
	keys, err := tokens.PublicKeys(context.Background())
	require.NoError(t, err)
	var ids []string
	for _, k := range keys {
		ids = append(ids, k.ID)
	}
	return ids
}
