package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
)

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
