package api

import (
	"encoding/base64"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/identity"
)

// JWKS is the JSON Web Key Set (RFC 7517) of the keys that verify access
// tokens: the signing key and retired keys whose tokens may not have expired.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// JWK is one Ed25519 public key (RFC 8037: key type OKP).
type JWK struct {
	KeyType string `json:"kty"`
	Curve   string `json:"crv"`
	X       string `json:"x"`
	KeyID   string `json:"kid"`
	Alg     string `json:"alg"`
	Use     string `json:"use"`
}

// RotateKeyResponse names the new signing key.
type RotateKeyResponse struct {
	KeyID string `json:"kid"`
}

func keyRoutes(tokens *identity.Tokens) []Route {
	return []Route{
		{
			Method: http.MethodGet, Path: "/.well-known/jwks.json", Summary: "Public keys that verify access tokens", Tags: []string{"auth"},
			Handler: Output(func(c *gin.Context) (JWKS, error) {
				keys, err := tokens.PublicKeys(c.Request.Context())
				if err != nil {
					return JWKS{}, err
				}
				set := JWKS{Keys: make([]JWK, 0, len(keys))}
				for _, k := range keys {
					set.Keys = append(set.Keys, JWK{
						KeyType: "OKP", Curve: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.Key),
						KeyID: k.ID, Alg: "EdDSA", Use: "sig",
					})
				}
				// Short: verifiers also refetch when they meet an unknown kid.
				c.Header("Cache-Control", "public, max-age=60")
				return set, nil
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/operator/signing-keys/rotate",
			Summary: "Retire the signing key and sign with a new one; the old one verifies until its tokens expire",
			Tags:    []string{"auth"}, Access: Operator,
			Handler: Output(func(c *gin.Context) (RotateKeyResponse, error) {
				kid, err := tokens.Rotate(c.Request.Context())
				return RotateKeyResponse{KeyID: kid}, err
			}),
		},
	}
}
