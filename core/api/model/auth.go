package model

import "github.com/google/uuid"

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

// RefreshRequest spends a refresh token.
type RefreshRequest struct {
	RefreshToken string `json:"refresh_token" validate:"required,max=256" audit:"secret"`
}

// TokenResponse is a token pair (RFC 6749 section 5.1).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// MeResponse is GET /api/v1/auth/me.
type MeResponse struct {
	User   MeUser   `json:"user"`
	Tenant MeTenant `json:"tenant"`
}

// MeUser is the signed-in principal: a user, or a service account (Type
// "service", no email).
type MeUser struct {
	ID    uuid.UUID `json:"id"`
	Type  string    `json:"type"`
	Email string    `json:"email"`
	Name  string    `json:"name"`
	Roles []string  `json:"roles"`
	// Permissions are the effective ones, from the roles.
	Permissions []string `json:"permissions"`
}

// MeTenant is the tenant of the signed-in principal.
type MeTenant struct {
	ID   uuid.UUID `json:"id"`
	Slug string    `json:"slug"`
}
