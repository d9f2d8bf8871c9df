package identity

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

// ServiceAccount is a tenant's non-human principal: it holds roles like a
// user, has no password, and authenticates with API keys.
type ServiceAccount struct {
	ID          uuid.UUID
	Name        string
	Description string
	Roles       []string
	CreatedAt   time.Time
}

// APIKey is a service account's key as it is kept: its hash, never the
// secret.
type APIKey struct {
	ID         uuid.UUID
	AccountID  uuid.UUID
	Name       string
	Prefix     string
	Hash       []byte
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// ServiceAccountStore keeps a tenant's service accounts and their keys; it
// runs in the unit of work.
type ServiceAccountStore interface {
	List(ctx context.Context, q spec.Spec) ([]*ServiceAccount, error)
	ByID(ctx context.Context, id uuid.UUID) (*ServiceAccount, error)
	Create(ctx context.Context, a *ServiceAccount) error // taken name: KindConflict
	// Update loads the account, applies fn and saves it.
	Update(ctx context.Context, id uuid.UUID, fn func(a *ServiceAccount)) (*ServiceAccount, error)
	Delete(ctx context.Context, id uuid.UUID) error // its keys go with it
	AddKey(ctx context.Context, k *APIKey) error
	Keys(ctx context.Context, account uuid.UUID) ([]*APIKey, error)
	// RevokeKey marks the account's key revoked (a revoked key stays so).
	RevokeKey(ctx context.Context, account, key uuid.UUID) error
	// Key reads one key, for authentication.
	Key(ctx context.Context, id uuid.UUID) (*APIKey, error)
	// Used records that the key was used now, unless it was in the last
	// minute.
	Used(ctx context.Context, id uuid.UUID) error
	// Changed tells every replica the tenant's assignments changed.
	Changed(ctx context.Context) error
}

// ServiceAccounts manages a tenant's service accounts and their keys.
type ServiceAccounts struct {
	store   ServiceAccountStore
	roles   RoleChecker
	clock   kernel.Clock
	cursors *spec.LazyCodec
	changed func(tenant uuid.UUID) // told when an account or its roles change here
}

// NewServiceAccounts returns the service account directory.
func NewServiceAccounts(store ServiceAccountStore, roles RoleChecker, clock kernel.Clock, secret func(context.Context) ([]byte, error)) *ServiceAccounts {
	return &ServiceAccounts{store: store, roles: roles, clock: clock, cursors: spec.NewLazyCodec(secret)}
}

// OnChange calls f, after commit, when an account's roles change or it is
// deleted: this replica's role cache drops it at once.
func (s *ServiceAccounts) OnChange(f func(tenant uuid.UUID)) *ServiceAccounts {
	s.changed = f
	return s
}

func (s *ServiceAccounts) rolesChanged(ctx context.Context) error {
	if t, ok := kernel.TenantFrom(ctx); ok && s.changed != nil {
		kernel.AfterCommit(ctx, func() { s.changed(t.ID) })
	}
	return s.store.Changed(ctx)
}

// ServiceAccountFields is the allow-list of service account lists.
var ServiceAccountFields = spec.NewFields("service_account", "id", map[string]spec.Field{
	"id":         {Column: "id", Type: spec.UUID},
	"name":       {Column: "name", Type: spec.String, Filter: true, Sort: true},
	"created_at": {Column: "created_at", Type: spec.Time, Sort: true},
})

// ServiceAccountOrder is a list's order when the client names none.
var ServiceAccountOrder = []spec.SortKey{{Field: "name"}}

// Cursors verify and make list cursors.
func (s *ServiceAccounts) Cursors(ctx context.Context) (*spec.Codec, error) {
	return s.cursors.Get(ctx)
}

// List returns a page of the tenant's service accounts and the next
// page's cursor.
func (s *ServiceAccounts) List(ctx context.Context, q spec.Spec) ([]*ServiceAccount, string, error) {
	rows, err := s.store.List(ctx, q)
	if err != nil {
		return nil, "", err
	}
	codec, err := s.cursors.Get(ctx)
	if err != nil {
		return nil, "", err
	}
	return spec.Paginate(codec, q, ServiceAccountFields, rows, func(a *ServiceAccount) map[string]any {
		return map[string]any{"id": a.ID, "name": a.Name, "created_at": a.CreatedAt}
	})
}

// Get reads one service account.
func (s *ServiceAccounts) Get(ctx context.Context, id uuid.UUID) (*ServiceAccount, error) {
	return s.store.ByID(ctx, id)
}

// Create adds a service account.
func (s *ServiceAccounts) Create(ctx context.Context, name, description string, roles []string) (*ServiceAccount, error) {
	roles = normaliseRoles(roles)
	if err := s.roles.CheckAssignable(ctx, roles); err != nil {
		return nil, err
	}
	a := &ServiceAccount{ID: kernel.NewID(), Name: strings.TrimSpace(name), Description: description, Roles: roles, CreatedAt: s.clock.Now()}
	if a.Name == "" {
		return nil, kernel.Invalid(kernel.FieldError{Field: "name", Message: "is required"})
	}
	if err := s.store.Create(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// ServiceAccountChanges are the fields an update sets; nil stays as it is.
type ServiceAccountChanges struct {
	Name, Description *string
	Roles             *[]string
}

// Update changes a service account; new roles apply to its next request,
// on every replica.
func (s *ServiceAccounts) Update(ctx context.Context, id uuid.UUID, in ServiceAccountChanges) (*ServiceAccount, error) {
	var roles []string
	if in.Roles != nil {
		roles = normaliseRoles(*in.Roles)
		if err := s.roles.CheckAssignable(ctx, roles); err != nil {
			return nil, err
		}
	}
	if in.Name != nil && strings.TrimSpace(*in.Name) == "" {
		return nil, kernel.Invalid(kernel.FieldError{Field: "name", Message: "is required"})
	}
	a, err := s.store.Update(ctx, id, func(a *ServiceAccount) {
		if in.Name != nil {
			a.Name = strings.TrimSpace(*in.Name)
		}
		if in.Description != nil {
			a.Description = *in.Description
		}
		if in.Roles != nil {
			a.Roles = roles
		}
	})
	if err != nil {
		return nil, err
	}
	if in.Roles != nil {
		if err := s.rolesChanged(ctx); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Delete removes a service account and its keys; an account cannot delete
// itself.
func (s *ServiceAccounts) Delete(ctx context.Context, id uuid.UUID) error {
	if p, ok := kernel.PrincipalFrom(ctx); ok && p.ID == id {
		return kernel.E(kernel.KindConflict, "you cannot delete yourself")
	}
	if err := s.store.Delete(ctx, id); err != nil {
		return err
	}
	return s.rolesChanged(ctx)
}

// IssuedKey is a new key: Secret is the whole key, shown this once.
type IssuedKey struct {
	*APIKey
	Secret string
}

// CreateKey issues a key for the account; expires, when set, must be in the
// future.
func (s *ServiceAccounts) CreateKey(ctx context.Context, account uuid.UUID, name string, expires *time.Time) (IssuedKey, error) {
	now := s.clock.Now()
	if strings.TrimSpace(name) == "" {
		return IssuedKey{}, kernel.Invalid(kernel.FieldError{Field: "name", Message: "is required"})
	}
	if expires != nil && !expires.After(now) {
		return IssuedKey{}, kernel.Invalid(kernel.FieldError{Field: "expires_at", Message: "must be in the future"})
	}
	t, ok := kernel.TenantFrom(ctx)
	if !ok {
		return IssuedKey{}, kernel.E(kernel.KindInternal, "create key: no tenant in context")
	}
	if _, err := s.store.ByID(ctx, account); err != nil {
		return IssuedKey{}, err
	}
	k, err := newKey(t.ID)
	if err != nil {
		return IssuedKey{}, err
	}
	rec := &APIKey{ID: k.id, AccountID: account, Name: strings.TrimSpace(name), Prefix: k.prefix(), Hash: k.hash(),
		CreatedAt: now, ExpiresAt: expires}
	if err := s.store.AddKey(ctx, rec); err != nil {
		return IssuedKey{}, err
	}
	return IssuedKey{APIKey: rec, Secret: k.String()}, nil
}

// Keys lists the account's keys, revoked ones included.
func (s *ServiceAccounts) Keys(ctx context.Context, account uuid.UUID) ([]*APIKey, error) {
	if _, err := s.store.ByID(ctx, account); err != nil {
		return nil, err
	}
	return s.store.Keys(ctx, account)
}

// RevokeKey revokes a key: every replica reads keys from the database on
// each request, so it stops working as soon as this commits.
func (s *ServiceAccounts) RevokeKey(ctx context.Context, account, key uuid.UUID) error {
	return s.store.RevokeKey(ctx, account, key)
}
