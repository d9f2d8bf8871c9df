package access

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
)

// RBAC decides from the subject's permissions alone: the decision the base
// policy makes before tenant policies refine it. It serves until a policy
// engine is wired, and in tests.
type RBAC struct{}

// Decide allows an action the subject holds.
func (RBAC) Decide(_ context.Context, _ string, in Input) (Decision, error) {
	if slices.Contains(in.Subject.Permissions, in.Action) {
		return Decision{Allow: true, Reasons: []string{"role grants " + in.Action}, PolicyVersion: "rbac"}, nil
	}
	return Decision{Reasons: []string{"no role grants " + in.Action}, PolicyVersion: "rbac"}, nil
}

// Authorizer answers "may the request's principal do this?" for the HTTP
// layer and for handlers asking about one resource.
type Authorizer struct {
	resolver  *Resolver
	decider   Decider
	clock     kernel.Clock
	log       *slog.Logger
	fallbacks prometheus.Counter
	metrics   decisionMetrics
}

// NewAuthorizer returns an authorizer; reg, when set, receives its metrics.
func NewAuthorizer(resolver *Resolver, decider Decider, clock kernel.Clock, log *slog.Logger, reg prometheus.Registerer) *Authorizer {
	fallbacks := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "atrium_policy_fallbacks_total",
		Help: "Tenant admins' policy-management decisions made by the base policy alone because the tenant's policy failed.",
	})
	if reg != nil {
		reg.MustRegister(fallbacks)
	}
	return &Authorizer{resolver: resolver, decider: decider, clock: clock, log: log, fallbacks: fallbacks, metrics: newDecisionMetrics(reg)}
}

// Enrich fills the request principal's roles and permissions.
func (a *Authorizer) Enrich(ctx context.Context) error {
	p, t, err := scope(ctx)
	if err != nil {
		return err
	}
	if p.Permissions != nil {
		return nil
	}
	res, err := a.resolver.Resolve(ctx, t.ID, p.ID)
	if err != nil {
		if errors.Is(err, kernel.ErrNotFound) { // the user was deleted
			return kernel.E(kernel.KindUnauthenticated, "the signed-in user no longer exists")
		}
		return err
	}
	p.Roles, p.Permissions = res.Roles, append([]string{}, res.Permissions...)
	return nil
}

// Authorize decides whether the principal may perform action (on res, when
// given). A deny is a KindForbidden error whose message carries the reasons.
func (a *Authorizer) Authorize(ctx context.Context, action string, res *Resource, req RequestInput) (Decision, error) {
	if err := a.Enrich(ctx); err != nil {
		return Decision{}, err
	}
	p, t, _ := scope(ctx)
	in := Input{
		Subject: SubjectOf(p),
		Action:  action,
		Tenant:  TenantInput{ID: t.ID.String(), Slug: t.Slug, Settings: t.Settings},
		Request: req,
	}
	if res != nil {
		in.Resource = *res
	}
	if in.Resource.Attributes == nil {
		in.Resource.Attributes = map[string]any{}
	}
	if in.Request.Time == "" {
		in.Request.Time = RequestTime(a.clock.Now())
	}
	start, source := time.Now(), "policy"
	d, err := a.decider.Decide(ctx, t.ID.String(), in)
	if err != nil && !errors.Is(err, ErrTenantPolicy) && ctx.Err() == nil {
		// No verdict, and not the tenant policy's doing: most often the
		// base ran past its deadline while the machine was short of CPU
		// for a moment. One more try before the client is told to retry.
		a.log.WarnContext(ctx, "policy evaluation failed; deciding once more", "action", action, "error", err)
		d, err = a.decider.Decide(ctx, t.ID.String(), in)
	}
	if errors.Is(err, ErrTenantPolicy) && ManagesPolicy(action) && isTenantAdmin(in.Subject) {
		if d, err = a.repair(ctx, t.ID.String(), in, err); err == nil && strings.HasSuffix(d.PolicyVersion, "+tenant:bypassed") {
			source = "fallback"
		}
	}
	if err != nil && !errors.Is(err, ErrTenantPolicy) {
		// No verdict: the engine could not decide (the base policy ran past
		// its deadline on a machine short of CPU, the tenant's policy could
		// not be loaded). Nothing is performed, and the client is told to
		// try again rather than that it may not.
		a.log.ErrorContext(ctx, "policy evaluation failed", "action", action, "error", err)
		a.metrics.observe(start, "error", source)
		return Decision{PolicyVersion: d.PolicyVersion}, kernel.Wrap(kernel.KindUnavailable, err, "the access decision for %s could not be made; try again", action)
	}
	if err != nil {
		// The tenant's own policy failed: fail closed, and say why in the
		// log, not to the client.
		a.log.ErrorContext(ctx, "policy evaluation failed; denying", "action", action, "error", err)
		d = Decision{Reasons: []string{"the policy could not be evaluated"}, PolicyVersion: d.PolicyVersion}
		source = "failed"
	}
	outcome := "deny"
	if d.Allow {
		outcome = "allow"
	}
	a.metrics.observe(start, outcome, source)
	// The request's audit record says what was decided: a refusal is
	// recorded with its reasons even though the request's work rolls back.
	audit.NoteDecision(ctx, audit.Decision{Action: action, Resource: audit.Resource{Type: in.Resource.Type, ID: in.Resource.ID},
		Allow: d.Allow, Reasons: d.Reasons, PolicyVersion: d.PolicyVersion})
	if !d.Allow {
		a.log.InfoContext(ctx, "access denied", "action", action, "resource_type", in.Resource.Type,
			"resource_id", in.Resource.ID, "reasons", d.Reasons, "policy_version", d.PolicyVersion)
		return d, kernel.E(kernel.KindForbidden, "%s is not allowed: %s", action, strings.Join(d.Reasons, "; "))
	}
	return d, nil
}

// repair decides a tenant admin's policy management after the tenant's own
// policy failed it: otherwise a module that fails every decision would deny
// the admin the very calls that remove or roll it back. The tenant's policy
// is asked again, patiently; only when it fails that too (it does not
// compile, errs, or runs past ten deadlines) does the base policy alone
// decide. That is logged and counted, and the request's audit record says
// so (policy version base:...+tenant:bypassed, detail policy_fallback).
func (a *Authorizer) repair(ctx context.Context, tenantID string, in Input, cause error) (Decision, error) {
	r, ok := a.decider.(Repairer)
	if !ok {
		return Decision{}, cause
	}
	d, err := r.Recheck(ctx, tenantID, in)
	if !errors.Is(err, ErrTenantPolicy) {
		return d, err // decided by the tenant's policy after all, or the engine failed
	}
	cause = err
	if d, err = r.DecideBase(ctx, in); err != nil {
		return d, err
	}
	a.log.WarnContext(ctx, "the tenant policy failed; policy management decided by the base policy alone",
		"action", in.Action, "allow", d.Allow, "error", cause)
	a.fallbacks.Inc()
	d.Reasons = append(d.Reasons, "decided by the base policy alone: the tenant policy failed")
	audit.Describe(ctx, audit.Resource{}, map[string]any{"policy_fallback": cause.Error()})
	return d, nil
}

func isTenantAdmin(s Subject) bool {
	return s.Type == string(kernel.PrincipalUser) && slices.Contains(s.Roles, RoleAdmin)
}

func scope(ctx context.Context) (*kernel.Principal, *kernel.Tenant, error) {
	p, ok := kernel.PrincipalFrom(ctx)
	t, ok2 := kernel.TenantFrom(ctx)
	if !ok || !ok2 {
		return nil, nil, errors.New("authorize: no principal or tenant in context")
	}
	return p, t, nil
}
