package kernel

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// PrincipalType says whether a principal acts within a tenant or on the platform.
type PrincipalType string

// Principal types.
const (
	PrincipalUser     PrincipalType = "user"
	PrincipalOperator PrincipalType = "operator"
	PrincipalService  PrincipalType = "service" // a tenant's service account, by API key
)

// Principal is the authenticated caller of a request.
type Principal struct {
	ID          uuid.UUID
	Type        PrincipalType
	Email       string
	TenantID    uuid.UUID // uuid.Nil for operators
	Roles       []string
	Permissions []string

	// The token that authenticated it: its session (refresh family) and when
	// it was issued, checked against revocations inside the unit of work.
	// For an API key, Session is the key's ID and Proof its hash, checked
	// there too; ID is the service account's once that check passed.
	Session  uuid.UUID
	IssuedAt time.Time
	Proof    []byte
}

// TenantStatus is the lifecycle state of a tenant.
type TenantStatus string

// Tenant statuses.
const (
	TenantActive    TenantStatus = "active"
	TenantSuspended TenantStatus = "suspended"
)

// Tenant is the tenant a request acts in, as resolved from the tenant registry.
// Schema is the PostgreSQL schema holding its data and Role the NOLOGIN role
// that owns it; both come from the registry only, never from client input.
type Tenant struct {
	ID       uuid.UUID
	Slug     string
	Schema   string
	Role     string
	Status   TenantStatus
	Settings map[string]any
	Plugins  []string // the plugins it enabled
}

type (
	principalKey struct{}
	tenantKey    struct{}
	requestIDKey struct{}
)

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the request's principal, if authenticated.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

// WithTenant returns a context carrying t.
func WithTenant(ctx context.Context, t *Tenant) context.Context {
	return context.WithValue(ctx, tenantKey{}, t)
}

// TenantFrom returns the request's tenant, if resolved.
func TenantFrom(ctx context.Context) (*Tenant, bool) {
	t, ok := ctx.Value(tenantKey{}).(*Tenant)
	return t, ok && t != nil
}

// WithRequestID returns a context carrying the request's ID.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request's ID, or "" outside a request.
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// RequestMeta is where a request came from, for the audit log.
type RequestMeta struct {
	IP        string
	UserAgent string
}

type requestMetaKey struct{}

// WithRequestMeta returns a context carrying m.
func WithRequestMeta(ctx context.Context, m RequestMeta) context.Context {
	return context.WithValue(ctx, requestMetaKey{}, m)
}

// RequestMetaFrom returns the request's origin; zero outside a request.
func RequestMetaFrom(ctx context.Context) RequestMeta {
	m, _ := ctx.Value(requestMetaKey{}).(RequestMeta)
	return m
}
