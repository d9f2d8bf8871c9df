package policy

import (
	"context"
	"fmt"
	"time"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
)

// A shadow version is an uploaded version of a module that is compiled and
// tested like an activation, then evaluated beside the active set on live
// traffic without changing any answer, so a security team sees what it
// would change before it rules. A tenant rehearses one version at a time:
// the cost of shadowing stays one more evaluation per decision at most.

// Shadow is a tenant's shadow version and what comparing it with the live
// decisions found so far, on every replica.
type Shadow struct {
	Module        Module
	Decisions     int64
	Disagreements int64
	ByAction      map[string]ActionCounts
	// Samples are the latest disagreements, oldest first, at most MaxSamples.
	Samples []Sample
}

// ActionCounts are the comparisons made for one action.
type ActionCounts struct {
	Decisions     int64 `json:"decisions"`
	Disagreements int64 `json:"disagreements"`
}

// Sample is one decision on which the shadow version disagreed with the
// live one.
type Sample struct {
	At       time.Time     `json:"at"`
	Action   string        `json:"action"`
	Subject  SampleSubject `json:"subject"`
	Resource SampleObject  `json:"resource"`
	Live     bool          `json:"live"`   // the live decision allowed
	Shadow   bool          `json:"shadow"` // the shadow version would allow
	// Reasons are the shadow version's reasons; LiveReasons the live ones.
	Reasons     []string `json:"reasons"`
	LiveReasons []string `json:"live_reasons"`
}

// SampleSubject is who asked, as a sample keeps it (no attributes).
type SampleSubject struct {
	ID    string   `json:"id"`
	Type  string   `json:"type"`
	Email string   `json:"email,omitempty"`
	Roles []string `json:"roles"`
}

// SampleObject is what was asked about, as a sample keeps it.
type SampleObject struct {
	Type    string `json:"type,omitempty"`
	ID      string `json:"id,omitempty"`
	OwnerID string `json:"owner_id,omitempty"`
}

// MaxSamples is how many disagreements a shadow version keeps.
const MaxSamples = 50

// ShadowDelta is what one replica adds to a shadow version's comparison.
type ShadowDelta struct {
	Decisions     int64
	Disagreements int64
	ByAction      map[string]ActionCounts
	Samples       []Sample
}

func (d *ShadowDelta) add(action string, disagree bool, s Sample) {
	if d.ByAction == nil {
		d.ByAction = map[string]ActionCounts{}
	}
	c := d.ByAction[action]
	c.Decisions++
	d.Decisions++
	if disagree {
		c.Disagreements++
		d.Disagreements++
		d.Samples = append(d.Samples, s)
		if len(d.Samples) > MaxSamples {
			d.Samples = d.Samples[len(d.Samples)-MaxSamples:]
		}
	}
	d.ByAction[action] = c
}

// ShadowStore keeps a tenant's shadow version, in the unit of work's tenant
// like Store.
type ShadowStore interface {
	// SaveShadow stores m as the module's next version, inactive, and makes
	// it the tenant's shadow version with an empty comparison (replacing the
	// shadow version of the same module), bumping the revision.
	SaveShadow(ctx context.Context, m Module) (Module, error)
	// Shadow reads the tenant's shadow version and its comparison:
	// kernel.ErrNotFound when there is none.
	Shadow(ctx context.Context) (Shadow, error)
	// DropShadow forgets the shadow version (the version stays as history)
	// and bumps the revision: kernel.ErrNotFound when there is none.
	DropShadow(ctx context.Context) error
	// AddToShadow adds d to the comparison of version of module name, if
	// that is still the tenant's shadow version (otherwise d is dropped),
	// keeping the latest MaxSamples samples.
	AddToShadow(ctx context.Context, name string, version int, d ShadowDelta) error
}

// UploadShadow checks a new version of module name with the tenant's other
// active modules, as Upload does, and stores it as the tenant's shadow
// version instead of activating it. Another module's shadow version is a
// conflict: drop or promote it first.
func (s *Shadows) UploadShadow(ctx context.Context, t *kernel.Tenant, name, rego, tests string) (Module, error) {
	if err := validName(name); err != nil {
		return Module{}, err
	}
	if err := checkSizes(rego, tests); err != nil {
		return Module{}, err
	}
	m := Module{Name: name, Rego: rego, Tests: tests, CreatedAt: s.svc.clock.Now()}
	if p, ok := kernel.PrincipalFrom(ctx); ok {
		m.CreatedBy = p.ID.String()
	}
	err := s.svc.change(ctx, t, func(ctx context.Context, active []Module) error {
		switch cur, err := s.store.Shadow(ctx); {
		case err == nil && cur.Module.Name != name:
			return kernel.E(kernel.KindConflict, "module %q is being shadowed already: promote or drop its shadow version first", cur.Module.Name)
		case err != nil && kernel.KindOf(err) != kernel.KindNotFound:
			return err
		}
		set := withModule(active, m)
		if len(set) > MaxModules {
			return Invalid("the shadow version was not stored", kernel.FieldError{Field: "name",
				Message: fmt.Sprintf("a tenant has at most %d policy modules", MaxModules)})
		}
		if err := s.svc.compiler.Check(ctx, set); err != nil {
			return err
		}
		saved, err := s.store.SaveShadow(ctx, m)
		m = saved
		return err
	})
	if err != nil {
		return Module{}, err
	}
	return m, nil
}

// Shadow reports module name's shadow version and its comparison, with
// this replica's comparisons not yet stored added first.
func (s *Shadows) Shadow(ctx context.Context, t *kernel.Tenant, name string) (Shadow, error) {
	if err := validName(name); err != nil {
		return Shadow{}, err
	}
	// In units of work of their own: the request's may be read-only.
	s.flushTenant(context.Background(), t.ID.String())
	var out Shadow
	err := s.svc.uow.InTenant(ctx, t, func(ctx context.Context) error {
		var err error
		out, err = s.current(ctx, name)
		return err
	})
	return out, err
}

// Promote activates module name's shadow version, checked against the
// tenant's active modules as a rollback is (the lockout guard included),
// and ends the shadowing.
func (s *Shadows) Promote(ctx context.Context, t *kernel.Tenant, name string) (Module, error) {
	if err := validName(name); err != nil {
		return Module{}, err
	}
	var m Module
	err := s.svc.change(ctx, t, func(ctx context.Context, active []Module) error {
		sh, err := s.current(ctx, name)
		if err != nil {
			return err
		}
		m = sh.Module
		set := withModule(active, m)
		if err := s.svc.compiler.Check(ctx, set); err != nil {
			return err
		}
		if err := s.svc.guardLockout(ctx, t, set, "name", name); err != nil {
			return err
		}
		if err := s.svc.store.Activate(ctx, m.Name, m.Version); err != nil {
			return err
		}
		m.Active = true
		return s.store.DropShadow(ctx)
	})
	if err != nil {
		return Module{}, err
	}
	return m, nil
}

// Drop ends the shadowing of module name; its version stays as history.
func (s *Shadows) Drop(ctx context.Context, t *kernel.Tenant, name string) error {
	if err := validName(name); err != nil {
		return err
	}
	return s.svc.change(ctx, t, func(ctx context.Context, _ []Module) error {
		if _, err := s.current(ctx, name); err != nil {
			return err
		}
		return s.store.DropShadow(ctx)
	})
}

// current is the tenant's shadow version when it is of module name.
func (s *Shadows) current(ctx context.Context, name string) (Shadow, error) {
	sh, err := s.store.Shadow(ctx)
	if err == nil && sh.Module.Name != name {
		err = kernel.NotFound("shadow version")
	}
	return sh, err
}

// Revision implements Source: shadow changes bump the tenant's revision.
func (s *Shadows) Revision(ctx context.Context, tenantID string) (int64, error) {
	return s.svc.Revision(ctx, tenantID)
}

// Active implements Source: the tenant's active set and its shadow version.
func (s *Shadows) Active(ctx context.Context, tenantID string) (Set, error) {
	return s.svc.Active(ctx, tenantID)
}

// shadowOf is the tenant's shadow version, nil when there is none or the
// store keeps none.
func shadowOf(ctx context.Context, store Store) (*Module, error) {
	ss, ok := store.(ShadowStore)
	if !ok {
		return nil, nil
	}
	sh, err := ss.Shadow(ctx)
	switch {
	case err == nil:
		return &sh.Module, nil
	case kernel.KindOf(err) == kernel.KindNotFound:
		return nil, nil
	}
	return nil, err
}

// sampleOf is the sample a comparison keeps.
func sampleOf(at time.Time, in access.Input, live, shadow access.Decision) Sample {
	return Sample{
		At: at.UTC(), Action: in.Action,
		Subject:  SampleSubject{ID: in.Subject.ID, Type: in.Subject.Type, Email: in.Subject.Email, Roles: in.Subject.Roles},
		Resource: SampleObject{Type: in.Resource.Type, ID: in.Resource.ID, OwnerID: in.Resource.OwnerID},
		Live:     live.Allow, Shadow: shadow.Allow, Reasons: shadow.Reasons, LiveReasons: live.Reasons,
	}
}
