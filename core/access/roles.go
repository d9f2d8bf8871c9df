package access

import (
	"context"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
)

// Role is a tenant's role. Built-in roles' permissions are computed from the
// registry; custom roles list theirs.
type Role struct {
	Name        string
	Description string
	Permissions []string
	Builtin     bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// RoleStore keeps a tenant's roles and users' role assignments; it runs in
// the request's unit of work.
type RoleStore interface {
	Roles(ctx context.Context) ([]Role, error)
	Role(ctx context.Context, name string) (*Role, error)
	CreateRole(ctx context.Context, r *Role) error // taken name: KindConflict
	UpdateRole(ctx context.Context, r *Role) error
	// DeleteRole removes the role and takes it away from every user.
	DeleteRole(ctx context.Context, name string) error
	// UserRoles returns the roles assigned to a user (not found: KindNotFound).
	UserRoles(ctx context.Context, user uuid.UUID) ([]string, error)
}

var roleName = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// Roles manages a tenant's roles.
type Roles struct {
	store    RoleStore
	registry *Registry
	clock    kernel.Clock
	changed  func(ctx context.Context) // invalidates cached resolutions
}

// NewRoles returns the role service; changed is called (after commit) when
// role definitions change.
func NewRoles(store RoleStore, registry *Registry, clock kernel.Clock, changed func(context.Context)) *Roles {
	return &Roles{store: store, registry: registry, clock: clock, changed: changed}
}

// List returns every role with its effective permissions.
func (s *Roles) List(ctx context.Context) ([]Role, error) {
	roles, err := s.store.Roles(ctx)
	if err != nil {
		return nil, err
	}
	for i := range roles {
		s.effective(&roles[i])
	}
	return roles, nil
}

// Get returns one role with its effective permissions.
func (s *Roles) Get(ctx context.Context, name string) (*Role, error) {
	if !roleName.MatchString(name) {
		return nil, kernel.NotFound("role")
	}
	r, err := s.store.Role(ctx, name)
	if err != nil {
		return nil, err
	}
	s.effective(r)
	return r, nil
}

func (s *Roles) effective(r *Role) {
	if r.Builtin {
		r.Permissions = BuiltinPermissions(r.Name, s.registry.All())
	}
}

// Create adds a custom role.
func (s *Roles) Create(ctx context.Context, name, description string, perms []string) (*Role, error) {
	if err := s.check(name, perms); err != nil {
		return nil, err
	}
	now := s.clock.Now()
	r := &Role{Name: name, Description: description, Permissions: normalise(perms), CreatedAt: now, UpdatedAt: now}
	if err := s.store.CreateRole(ctx, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Put replaces a custom role's description and permissions, creating it if
// it does not exist. Built-in roles cannot be changed.
func (s *Roles) Put(ctx context.Context, name, description string, perms []string) (*Role, bool, error) {
	if err := s.check(name, perms); err != nil {
		return nil, false, err
	}
	existing, err := s.store.Role(ctx, name)
	if kernel.KindOf(err) == kernel.KindNotFound {
		r, err := s.Create(ctx, name, description, perms)
		return r, true, err
	}
	if err != nil {
		return nil, false, err
	}
	if existing.Builtin {
		return nil, false, kernel.E(kernel.KindConflict, "built-in role %q cannot be changed", name)
	}
	existing.Description, existing.Permissions, existing.UpdatedAt = description, normalise(perms), s.clock.Now()
	if err := s.store.UpdateRole(ctx, existing); err != nil {
		return nil, false, err
	}
	kernel.AfterCommit(ctx, func() { s.changed(ctx) })
	return existing, false, nil
}

// Delete removes a custom role from the tenant and from its users.
func (s *Roles) Delete(ctx context.Context, name string) error {
	r, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	if r.Builtin {
		return kernel.E(kernel.KindConflict, "built-in role %q cannot be deleted", name)
	}
	if err := s.store.DeleteRole(ctx, name); err != nil {
		return err
	}
	kernel.AfterCommit(ctx, func() { s.changed(ctx) })
	return nil
}

// check validates a custom role: its name, and that every permission is
// declared (unknown ones are a 422 naming them).
func (s *Roles) check(name string, perms []string) error {
	var fields []kernel.FieldError
	if !roleName.MatchString(name) {
		fields = append(fields, kernel.FieldError{Field: "name", Message: "must match ^[a-z][a-z0-9_-]{0,62}$"})
	} else if IsBuiltin(name) {
		return kernel.E(kernel.KindConflict, "built-in role %q cannot be changed", name)
	}
	for i, p := range perms {
		if _, ok := s.registry.Get(p); !ok {
			fields = append(fields, kernel.FieldError{Field: "permissions[" + strconv.Itoa(i) + "]", Message: "unknown permission " + p})
		}
	}
	if len(fields) > 0 {
		return kernel.Invalid(fields...)
	}
	return nil
}

// CheckAssignable reports unknown role names among roles, as field errors.
func (s *Roles) CheckAssignable(ctx context.Context, roles []string) error {
	known, err := s.store.Roles(ctx)
	if err != nil {
		return err
	}
	var fields []kernel.FieldError
	for i, name := range roles {
		if !slices.ContainsFunc(known, func(r Role) bool { return r.Name == name }) {
			fields = append(fields, kernel.FieldError{Field: "roles[" + strconv.Itoa(i) + "]", Message: "unknown role " + name})
		}
	}
	if len(fields) > 0 {
		return kernel.Invalid(fields...)
	}
	return nil
}

func normalise(perms []string) []string {
	out := append([]string{}, perms...)
	slices.Sort(out)
	return slices.Compact(out)
}
