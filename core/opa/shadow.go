package opa

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
)

// shadowPolicy is a tenant's shadow version compiled into the set it would
// make: the active modules with the shadow version in its module's place.
type shadowPolicy struct {
	name    string
	version int
	policy  *tenantPolicy
}

// loadShadow compiles set's shadow version beside its active modules (nil
// when there is none). A set that does not compile is kept, with its error,
// so its decisions deny as such a set would if promoted; the engine's own
// failures are returned.
func (e *Engine) loadShadow(tenantID string, set policy.Set) (*shadowPolicy, error) {
	if set.Shadow == nil {
		return nil, nil
	}
	modules := slices.DeleteFunc(slices.Clone(set.Modules), func(m policy.Module) bool { return m.Name == set.Shadow.Name })
	modules = append(modules, *set.Shadow)
	slices.SortFunc(modules, func(a, b policy.Module) int { return strings.Compare(a.Name, b.Name) })
	tp := &tenantPolicy{
		// Its own breaker: a shadow version that runs away cools down its
		// own rehearsals, never the tenant's decisions.
		tenant:   "shadow:" + tenantID,
		revision: set.Revision,
		version:  e.version(set.Revision) + "+shadow:" + set.Shadow.Name + "@" + strconv.Itoa(set.Shadow.Version),
		slots:    make(chan struct{}, 1),
	}
	key := setKey(modules)
	if tp.query = e.shared.get(key); tp.query == nil {
		tp.query, tp.err = compileTenant(modules)
		if tp.err != nil && !errors.Is(tp.err, policy.ErrInvalid) {
			return nil, tp.err
		}
		if tp.query != nil {
			e.shared.put(key, tp.query)
		}
	}
	return &shadowPolicy{name: set.Shadow.Name, version: set.Shadow.Version, policy: tp}, nil
}

// CacheStats counts the lookups of tenants' compiled policies.
func (e *Engine) CacheStats() *kernel.CacheStats { return &e.stats }

// WithRehearser has the decider hand each live decision of a tenant with a
// shadow version to r, to be compared with the shadow version's.
func (d *Decider) WithRehearser(r policy.Rehearser) *Decider {
	d.rehearser = r
	return d
}

// rehearse hands a live decision to the rehearser, when the tenant has a
// shadow version. The shadow evaluation runs later, off the request path,
// on its own deadline.
func (d *Decider) rehearse(ctx context.Context, tp *tenantPolicy, in access.Input, live access.Decision) {
	if d.rehearser == nil || tp.shadow == nil {
		return
	}
	t, ok := kernel.TenantFrom(ctx)
	if !ok {
		if u, ok := kernel.UnitFrom(ctx); ok {
			t = u.Tenant
		}
	}
	if t == nil {
		return
	}
	sp := tp.shadow
	d.rehearser.Rehearse(policy.Rehearsal{Tenant: t, Name: sp.name, Version: sp.version, Input: in, Live: live,
		Shadow: func(ctx context.Context) (access.Decision, error) {
			return d.engine.decide(ctx, sp.policy, in, false, false)
		}})
}
