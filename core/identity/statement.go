package identity

import (
	"context"
	"crypto/ed25519"
	"errors"
	"maps"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SignStatement signs claims as a JWT of type typ with the platform's
// signing key: statements the platform vouches for (audit checkpoints) that
// anyone holding the JWKS can check. iss is set to the issuer.
func (t *Tokens) SignStatement(ctx context.Context, typ string, claims map[string]any) (string, error) {
	if typ == tokenType {
		return "", errors.New("sign statement: an access token is not a statement")
	}
	key, err := t.signingKey(ctx)
	if err != nil {
		return "", err
	}
	c := jwt.MapClaims(maps.Clone(claims))
	c["iss"] = t.issuer
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = key.ID
	tok.Header["typ"] = typ
	return tok.SignedString(key.Private)
}

// VerifyStatement checks a statement of type typ. Unlike an access token a
// statement has no expiry, so any key the platform ever signed with
// verifies it, retired ones included.
func (t *Tokens) VerifyStatement(ctx context.Context, typ, raw string) (map[string]any, error) {
	keys, err := t.keys.Verifying(ctx, time.Time{})
	if err != nil {
		return nil, err
	}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}), jwt.WithIssuer(t.issuer),
		jwt.WithStrictDecoding())
	claims := jwt.MapClaims{}
	_, err = parser.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		if h, _ := tok.Header["typ"].(string); h != typ {
			return nil, errors.New("wrong statement type")
		}
		kid, _ := tok.Header["kid"].(string)
		for _, k := range keys {
			if k.ID == kid {
				return k.Private.Public().(ed25519.PublicKey), nil
			}
		}
		return nil, errUnknownKey
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
}
