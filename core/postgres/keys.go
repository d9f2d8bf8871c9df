package postgres

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Keys derives what the database must know but no tenant or plugin may
// (the tenants' audit keys, the plugin roles' passwords) from the
// installation's secret, which only the platform role reads. Derived, not
// stored: every replica computes the same, and nothing more needs keeping.
type Keys struct {
	pool *pgxpool.Pool

	mu     sync.Mutex
	secret []byte
}

// NewKeys returns the keys of the installation in pool's database.
func NewKeys(pool *pgxpool.Pool) *Keys { return &Keys{pool: pool} }

// rowQuerier is a pool, a connection or a transaction.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// load reads the secret once, through q (nil: the pool). A caller holding
// a connection of the pool passes it: with the pool exhausted, waiting for
// another would never end. atriumd loads its keys at start (preloadKeys).
func (k *Keys) load(ctx context.Context, q rowQuerier) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.secret != nil {
		return k.secret, nil
	}
	if q == nil {
		q = k.pool
	}
	var secret []byte
	if err := q.QueryRow(ctx, "SELECT secret FROM atrium.installation").Scan(&secret); err != nil {
		return nil, unavailable(err)
	}
	k.secret = secret
	return secret, nil
}

func (k *Keys) derive(ctx context.Context, q rowQuerier, purpose, name string) ([]byte, error) {
	secret, err := k.load(ctx, q)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(name))
	return m.Sum(nil), nil
}

// AuditKey is the key a tenant's audit records are signed with (migration
// 000007: audit_append checks the signature).
func (k *Keys) AuditKey(ctx context.Context, q rowQuerier, schema string) ([]byte, error) {
	return k.derive(ctx, q, "audit-append", schema)
}

// RolePassword is the password of one of the roles atriumd logs in as for a
// plugin. Where the server trusts local connections it is never asked for.
func (k *Keys) RolePassword(ctx context.Context, q rowQuerier, role string) (string, error) {
	key, err := k.derive(ctx, q, "role-password", role)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(key), nil
}

// signRecord is the MAC audit_append checks: HMAC-SHA-256 of the record's
// text under the tenant's audit key.
func signRecord(key, record []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(record)
	return m.Sum(nil)
}

// hmacPads are HMAC-SHA-256's inner and outer key pads, which audit_key
// stores: with them the database computes the MAC from sha256 alone.
func hmacPads(key []byte) (ipad, opad []byte) {
	ipad, opad = make([]byte, sha256.BlockSize), make([]byte, sha256.BlockSize)
	copy(ipad, key)
	copy(opad, key)
	for i := range ipad {
		ipad[i] ^= 0x36
		opad[i] ^= 0x5c
	}
	return ipad, opad
}

// scramVerifier is what PostgreSQL stores for password (SCRAM-SHA-256, RFC
// 5802 and 7677): given to CREATE ROLE ... PASSWORD, the password itself
// never appears in a statement, and so never in the server's logs.
func scramVerifier(password string) (string, error) {
	const iterations = 4096
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(mac(salted, "Server Key"))), nil
}
