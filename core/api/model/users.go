package model

import (
	"time"

	"github.com/google/uuid"
)

// UserResponse is a tenant user as the API shows it.
type UserResponse struct {
	ID        uuid.UUID `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	Roles     []string  `json:"roles"`
	CreatedAt time.Time `json:"created_at"`
}

// UserList is a page of users.
type UserList struct {
	Items      []UserResponse `json:"items"`
	NextCursor *string        `json:"next_cursor"`
}

// CreateUserRequest is the body of POST /api/v1/users.
type CreateUserRequest struct {
	Email    string   `json:"email" validate:"required,email,max=254"`
	Password string   `json:"password" validate:"required" audit:"secret"`
	Name     string   `json:"name" validate:"max=200"`
	Roles    []string `json:"roles" validate:"max=20,dive,min=1,max=63"`
}

// UpdateUserRequest is the body of PATCH /api/v1/users/{id}.
type UpdateUserRequest struct {
	Name     *string   `json:"name" validate:"omitempty,max=200"`
	Password *string   `json:"password" audit:"secret"`
	Status   *string   `json:"status" validate:"omitempty,oneof=active disabled"`
	Roles    *[]string `json:"roles" validate:"omitempty,max=20,dive,min=1,max=63"`
}

// UserRolesRequest is the body of PUT /api/v1/users/{id}/roles.
type UserRolesRequest struct {
	Roles []string `json:"roles" validate:"required,max=20,dive,min=1,max=63"`
}

// RoleResponse is a role with its effective permissions.
type RoleResponse struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Permissions []string `json:"permissions"`
	Builtin     bool     `json:"builtin"`
}

// RoleList is every role of the tenant.
type RoleList struct {
	Items []RoleResponse `json:"items"`
}

// CreateRoleRequest is the body of POST /api/v1/roles.
type CreateRoleRequest struct {
	Name        string   `json:"name" validate:"required,max=63"`
	Description string   `json:"description" validate:"max=500"`
	Permissions []string `json:"permissions" validate:"required,max=500,dive,min=1,max=128"`
}

// PutRoleRequest is the body of PUT /api/v1/roles/{name}.
type PutRoleRequest struct {
	Description string   `json:"description" validate:"max=500"`
	Permissions []string `json:"permissions" validate:"required,max=500,dive,min=1,max=128"`
}

// Permission is one entry of the permission registry.
type Permission struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Owner       string   `json:"owner"`
	Roles       []string `json:"roles,omitempty"`
}

// PermissionList is the permission registry.
type PermissionList struct {
	Items []Permission `json:"items"`
}

// ServiceAccountResponse is a service account as the API shows it.
type ServiceAccountResponse struct {
	ID          uuid.UUID `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Roles       []string  `json:"roles"`
	CreatedAt   time.Time `json:"created_at"`
}

// ServiceAccountList is a page of service accounts.
type ServiceAccountList struct {
	Items      []ServiceAccountResponse `json:"items"`
	NextCursor *string                  `json:"next_cursor"`
}

// CreateServiceAccountRequest is the body of POST /api/v1/service-accounts.
type CreateServiceAccountRequest struct {
	Name        string   `json:"name" validate:"required,max=200"`
	Description string   `json:"description" validate:"max=500"`
	Roles       []string `json:"roles" validate:"max=20,dive,min=1,max=63"`
}

// UpdateServiceAccountRequest is the body of PATCH
// /api/v1/service-accounts/{id}; absent fields stay as they are.
type UpdateServiceAccountRequest struct {
	Name        *string   `json:"name" validate:"omitempty,min=1,max=200"`
	Description *string   `json:"description" validate:"omitempty,max=500"`
	Roles       *[]string `json:"roles" validate:"omitempty,max=20,dive,min=1,max=63"`
}

// CreateKeyRequest issues an API key.
type CreateKeyRequest struct {
	Name      string     `json:"name" validate:"required,max=200"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// CreatedKeyResponse carries a new key's secret, shown this once only.
type CreatedKeyResponse struct {
	ID        uuid.UUID  `json:"id"`
	Key       string     `json:"key"`
	Prefix    string     `json:"prefix"`
	Name      string     `json:"name"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// KeyResponse is an API key without its secret.
type KeyResponse struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// KeyList is a service account's keys.
type KeyList struct {
	Items []KeyResponse `json:"items"`
}
