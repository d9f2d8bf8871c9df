package identity

import (
	"context"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/spec"
)

// User statuses.
const (
	StatusActive   = "active"
	StatusDisabled = "disabled"
)

// DirectoryStore keeps a tenant's users; it runs in the unit of work.
type DirectoryStore interface {
	UserStore
	// List returns the users q selects, at most q.PageSize()+1 of them.
	List(ctx context.Context, q spec.Spec) ([]*User, error)
	Create(ctx context.Context, u *User) error // taken email: KindConflict
	// Update loads the user, applies fn and saves it; revoke makes tokens
	// issued so far stop working.
	Update(ctx context.Context, id uuid.UUID, fn func(u *User) (revoke bool, err error)) (*User, error)
	Delete(ctx context.Context, id uuid.UUID) error
	// Changed tells every replica the tenant's assignments changed.
	Changed(ctx context.Context) error
}

// RoleChecker validates role names against the tenant's roles.
type RoleChecker interface {
	CheckAssignable(ctx context.Context, roles []string) error
}

// Directory manages a tenant's users.
type Directory struct {
	store     DirectoryStore
	roles     RoleChecker
	passwords *Passwords
	clock     kernel.Clock
	cursors   *spec.LazyCodec
	standings *Standings             // told of the revocations made here
	changed   func(tenant uuid.UUID) // told when users or their roles change here
}

// NewDirectory returns the user directory; secret derives cursor keys.
func NewDirectory(store DirectoryStore, roles RoleChecker, passwords *Passwords, clock kernel.Clock, secret func(context.Context) ([]byte, error)) *Directory {
	return &Directory{store: store, roles: roles, passwords: passwords, clock: clock, cursors: spec.NewLazyCodec(secret)}
}

// WithStandings tells s of the revocations the directory makes.
func (d *Directory) WithStandings(s *Standings) *Directory {
	d.standings = s
	return d
}

// OnChange calls f, after commit, when the directory changes a tenant's
// users or their roles: this replica's caches drop what they held at once,
// before the change's notification arrives.
func (d *Directory) OnChange(f func(tenant uuid.UUID)) *Directory {
	d.changed = f
	return d
}

// revoked drops the tenant's cached standings (and whatever OnChange drops)
// once ctx's unit of work has committed, and tells the other replicas (the
// access notification).
func (d *Directory) revoked(ctx context.Context) error {
	if t, ok := kernel.TenantFrom(ctx); ok {
		kernel.AfterCommit(ctx, func() {
			if d.standings != nil {
				d.standings.ForgetTenant(t.ID)
			}
			if d.changed != nil {
				d.changed(t.ID)
			}
		})
	}
	return d.store.Changed(ctx)
}

// UserFields is the allow-list of user lists.
var UserFields = spec.NewFields("user", "id", map[string]spec.Field{
	"id":         {Column: "id", Type: spec.UUID},
	"email":      {Column: "email", Type: spec.String, Filter: true, Sort: true},
	"name":       {Column: "name", Type: spec.String, Sort: true},
	"status":     {Column: "status", Type: spec.Enum, Values: []string{StatusActive, StatusDisabled}, Filter: true},
	"created_at": {Column: "created_at", Type: spec.Time, Sort: true},
})

// Cursors verify and make list cursors.
func (d *Directory) Cursors(ctx context.Context) (*spec.Codec, error) { return d.cursors.Get(ctx) }

// List returns a page of users and the next page's cursor.
func (d *Directory) List(ctx context.Context, q spec.Spec) ([]*User, string, error) {
	rows, err := d.store.List(ctx, q)
	if err != nil {
		return nil, "", err
	}
	codec, err := d.cursors.Get(ctx)
	if err != nil {
		return nil, "", err
	}
	return spec.Paginate(codec, q, UserFields, rows, func(u *User) map[string]any {
		return map[string]any{"id": u.ID, "email": u.Email, "name": u.Name, "status": u.Status, "created_at": u.CreatedAt}
	})
}

// Get reads one user.
func (d *Directory) Get(ctx context.Context, id uuid.UUID) (*User, error) {
	return d.store.ByID(ctx, id)
}

// NewUser is what an admin supplies for a user.
type NewUser struct {
	Email, Password, Name string
	Roles                 []string
}

// Create adds a user.
func (d *Directory) Create(ctx context.Context, in NewUser) (*User, error) {
	roles := normaliseRoles(in.Roles)
	if err := d.roles.CheckAssignable(ctx, roles); err != nil {
		return nil, err
	}
	hash, err := d.passwords.Hash(in.Password)
	if err != nil {
		return nil, err
	}
	u := &User{
		ID: kernel.NewID(), Email: normaliseEmail(in.Email), Name: strings.TrimSpace(in.Name),
		PasswordHash: hash, Status: StatusActive, Roles: roles, CreatedAt: d.clock.Now(),
	}
	if err := d.store.Create(ctx, u); err != nil {
		return nil, err
	}
	return u, nil
}

// UserChanges are the fields an update sets; nil stays as it is.
type UserChanges struct {
	Name     *string
	Password *string
	Status   *string
	Roles    *[]string
}

// Update changes a user. A new password or disabling revokes every token
// the user holds; role changes take effect on the next request.
func (d *Directory) Update(ctx context.Context, id uuid.UUID, in UserChanges) (*User, error) {
	if in.Status != nil && *in.Status != StatusActive && *in.Status != StatusDisabled {
		return nil, kernel.Invalid(kernel.FieldError{Field: "status", Message: "must be one of: active, disabled"})
	}
	var hash string
	if in.Password != nil {
		h, err := d.passwords.Hash(*in.Password)
		if err != nil {
			return nil, err
		}
		hash = h
	}
	var roles []string
	if in.Roles != nil {
		roles = normaliseRoles(*in.Roles)
		if err := d.roles.CheckAssignable(ctx, roles); err != nil {
			return nil, err
		}
	}
	revoked := false
	u, err := d.store.Update(ctx, id, func(u *User) (bool, error) {
		revoke := false
		if in.Name != nil {
			u.Name = strings.TrimSpace(*in.Name)
		}
		if in.Password != nil {
			u.PasswordHash, revoke = hash, true
		}
		if in.Status != nil && *in.Status != u.Status {
			u.Status, revoke = *in.Status, revoke || *in.Status == StatusDisabled
		}
		if in.Roles != nil {
			u.Roles = roles
		}
		revoked = revoke
		return revoke, nil
	})
	if err != nil {
		return nil, err
	}
	if in.Roles != nil || revoked {
		if err := d.revoked(ctx); err != nil {
			return nil, err
		}
	}
	return u, nil
}

// SetRoles replaces a user's roles.
func (d *Directory) SetRoles(ctx context.Context, id uuid.UUID, roles []string) (*User, error) {
	return d.Update(ctx, id, UserChanges{Roles: &roles})
}

// Delete removes a user; a user cannot delete itself.
func (d *Directory) Delete(ctx context.Context, id uuid.UUID) error {
	if p, ok := kernel.PrincipalFrom(ctx); ok && p.ID == id {
		return kernel.E(kernel.KindConflict, "you cannot delete yourself")
	}
	if err := d.store.Delete(ctx, id); err != nil {
		return err
	}
	return d.revoked(ctx)
}

func normaliseRoles(r []string) []string {
	out := append([]string{}, r...)
	slices.Sort(out)
	return slices.Compact(out)
}
