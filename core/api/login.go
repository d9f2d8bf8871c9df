package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
)

// OperatorLoginRequest is the body of POST /api/v1/operator/login.
type OperatorLoginRequest struct {
	Email    string `json:"email" validate:"required,max=254"`
	Password string `json:"password" validate:"required,max=1024" audit:"secret"`
}

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Tenant   string `json:"tenant" validate:"required,max=64"`
	Email    string `json:"email" validate:"required,max=254"`
	Password string `json:"password" validate:"required,max=1024" audit:"secret"`
}

// RefreshRequest is the body of POST /api/v1/auth/refresh and
// /api/v1/operator/refresh.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token" validate:"required,max=256" audit:"secret"`
}

// TokenResponse carries an access token and the refresh token that renews
// it; expires_in is the access token's lifetime in seconds.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// MeResponse is the signed-in tenant user.
type MeResponse struct {
	User   MeUser   `json:"user"`
	Tenant MeTenant `json:"tenant"`
}

// MeUser is the principal part of MeResponse: a user, or a service
// account (type "service", no email).
type MeUser struct {
	ID    uuid.UUID `json:"id"`
	Type  string    `json:"type"`
	Email string    `json:"email"`
	Name  string    `json:"name"`
	Roles []string  `json:"roles"`
	// Permissions are what the roles hold (before tenant policies refine
	// individual decisions).
	Permissions []string `json:"permissions"`
}

// MeTenant is the tenant part of MeResponse.
type MeTenant struct {
	ID   uuid.UUID `json:"id"`
	Slug string    `json:"slug"`
}

func tokenResponse(c *gin.Context, p identity.TokenPair) TokenResponse {
	c.Header("Cache-Control", "no-store") // RFC 6749 5.1: tokens are never cached
	return TokenResponse{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: "Bearer", ExpiresIn: int(p.ExpiresIn.Seconds())}
}

// LoginRoutes are sign-in, refresh and logout for operators and tenant
// users, and the signing keys' routes.
func LoginRoutes(ops *identity.Operators, users *identity.Users, accounts *identity.ServiceAccounts, tokens *identity.Tokens) []Route {
	tags := []string{"auth"}
	return append(keyRoutes(tokens), []Route{
		{
			Method: http.MethodPost, Path: "/api/v1/operator/login", Summary: "Sign in as a platform operator", Tags: tags,
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *OperatorLoginRequest) (TokenResponse, error) {
				p, err := ops.Login(c.Request.Context(), in.Email, in.Password)
				return tokenResponse(c, p), err
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/operator/refresh", Summary: "Spend an operator refresh token for a new token pair", Tags: tags,
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *RefreshRequest) (TokenResponse, error) {
				p, err := ops.Refresh(c.Request.Context(), in.RefreshToken)
				return tokenResponse(c, p), err
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/operator/logout", Summary: "Revoke the operator token's sign-in", Tags: tags, Access: Operator,
			Handler: NoContent(func(c *gin.Context) error {
				tok, err := bearer(c)
				if err != nil {
					return err
				}
				return ops.Logout(c.Request.Context(), tok)
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/auth/login", Summary: "Sign in as a tenant user", Tags: tags,
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *LoginRequest) (TokenResponse, error) {
				p, err := users.Login(c.Request.Context(), in.Tenant, in.Email, in.Password)
				return tokenResponse(c, p), err
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/auth/refresh",
			Summary: "Spend a refresh token for a new token pair; reusing a spent one revokes its whole family", Tags: tags,
			Handler: JSON(http.StatusOK, func(c *gin.Context, in *RefreshRequest) (TokenResponse, error) {
				p, err := users.Refresh(c.Request.Context(), in.RefreshToken)
				return tokenResponse(c, p), err
			}),
		},
		{
			Method: http.MethodPost, Path: "/api/v1/auth/logout", Summary: "Revoke the current token family", Tags: tags, Access: Tenant, Action: identity.ActionLogout,
			Handler: NoContent(func(c *gin.Context) error {
				tok, err := bearer(c)
				if err != nil {
					return err
				}
				return users.Logout(c.Request.Context(), tok)
			}),
		},
		{
			Method: http.MethodGet, Path: "/api/v1/auth/me", Summary: "The signed-in user (or service account) and tenant", Tags: []string{"auth"}, Access: Tenant,
			Handler: Output(func(c *gin.Context) (MeResponse, error) {
				ctx := c.Request.Context()
				p, _ := kernel.PrincipalFrom(ctx)
				t, _ := kernel.TenantFrom(ctx)
				if p.Type == kernel.PrincipalService {
					a, err := accounts.Get(ctx, p.ID)
					if err != nil {
						return MeResponse{}, err
					}
					return MeResponse{
						User:   MeUser{ID: a.ID, Type: string(p.Type), Name: a.Name, Roles: nonNil(p.Roles), Permissions: nonNil(p.Permissions)},
						Tenant: MeTenant{ID: t.ID, Slug: t.Slug},
					}, nil
				}
				u, err := users.Me(ctx, p)
				if err != nil {
					return MeResponse{}, err
				}
				return MeResponse{
					User:   MeUser{ID: u.ID, Type: string(p.Type), Email: u.Email, Name: u.Name, Roles: u.Roles, Permissions: nonNil(p.Permissions)},
					Tenant: MeTenant{ID: t.ID, Slug: t.Slug},
				}, nil
			}),
		},
	}...)
}
