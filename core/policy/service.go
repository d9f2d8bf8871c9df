package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
)

// Service is the tenant policy lifecycle. Each call runs in a unit of work
// on the tenant (joining the request's when there is one), and a change
// reaches the compiled-policy cache only once it has committed.
type Service struct {
	store    Store
	compiler Compiler
	uow      kernel.Transactor
	clock    kernel.Clock
}

var _ Source = (*Service)(nil)

// NewService returns the policy service.
func NewService(store Store, compiler Compiler, uow kernel.Transactor, clock kernel.Clock) *Service {
	return &Service{store: store, compiler: compiler, uow: uow, clock: clock}
}

// Upload checks a new version of module name (with its tests) together with
// the tenant's other active modules, and activates it only when the set
// compiles, the tests pass, and it leaves the uploader able to read and
// change the policy (lockout.go). Otherwise it returns a policy_invalid
// error with the messages, and the active version stays as it was.
func (s *Service) Upload(ctx context.Context, t *kernel.Tenant, name, rego, tests string) (Module, error) {
	if err := validName(name); err != nil {
		return Module{}, err
	}
	if err := checkSizes(rego, tests); err != nil {
		return Module{}, err
	}
	m := Module{Name: name, Rego: rego, Tests: tests, CreatedAt: s.clock.Now()}
	if p, ok := kernel.PrincipalFrom(ctx); ok {
		m.CreatedBy = p.ID.String()
	}
	err := s.change(ctx, t, func(ctx context.Context, active []Module) error {
		set := withModule(active, m)
		if len(set) > MaxModules {
			return Invalid("the policy was not activated", kernel.FieldError{Field: "name",
				Message: fmt.Sprintf("a tenant has at most %d policy modules", MaxModules)})
		}
		if err := s.compiler.Check(ctx, set); err != nil {
			return err
		}
		if err := s.guardLockout(ctx, t, set, "rego", name); err != nil {
			return err
		}
		saved, err := s.store.Save(ctx, m)
		m = saved
		return err
	})
	if err != nil {
		return Module{}, err
	}
	return m, nil
}

// Rollback re-activates an earlier version of a module, after checking it
// against the tenant's current modules as an upload would be.
func (s *Service) Rollback(ctx context.Context, t *kernel.Tenant, name string, version int) (Module, error) {
	if err := validName(name); err != nil {
		return Module{}, err
	}
	var target Module
	err := s.change(ctx, t, func(ctx context.Context, active []Module) error {
		var err error
		if target, err = s.store.Version(ctx, name, version); err != nil {
			return err
		}
		set := withModule(active, target)
		if err := s.compiler.Check(ctx, set); err != nil {
			return err
		}
		if err := s.guardLockout(ctx, t, set, "version", name); err != nil {
			return err
		}
		target.Active = true
		return s.store.Activate(ctx, name, version)
	})
	if err != nil {
		return Module{}, err
	}
	return target, nil
}

// Delete removes a module from the tenant's policy; its versions stay as
// history. Refused (policy_invalid) when the remaining modules no longer
// compile without it, so a deletion cannot lock the tenant out.
func (s *Service) Delete(ctx context.Context, t *kernel.Tenant, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	return s.change(ctx, t, func(ctx context.Context, active []Module) error {
		rest := slices.DeleteFunc(slices.Clone(active), func(m Module) bool { return m.Name == name })
		if len(rest) == len(active) {
			return kernel.NotFound("policy module")
		}
		if err := s.compiler.Check(ctx, rest); err != nil {
			return err
		}
		if err := s.guardLockout(ctx, t, rest, "name", name); err != nil {
			return err
		}
		return s.store.Delete(ctx, name)
	})
}

// change runs fn on the tenant's active modules with policy changes locked,
// and drops the tenant's compiled policy once the change has committed.
func (s *Service) change(ctx context.Context, t *kernel.Tenant, fn func(context.Context, []Module) error) error {
	return s.uow.InTenant(ctx, t, func(ctx context.Context) error {
		if _, err := s.store.Lock(ctx); err != nil {
			return err
		}
		active, err := s.store.Active(ctx)
		if err != nil {
			return err
		}
		if err := fn(ctx, active); err != nil {
			return err
		}
		id := t.ID.String()
		kernel.AfterCommit(ctx, func() { s.compiler.Invalidate(id) })
		return nil
	})
}

// List returns the active version of each module.
func (s *Service) List(ctx context.Context, t *kernel.Tenant) ([]Module, error) {
	var out []Module
	err := s.uow.InTenant(ctx, t, func(ctx context.Context) error {
		var err error
		out, err = s.store.Active(ctx)
		return err
	})
	return out, err
}

// Versions returns a module's versions, newest first.
func (s *Service) Versions(ctx context.Context, t *kernel.Tenant, name string) ([]Module, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	var out []Module
	err := s.uow.InTenant(ctx, t, func(ctx context.Context) error {
		var err error
		out, err = s.store.Versions(ctx, name)
		return err
	})
	if err == nil && len(out) == 0 {
		return nil, kernel.NotFound("policy module")
	}
	return out, err
}

// Evaluate is the dry run: the decision the tenant's active policy makes on
// in, with a trace of the evaluation when explain is set. Nothing is
// performed and nothing is written.
func (s *Service) Evaluate(ctx context.Context, t *kernel.Tenant, in access.Input, explain bool) (access.Decision, error) {
	var d access.Decision
	err := s.uow.InTenant(ctx, t, func(ctx context.Context) error {
		var err error
		d, err = s.compiler.Evaluate(ctx, t.ID.String(), s, in, explain)
		return err
	})
	return d, err
}

// Revision implements Source for the tenant ctx acts in.
func (s *Service) Revision(ctx context.Context, tenantID string) (int64, error) {
	var rev int64
	err := s.scoped(ctx, tenantID, func(ctx context.Context) error {
		var err error
		rev, err = s.store.Revision(ctx)
		return err
	})
	return rev, err
}

// Active implements Source for the tenant ctx acts in: its shadow version
// too when the store keeps them (shadow.go), whoever asks, so that the
// compiled policy the engine caches is the same for every caller.
func (s *Service) Active(ctx context.Context, tenantID string) (Set, error) {
	var set Set
	err := s.scoped(ctx, tenantID, func(ctx context.Context) error {
		var err error
		if set.Revision, err = s.store.Revision(ctx); err != nil {
			return err
		}
		if set.Modules, err = s.store.Active(ctx); err != nil {
			return err
		}
		set.Shadow, err = shadowOf(ctx, s.store)
		return err
	})
	return set, err
}

// scoped runs fn in a unit of work on tenantID, which must be the tenant of
// the unit of work or the request ctx carries: the engine never loads
// another tenant's policy on a request's behalf.
func (s *Service) scoped(ctx context.Context, tenantID string, fn func(context.Context) error) error {
	var t *kernel.Tenant
	if u, ok := kernel.UnitFrom(ctx); ok {
		t = u.Tenant
	} else if rt, ok := kernel.TenantFrom(ctx); ok {
		t = rt
	}
	if t == nil || t.ID.String() != tenantID {
		return fmt.Errorf("policy source: tenant %s is not the tenant this context acts in", tenantID)
	}
	return s.uow.InTenant(ctx, t, fn)
}

// withModule returns active with m in place of the module of the same name
// (or added), sorted by name so compilation order never depends on storage.
func withModule(active []Module, m Module) []Module {
	out := slices.DeleteFunc(slices.Clone(active), func(a Module) bool { return a.Name == m.Name })
	out = append(out, m)
	slices.SortFunc(out, func(a, b Module) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func validName(name string) error {
	if !ValidName(name) {
		return kernel.Invalid(kernel.FieldError{Field: "name",
			Message: "must match ^[a-z][a-z0-9_-]{0,62}$"})
	}
	return nil
}

// CheckSet applies an upload's own limits (the module count, each module
// present and within MaxModuleBytes, its tests too) to a tenant's whole set,
// naming each problem by file: `atrium policy test` runs it before the
// sandbox's Check, which an upload runs after it.
func CheckSet(modules []Module) error {
	var fields []kernel.FieldError
	if len(modules) > MaxModules {
		fields = append(fields, kernel.FieldError{Field: "name", Message: fmt.Sprintf("a tenant has at most %d policy modules", MaxModules)})
	}
	for _, m := range modules {
		var ke *kernel.Error
		if err := checkSizes(m.Rego, m.Tests); errors.As(err, &ke) {
			for _, f := range ke.Fields {
				file := FileName(m.Name)
				if f.Field == "tests" {
					file = TestFileName(m.Name)
				}
				fields = append(fields, kernel.FieldError{Field: file, Message: f.Message})
			}
		}
	}
	if fields != nil {
		return Invalid("the policy would not be activated", fields...)
	}
	return nil
}

func checkSizes(rego, tests string) error {
	var fields []kernel.FieldError
	if strings.TrimSpace(rego) == "" {
		fields = append(fields, kernel.FieldError{Field: "rego", Message: "is required"})
	}
	if len(rego) > MaxModuleBytes {
		fields = append(fields, kernel.FieldError{Field: "rego", Message: fmt.Sprintf("is over %d bytes", MaxModuleBytes)})
	}
	if len(tests) > MaxModuleBytes {
		fields = append(fields, kernel.FieldError{Field: "tests", Message: fmt.Sprintf("is over %d bytes", MaxModuleBytes)})
	}
	if fields != nil {
		return Invalid("the policy was not activated", fields...)
	}
	return nil
}
