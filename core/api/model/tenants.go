package model

import (
	"time"

	"github.com/google/uuid"
)

// CreateTenantRequest is the body of POST /api/v1/tenants.
type CreateTenantRequest struct {
	Slug     string         `json:"slug" validate:"required"`
	Name     string         `json:"name" validate:"required,max=200"`
	Admin    AdminRequest   `json:"admin" validate:"required"`
	Plugins  []string       `json:"plugins" validate:"omitempty,max=50,dive,min=1,max=64"`
	Settings map[string]any `json:"settings"`
}

// AdminRequest is a new tenant's first admin user.
type AdminRequest struct {
	Email    string `json:"email" validate:"required,email,max=254"`
	Password string `json:"password" validate:"required" audit:"secret"`
}

// UpdateTenantRequest is the body of PATCH /api/v1/tenants/{slug}; absent
// fields stay as they are.
type UpdateTenantRequest struct {
	Name     *string        `json:"name" validate:"omitempty,min=1,max=200"`
	Settings map[string]any `json:"settings"`
	Plugins  *[]string      `json:"plugins" validate:"omitempty,max=50,dive,min=1,max=64"`
	Status   *string        `json:"status" validate:"omitempty,oneof=active suspended"`
}

// TenantResponse is a tenant as the API shows it.
type TenantResponse struct {
	ID        uuid.UUID      `json:"id"`
	Slug      string         `json:"slug"`
	Name      string         `json:"name"`
	Status    string         `json:"status"`
	Settings  map[string]any `json:"settings"`
	Plugins   []string       `json:"plugins"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// TenantList is a page of tenants.
type TenantList struct {
	Items      []TenantResponse `json:"items"`
	NextCursor *string          `json:"next_cursor"`
}

// StoredBackup names a backup kept in the blob store.
type StoredBackup struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// RestoreRequest restores a stored backup.
type RestoreRequest struct {
	BackupKey string `json:"backup_key" validate:"required,max=1024"`
}
