// Package tenancy is the tenant lifecycle: the tenant registry's rules and
// the service operators drive through the tenant API. Where tenant data
// lives (one PostgreSQL schema and role per tenant) is the job of the
// Store that core/postgres implements.
package tenancy

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
)

// Tenant is one customer organisation with its own schema and role.
type Tenant struct {
	ID        uuid.UUID
	Slug      string
	Name      string
	Schema    string
	Role      string
	Status    kernel.TenantStatus
	Settings  map[string]any
	Plugins   []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Scope is the tenant as a request carries it.
func (t *Tenant) Scope() *kernel.Tenant {
	return &kernel.Tenant{ID: t.ID, Slug: t.Slug, Schema: t.Schema, Role: t.Role, Status: t.Status, Settings: t.Settings, Plugins: t.Plugins}
}

var slugPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{1,30}[a-z0-9]$`)

// ValidSlug reports whether s is a well-formed tenant slug: 3 to 32 lower-case
// letters, digits and inner hyphens, starting with a letter. Only slugs that
// pass it ever reach SQL, and then only through SchemaName and RoleName.
func ValidSlug(s string) bool { return slugPattern.MatchString(s) }

// reservedSlugs would give schema or role names that PostgreSQL or Atrium use.
var reservedSlugs = map[string]bool{"public": true, "atrium": true, "postgres": true, "pg-catalog": true, "information-schema": true}

// CheckSlug returns a field error when s cannot be a tenant slug.
func CheckSlug(s string) error {
	if !ValidSlug(s) {
		return kernel.Invalid(kernel.FieldError{Field: "slug", Message: "must match ^[a-z][a-z0-9-]{1,30}[a-z0-9]$"})
	}
	if reservedSlugs[s] || strings.HasPrefix(s, "pg-") {
		return kernel.Invalid(kernel.FieldError{Field: "slug", Message: "is reserved"})
	}
	return nil
}

// SchemaName is the tenant's schema: "t_" and the slug, hyphens as
// underscores. Slugs have no underscores, so the mapping is one to one.
func SchemaName(slug string) string { return "t_" + strings.ReplaceAll(slug, "-", "_") }

// RoleName is the tenant's NOLOGIN role. Roles are global to the PostgreSQL
// cluster, so the name carries the installation's ID.
func RoleName(installation, slug string) string {
	return "atr_" + installation + "_" + SchemaName(slug)
}

// PluginRoles are the two login roles a plugin has in a tenant: owner owns
// the plugin's objects and runs its migrations, runtime runs its requests'
// SQL with no more than DML on them. Both carry the installation's ID like
// RoleName, then a digest of the tenant's schema (its slug would make the
// name too long for PostgreSQL's 63 bytes), then the plugin's name.
func PluginRoles(installation, slug, plugin string) (owner, runtime string) {
	sum := sha256.Sum256([]byte(SchemaName(slug)))
	tenant := hex.EncodeToString(sum[:6])
	return "ato_" + installation + "_" + tenant + "_" + plugin, "atp_" + installation + "_" + tenant + "_" + plugin
}
