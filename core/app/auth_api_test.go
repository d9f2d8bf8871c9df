package app_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/core/redis"
)

const adminPassword = "tenant admin password"

// authServer is a server whose signing keys the test can read: what a
// forger who stole them would sign with.
type authServer struct {
	*server
	keys identity.KeyStore
}

// startServerWith is startServer with the configuration changed first.
func startServerWith(t *testing.T, change func(*config.Config)) *authServer {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	var keys identity.KeyStore
	s := startCore(t, postgrestest.NewDatabase(t), change, &keys)
	return &authServer{server: s, keys: keys}
}

func (s *server) signIn(slug, email, password string) api.TokenResponse {
	s.t.Helper()
	var tok api.TokenResponse
	status, raw := s.do(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"tenant": slug, "email": email, "password": password}, &tok)
	require.Equal(s.t, http.StatusOK, status, string(raw))
	require.NotEmpty(s.t, tok.RefreshToken)
	return tok
}

func (s *server) refresh(path, refreshToken string) (int, api.TokenResponse, []byte) {
	s.t.Helper()
	var tok api.TokenResponse
	status, raw := s.do(http.MethodPost, path, "", map[string]string{"refresh_token": refreshToken}, &tok)
	return status, tok, raw
}

// me is the status of GET /api/v1/auth/me with token.
func (s *server) me(token string) int {
	s.t.Helper()
	status, _ := s.do(http.MethodGet, "/api/v1/auth/me", token, nil, nil)
	return status
}

func (s *authServer) activeKey() (string, ed25519.PrivateKey) {
	s.t.Helper()
	k, err := s.keys.Active(context.Background())
	require.NoError(s.t, err)
	return k.ID, k.Private
}

func claimsOf(t *testing.T, token string) jwt.MapClaims {
	t.Helper()
	var c jwt.MapClaims
	_, _, err := jwt.NewParser().ParseUnverified(token, &c)
	require.NoError(t, err)
	return c
}

func TestEveryAccessTokenFailureIs401(t *testing.T) {
	s := startServerWith(t, nil)
	s.createTenant(s.operatorToken(), "acme")
	real := s.signIn("acme", "admin@acme.test", adminPassword).AccessToken
	kid, key := s.activeKey()
	pub := key.Public().(ed25519.PublicKey)

	sign := func(method jwt.SigningMethod, k any, header map[string]any, change func(jwt.MapClaims)) string {
		claims := claimsOf(t, real)
		if change != nil {
			change(claims)
		}
		tok := jwt.NewWithClaims(method, claims)
		tok.Header["kid"], tok.Header["typ"] = kid, "at+jwt"
		for h, v := range header {
			tok.Header[h] = v
		}
		raw, err := tok.SignedString(k)
		require.NoError(t, err)
		return raw
	}
	require.Equal(t, http.StatusOK, s.me(sign(jwt.SigningMethodEdDSA, key, nil, nil)), "the forger signs like the server")

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claimsOf(t, real)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	past := time.Now().Add(-time.Hour)
	for name, header := range map[string][]string{
		"no token":          nil,
		"empty bearer":      {"Authorization", "Bearer "},
		"basic scheme":      {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))},
		"alg none":          {"Authorization", "Bearer " + none},
		"HS256, pub as key": {"Authorization", "Bearer " + sign(jwt.SigningMethodHS256, []byte(pub), nil, nil)},
		"unknown kid":       {"Authorization", "Bearer " + sign(jwt.SigningMethodEdDSA, key, map[string]any{"kid": "not-a-key"}, nil)},
		"wrong aud":         {"Authorization", "Bearer " + sign(jwt.SigningMethodEdDSA, key, nil, func(c jwt.MapClaims) { c["aud"] = identity.AudienceOperator })},
		"wrong iss":         {"Authorization", "Bearer " + sign(jwt.SigningMethodEdDSA, key, nil, func(c jwt.MapClaims) { c["iss"] = "someone-else" })},
		"wrong typ":         {"Authorization", "Bearer " + sign(jwt.SigningMethodEdDSA, key, map[string]any{"typ": "JWT"}, nil)},
		"expired beyond leeway": {"Authorization", "Bearer " + sign(jwt.SigningMethodEdDSA, key, nil, func(c jwt.MapClaims) {
			c["iat"], c["nbf"], c["exp"] = past.Unix(), past.Unix(), time.Now().Add(-time.Minute).Unix()
		})},
		"operator token": {"Authorization", "Bearer " + s.operatorToken()},
	} {
		t.Run(name, func(t *testing.T) {
			status, raw := s.do(http.MethodGet, "/api/v1/auth/me", "", nil, nil, header...)
			assert.Equal(t, http.StatusUnauthorized, status, string(raw))
			assert.Equal(t, "unauthenticated", problemCode(t, raw))
		})
	}

	t.Run("a megabyte of dots", func(t *testing.T) {
		start := time.Now()
		status, _ := s.do(http.MethodGet, "/api/v1/auth/me", strings.Repeat(".", 1<<20), nil, nil)
		assert.GreaterOrEqual(t, status, 400)
		assert.Less(t, status, 500)
		assert.Less(t, time.Since(start), 2*time.Second)
	})
}

func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	first := s.signIn("acme", "admin@acme.test", adminPassword)
	other := s.signIn("acme", "admin@acme.test", adminPassword) // another device: another family
	assert.Equal(t, "Bearer", first.TokenType)
	assert.Equal(t, 900, first.ExpiresIn)

	status, second, raw := s.refresh("/api/v1/auth/refresh", first.RefreshToken)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.NotEqual(t, first.RefreshToken, second.RefreshToken)
	assert.Equal(t, claimsOf(t, first.AccessToken)["sid"], claimsOf(t, second.AccessToken)["sid"], "the same family")
	assert.Equal(t, http.StatusOK, s.me(second.AccessToken))

	// The spent token comes back: someone holds a copy. The family ends,
	// its newest tokens included; the other sign-in is untouched.
	status, _, raw = s.refresh("/api/v1/auth/refresh", first.RefreshToken)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "refresh_token_reused", problemCode(t, raw))
	status, _, raw = s.refresh("/api/v1/auth/refresh", second.RefreshToken)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "unauthenticated", problemCode(t, raw))
	assert.Equal(t, http.StatusUnauthorized, s.me(second.AccessToken))
	assert.Equal(t, http.StatusUnauthorized, s.me(first.AccessToken))
	assert.Equal(t, http.StatusOK, s.me(other.AccessToken))
	status, _, _ = s.refresh("/api/v1/auth/refresh", other.RefreshToken)
	assert.Equal(t, http.StatusOK, status)

	for name, tok := range map[string]string{
		"garbage":        "garbage",
		"unknown tenant": "0b6f1e4e-5b8a-4a0e-9b1a-8d6c1f0e2a3b.AAAA",
		"operator's":     s.operatorLogin().RefreshToken,
		"forged secret":  strings.Split(other.RefreshToken, ".")[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	} {
		status, _, raw := s.refresh("/api/v1/auth/refresh", tok)
		assert.Equal(t, http.StatusUnauthorized, status, name)
		assert.Equal(t, "unauthenticated", problemCode(t, raw), name)
	}
	for _, tok := range []string{"", other.AccessToken} { // missing, or far too long to be one
		status, _, _ = s.refresh("/api/v1/auth/refresh", tok)
		assert.Equal(t, http.StatusUnprocessableEntity, status)
	}
}

func TestLogoutRevokesTheFamily(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	a := s.signIn("acme", "admin@acme.test", adminPassword)
	b := s.signIn("acme", "admin@acme.test", adminPassword)

	status, raw := s.do(http.MethodPost, "/api/v1/auth/logout", a.AccessToken, nil, nil)
	require.Equal(t, http.StatusNoContent, status, string(raw))
	assert.Equal(t, http.StatusUnauthorized, s.me(a.AccessToken))
	status, _, _ = s.refresh("/api/v1/auth/refresh", a.RefreshToken)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, http.StatusOK, s.me(b.AccessToken), "other sign-ins stay")

	status, _ = s.do(http.MethodPost, "/api/v1/auth/logout", "", nil, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
}

func TestPasswordChangeAndDisablingEndTokens(t *testing.T) {
	s := startServer(t)
	s.createTenant(s.operatorToken(), "acme")
	admin := s.signIn("acme", "admin@acme.test", adminPassword).AccessToken
	bob := s.createUser(admin, "bob@acme.test", "member")
	before := s.signIn("acme", "bob@acme.test", userPassword)

	status, raw := s.do(http.MethodPatch, "/api/v1/users/"+bob.ID.String(), admin, map[string]any{"password": "bob's new password"}, nil)
	require.Equal(t, http.StatusOK, status, string(raw))
	assert.Equal(t, http.StatusUnauthorized, s.me(before.AccessToken), "access tokens issued before the change")
	status, _, _ = s.refresh("/api/v1/auth/refresh", before.RefreshToken)
	assert.Equal(t, http.StatusUnauthorized, status, "refresh tokens of sign-ins before the change")
	status, _ = s.login("acme", "bob@acme.test", userPassword)
	assert.Equal(t, http.StatusUnauthorized, status)
	after := s.signIn("acme", "bob@acme.test", "bob's new password")
	assert.Equal(t, http.StatusOK, s.me(after.AccessToken), "a sign-in right after the change works")
	assert.Equal(t, http.StatusOK, s.me(admin), "only bob's tokens")

	status, _ = s.do(http.MethodPatch, "/api/v1/users/"+bob.ID.String(), admin, map[string]any{"status": "disabled"}, nil)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, http.StatusUnauthorized, s.me(after.AccessToken))
	status, _, _ = s.refresh("/api/v1/auth/refresh", after.RefreshToken)
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = s.login("acme", "bob@acme.test", "bob's new password")
	assert.Equal(t, http.StatusUnauthorized, status)
}

func (s *server) operatorLogin() api.TokenResponse {
	s.t.Helper()
	var tok api.TokenResponse
	status, raw := s.do(http.MethodPost, "/api/v1/operator/login", "", map[string]string{"email": operatorEmail, "password": operatorPassword}, &tok)
	require.Equal(s.t, http.StatusOK, status, string(raw))
	return tok
}

func TestOperatorTokensRefreshLogOutAndEndWithTheOperator(t *testing.T) {
	s := startServer(t)
	first := s.operatorLogin()
	status, second, raw := s.refresh("/api/v1/operator/refresh", first.RefreshToken)
	require.Equal(t, http.StatusOK, status, string(raw))
	status, _ = s.do(http.MethodGet, "/api/v1/tenants", second.AccessToken, nil, nil)
	assert.Equal(t, http.StatusOK, status)
	status, _, raw = s.refresh("/api/v1/operator/refresh", first.RefreshToken)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "refresh_token_reused", problemCode(t, raw))
	status, _ = s.do(http.MethodGet, "/api/v1/tenants", second.AccessToken, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, status, "the family is revoked")

	third := s.operatorLogin()
	status, _ = s.do(http.MethodPost, "/api/v1/operator/logout", third.AccessToken, nil, nil)
	require.Equal(t, http.StatusNoContent, status)
	status, _ = s.do(http.MethodGet, "/api/v1/tenants", third.AccessToken, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _, _ = s.refresh("/api/v1/operator/refresh", third.RefreshToken)
	assert.Equal(t, http.StatusUnauthorized, status)
	s.createTenant(s.operatorToken(), "acme")
	status, _, _ = s.refresh("/api/v1/operator/refresh", s.signIn("acme", "admin@acme.test", adminPassword).RefreshToken)
	assert.Equal(t, http.StatusUnauthorized, status, "a tenant refresh token is no operator's")
}

type httpReply struct {
	status int
	header http.Header
	body   []byte
}

// post sends body as JSON and returns the reply, headers included.
func (s *server) post(path string, body map[string]string) httpReply {
	s.t.Helper()
	b, err := json.Marshal(body)
	require.NoError(s.t, err)
	resp, err := http.Post(s.base+path, "application/json", bytes.NewReader(b)) //nolint:noctx // test
	require.NoError(s.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return httpReply{resp.StatusCode, resp.Header, raw}
}

func TestLoginAttemptsAreRateLimitedPerTenantAndAccount(t *testing.T) {
	s := startServerWith(t, func(c *config.Config) { c.LoginRateLimit, c.LoginRateWindow = 3, time.Minute })
	testRateLimit(t, s)
}

// With REDIS_URL the limit is kept in Redis, and /readyz reports it.
func TestLoginRateLimitInRedis(t *testing.T) {
	url := os.Getenv("REDIS_TEST_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
		c, err := redis.New(url)
		require.NoError(t, err)
		up := redis.Ping(context.Background(), c) == nil
		_ = c.Close()
		if !up {
			t.Skip("no Redis at 127.0.0.1:6379 and REDIS_TEST_URL unset")
		}
	}
	s := startServerWith(t, func(c *config.Config) {
		c.LoginRateLimit, c.LoginRateWindow, c.RedisURL = 3, time.Minute, url
	})
	status, body := get(t, s.base+"/readyz")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, `"redis":{"status":"up"`)
	testRateLimit(t, s)
}

func testRateLimit(t *testing.T, s *authServer) {
	op := s.operatorToken()
	s.createTenant(op, "acme")
	s.createTenant(op, "globex")
	attempt := func(slug, email, password string) httpReply {
		return s.post("/api/v1/auth/login", map[string]string{"tenant": slug, "email": email, "password": password})
	}
	for range 3 {
		r := attempt("acme", "admin@acme.test", "wrong password!")
		require.Equal(t, http.StatusUnauthorized, r.status)
	}
	r := attempt("acme", "ADMIN@acme.test", adminPassword)
	assert.Equal(t, http.StatusTooManyRequests, r.status, "even the right password waits")
	assert.Equal(t, "rate_limited", problemCode(t, r.body))
	wait, err := strconv.Atoi(r.header.Get("Retry-After"))
	require.NoError(t, err, r.header.Get("Retry-After"))
	assert.True(t, wait >= 1 && wait <= 60, "Retry-After %d", wait)

	r = attempt("globex", "admin@acme.test", adminPassword)
	assert.Equal(t, http.StatusUnauthorized, r.status, "another tenant's account is counted apart")
	r = attempt("acme", "someone@acme.test", "wrong password!")
	assert.Equal(t, http.StatusUnauthorized, r.status, "another account is counted apart")
	for range 3 {
		attempt("nowhere", "a@b.test", "wrong password!")
	}
	r = attempt("nowhere", "a@b.test", "wrong password!")
	assert.Equal(t, http.StatusTooManyRequests, r.status, "unknown tenants are limited alike")

	for range 3 {
		s.post("/api/v1/operator/login", map[string]string{"email": "intruder@atrium.test", "password": "guess guess"})
	}
	r = s.post("/api/v1/operator/login", map[string]string{"email": "intruder@atrium.test", "password": "guess guess"})
	assert.Equal(t, http.StatusTooManyRequests, r.status, "operator sign-in too")
	assert.NotEmpty(t, r.header.Get("Retry-After"))
}

// Unknown user and wrong password: the same 401 after the same work.
// A behaviour check with a generous bound, not a benchmark.
func TestUnknownUserAndWrongPasswordTakeTheSameTime(t *testing.T) {
	s := startServerWith(t, func(c *config.Config) { c.LoginRateLimit, c.LoginIPRateLimit = 1000, 1000 })
	s.createTenant(s.operatorToken(), "acme")
	var unknown, wrong time.Duration
	const tries = 20
	for i := range tries {
		start := time.Now()
		r := s.post("/api/v1/auth/login", map[string]string{"tenant": "acme", "email": "nobody" + strconv.Itoa(i) + "@acme.test", "password": "some password"})
		unknown += time.Since(start)
		require.Equal(t, http.StatusUnauthorized, r.status)
		start = time.Now()
		r = s.post("/api/v1/auth/login", map[string]string{"tenant": "acme", "email": "admin@acme.test", "password": "some password"})
		wrong += time.Since(start)
		require.Equal(t, http.StatusUnauthorized, r.status)
	}
	ratio := float64(unknown) / float64(wrong)
	t.Logf("mean unknown user %s, wrong password %s, ratio %.2f", unknown/tries, wrong/tries, ratio)
	assert.True(t, ratio > 0.5 && ratio < 2, "unknown user vs wrong password: ratio %.2f", ratio)
}

func TestJWKSPublishesTheKeysAndRotationKeepsOldTokensWorking(t *testing.T) {
	s := startServerWith(t, nil)
	s.createTenant(s.operatorToken(), "acme")
	old := s.signIn("acme", "admin@acme.test", adminPassword).AccessToken

	jwks := func() map[string]api.JWK {
		var set api.JWKS
		status, raw := s.do(http.MethodGet, "/.well-known/jwks.json", "", nil, &set)
		require.Equal(t, http.StatusOK, status, string(raw))
		keys := map[string]api.JWK{}
		for _, k := range set.Keys {
			keys[k.KeyID] = k
		}
		return keys
	}
	keys := jwks()
	require.Len(t, keys, 1)
	kid, _ := s.activeKey()
	k := keys[kid]
	assert.Equal(t, api.JWK{KeyType: "OKP", Curve: "Ed25519", X: k.X, KeyID: kid, Alg: "EdDSA", Use: "sig"}, k)
	// The published key verifies the token, as any outside verifier would.
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	require.NoError(t, err)
	_, err = jwt.NewParser().Parse(old, func(*jwt.Token) (any, error) { return ed25519.PublicKey(x), nil })
	assert.NoError(t, err)

	status, _ := s.do(http.MethodPost, "/api/v1/operator/signing-keys/rotate", old, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, status, "operators only")
	var rotated api.RotateKeyResponse
	status, raw := s.do(http.MethodPost, "/api/v1/operator/signing-keys/rotate", s.operatorToken(), nil, &rotated)
	require.Equal(t, http.StatusOK, status, string(raw))
	require.NotEqual(t, kid, rotated.KeyID)

	keys = jwks()
	assert.Len(t, keys, 2, "the retired key is published until its tokens expire")
	assert.Contains(t, keys, rotated.KeyID)
	fresh := s.signIn("acme", "admin@acme.test", adminPassword).AccessToken
	assert.Equal(t, http.StatusOK, s.me(old), "tokens of the retired key keep working")
	assert.Equal(t, http.StatusOK, s.me(fresh))

	// Another replica on the same database shares the keys, the new one included.
	other := startServerOn(t, s.db)
	assert.Equal(t, http.StatusOK, other.me(old))
	assert.Equal(t, http.StatusOK, other.me(fresh))
	_, err = jwt.NewParser().Parse(fresh, func(tok *jwt.Token) (any, error) {
		x, err := base64.RawURLEncoding.DecodeString(keys[tok.Header["kid"].(string)].X)
		return ed25519.PublicKey(x), err
	})
	assert.NoError(t, err)
}
