// Package policytest holds in-memory doubles for testing code that uses
// core/policy without a database: a Store and a unit of work.
package policytest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
)

// Transactor is a unit of work without a database: it marks ctx as being in
// a unit on the tenant and runs the after-commit callbacks when fn succeeds.
type Transactor struct{}

// InTenant runs fn, joining an enclosing unit on the same tenant.
func (Transactor) InTenant(ctx context.Context, t *kernel.Tenant, fn func(context.Context) error) error {
	if u, ok := kernel.UnitFrom(ctx); ok {
		if u.Tenant.ID != t.ID {
			return errors.New("policytest: nested unit of work on another tenant")
		}
		return fn(ctx)
	}
	ctx, u := kernel.WithUnit(ctx, t)
	if err := fn(ctx); err != nil {
		return err
	}
	u.Committed()
	return nil
}

// Store keeps every tenant's modules in memory, keyed by the tenant of the
// unit of work in ctx. Writes are immediate: there is no rollback.
type Store struct {
	mu      sync.Mutex
	tenants map[string]*tenantModules
}

type tenantModules struct {
	revision int64
	versions []policy.Module // every version of every module
}

var _ policy.Store = (*Store)(nil)

// NewStore returns an empty store.
func NewStore() *Store { return &Store{tenants: map[string]*tenantModules{}} }

func (s *Store) tenant(ctx context.Context) (*tenantModules, error) {
	u, ok := kernel.UnitFrom(ctx)
	if !ok {
		return nil, errors.New("policytest: no unit of work in context")
	}
	id := u.Tenant.ID.String()
	if s.tenants[id] == nil {
		s.tenants[id] = &tenantModules{}
	}
	return s.tenants[id], nil
}

func (s *Store) with(ctx context.Context, fn func(*tenantModules) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.tenant(ctx)
	if err != nil {
		return err
	}
	return fn(t)
}

// Lock returns the revision (the store's mutex serialises changes).
func (s *Store) Lock(ctx context.Context) (int64, error) { return s.Revision(ctx) }

// Revision returns the tenant's revision.
func (s *Store) Revision(ctx context.Context) (rev int64, err error) {
	err = s.with(ctx, func(t *tenantModules) error { rev = t.revision; return nil })
	return rev, err
}

// Active lists active modules by name.
func (s *Store) Active(ctx context.Context) (out []policy.Module, err error) {
	err = s.with(ctx, func(t *tenantModules) error {
		for _, m := range t.versions {
			if m.Active {
				out = append(out, m)
			}
		}
		slices.SortFunc(out, func(a, b policy.Module) int { return strings.Compare(a.Name, b.Name) })
		return nil
	})
	return out, err
}

// Versions lists a module's versions, newest first.
func (s *Store) Versions(ctx context.Context, name string) (out []policy.Module, err error) {
	err = s.with(ctx, func(t *tenantModules) error {
		for _, m := range slices.Backward(t.versions) {
			if m.Name == name {
				out = append(out, m)
			}
		}
		return nil
	})
	return out, err
}

// Version reads one version.
func (s *Store) Version(ctx context.Context, name string, version int) (out policy.Module, err error) {
	err = s.with(ctx, func(t *tenantModules) error {
		i := t.find(name, version)
		if i < 0 {
			return kernel.NotFound("policy module version")
		}
		out = t.versions[i]
		return nil
	})
	return out, err
}

// Save appends the next version, active.
func (s *Store) Save(ctx context.Context, m policy.Module) (policy.Module, error) {
	err := s.with(ctx, func(t *tenantModules) error {
		m.Version = 1
		for i := range t.versions {
			if t.versions[i].Name == m.Name {
				m.Version = max(m.Version, t.versions[i].Version+1)
				t.versions[i].Active = false
			}
		}
		m.Active = true
		t.versions = append(t.versions, m)
		t.revision++
		return nil
	})
	return m, err
}

// Activate makes version the active one.
func (s *Store) Activate(ctx context.Context, name string, version int) error {
	return s.with(ctx, func(t *tenantModules) error {
		if t.find(name, version) < 0 {
			return kernel.NotFound("policy module version")
		}
		for i := range t.versions {
			if t.versions[i].Name == name {
				t.versions[i].Active = t.versions[i].Version == version
			}
		}
		t.revision++
		return nil
	})
}

// Delete deactivates the module.
func (s *Store) Delete(ctx context.Context, name string) error {
	return s.with(ctx, func(t *tenantModules) error {
		found := false
		for i := range t.versions {
			if t.versions[i].Name == name && t.versions[i].Active {
				t.versions[i].Active, found = false, true
			}
		}
		if !found {
			return kernel.NotFound("policy module")
		}
		t.revision++
		return nil
	})
}

func (t *tenantModules) find(name string, version int) int {
	return slices.IndexFunc(t.versions, func(m policy.Module) bool { return m.Name == name && m.Version == version })
}
