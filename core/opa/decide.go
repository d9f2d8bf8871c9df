package opa

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/policy"
)

// baseResult is what the base policy decided.
type baseResult struct {
	allow, grantable bool
	deny             []string
}

// tenantResult is every deny and allow reason the tenant's rules produced.
type tenantResult struct{ deny, allow []string }

// combine is the decision rule of the tenant policy contract:
//
//	allowed = (base allows, or a tenant allow fired and the action is grantable)
//	          and no deny fired (the base's or the tenant's)
//
// Base and tenant are evaluated apart and meet only here, so nothing a
// tenant module does (`with` on input or data included) changes what the
// base decided; at most it adds reasons to the two sets the contract gives
// it. Grantable is the base's word and access.Permission.IsReserved's, both.
func combine(action string, b baseResult, t tenantResult) (bool, []string) {
	grantable := b.grantable && grantableAction(action)
	switch {
	case len(b.deny)+len(t.deny) > 0:
		return false, append(append([]string{}, b.deny...), t.deny...)
	case b.allow:
		return true, append([]string{"a role of the subject holds " + action}, t.allow...)
	case len(t.allow) > 0 && grantable:
		return true, t.allow
	case len(t.allow) > 0:
		return false, []string{action + " is reserved: tenant policies cannot grant it"}
	}
	return false, []string{"no role of the subject holds " + action}
}

func grantableAction(action string) bool {
	return strings.Count(action, ".") == 2 && !access.Permission{Name: action}.IsReserved()
}

// decide evaluates the base and the tenant policy on in under the deadline
// and combines them. It fails closed: on an error, a timeout or an
// undefined result the decision is a deny, returned with the error. A
// patient decision (Decider.Recheck) is not held back by the tenant's
// breaker, nor counted by it, has repairFactor deadlines, and runs in the
// tenant's repair slot: what other requests hold cannot fail it.
func (e *Engine) decide(ctx context.Context, tp *tenantPolicy, in access.Input, explain, patient bool) (d access.Decision, err error) {
	d.PolicyVersion = tp.version
	if d.PolicyVersion == "" { // not built by tenantPolicy
		d.PolicyVersion = e.version(tp.revision)
	}
	deny := func(reason string, err error) (access.Decision, error) {
		d.Allow, d.Reasons = false, []string{reason}
		return d, err
	}
	if tp.err != nil {
		return deny("the tenant policy does not compile", tenantFailed(fmt.Errorf("tenant policy at revision %d: %w", tp.revision, tp.err)))
	}
	attrs, ierr := inputAttributes(in) // invalid input denies, memo or not
	if ierr != nil {
		return deny("the decision input is not valid", ierr)
	}
	// A tenant whose policy ran past its deadline lately is denied without
	// evaluating, but for one probe at a time (breaker.go).
	var probe, overran, inTime bool
	if tp.query != nil && !patient {
		var err error
		if probe, err = e.runaways.admit(tp.tenant, e.now); err != nil {
			return deny("the tenant policy did not finish in time", tenantFailed(err))
		}
	}
	defer func() {
		if probe || overran {
			e.runaways.settle(tp.tenant, probe, overran, inTime, e.now(), e.opts.Cooldown)
		}
	}()

	// The base's result for this action and these permissions, when the
	// base is memoisable and has decided them before (never when
	// explaining: the explanation shows its evaluation). The key is built
	// on the stack: a hit allocates nothing.
	var buf [512]byte
	var key []byte
	var b baseResult
	cached := false
	if e.base.memo != nil && !explain {
		key = appendName(appendNames(buf[:0], in.Subject.Permissions), in.Action)
		b, cached = e.base.memo.get(key)
	}
	if cached && tp.query == nil {
		d.Allow, d.Reasons = combine(in.Action, b, tenantResult{})
		return d, nil
	}

	input := attrs.input(in, e.terms)
	abandoned := false // the tenant's evaluation still holds input and its tracer
	defer func() {     // after the explanation, deferred below, is built
		if !abandoned {
			input.release()
		}
	}()

	// One cancel for both evaluations, set at the deadline or when ctx
	// ends: topdown checks it between steps, and so do the few built-ins
	// that check at all (they read the cancel, not the context). A recycled
	// timer and, only when ctx can end at all, an AfterFunc: cheaper than a
	// context with a timeout and an AfterFunc on it, per decision. The
	// tenant's evaluation is also waited for only until then (runaway.go).
	deadline := e.opts.Deadline
	if patient {
		deadline *= repairFactor
	}
	w := startWatch(deadline)
	c := w.cancel
	var stopCtx func() bool
	if ctx.Done() != nil {
		stopCtx = context.AfterFunc(ctx, c.Cancel)
	}
	defer func() { w.stop(stopCtx == nil || stopCtx()) }()
	var baseTrace, tenantTrace *topdown.BufferTracer
	if explain {
		baseTrace, tenantTrace = topdown.NewBufferTracer(), topdown.NewBufferTracer()
		defer func() {
			if abandoned {
				tenantTrace = topdown.NewBufferTracer() // still being written
			}
			d.Explanation = explanation(baseTrace, tenantTrace, tp.query != nil)
		}()
	}

	if !cached {
		if b, err = evalBase(ctx, e.base.query, input.term, c, tracer(baseTrace)); err != nil {
			return deny(failure(ctx, c, "base"), err)
		}
		if key != nil {
			e.base.memo.put(key, b)
		}
	}
	var t tenantResult
	if tp.query != nil {
		slots := tp.slots
		if patient {
			slots = tp.repairSlot
		}
		if t, abandoned, err = e.evalTenantBounded(ctx, tp, slots, input.term, w, tracer(tenantTrace)); err != nil {
			// The deadline's doing, not the caller's, nor a wait for a slot.
			overran = !patient && c.Cancelled() && ctx.Err() == nil && !errors.Is(err, errNoSlot)
			return deny(failure(ctx, c, "tenant"), tenantFailed(err))
		}
		inTime = true
	}
	d.Allow, d.Reasons = combine(in.Action, b, t)
	return d, nil
}

// tracer avoids a typed nil in the interface.
func tracer(t *topdown.BufferTracer) topdown.QueryTracer {
	if t == nil {
		return nil
	}
	return t
}

func failure(ctx context.Context, c topdown.Cancel, which string) string {
	if c.Cancelled() || ctx.Err() != nil {
		return "the " + which + " policy did not finish in time"
	}
	return "the " + which + " policy could not be evaluated"
}

var errUndefined = errors.New("policy result is undefined")

// maxReasonSize bounds a reason that is not a string, rendered in its Rego
// form, in size() units (about bytes).
const maxReasonSize = 4 << 10

var (
	allowVar     = ast.Var("allow")
	grantableVar = ast.Var("grantable")
	denyVar      = ast.Var("deny")
)

func evalBase(ctx context.Context, q *query, input *ast.Term, c topdown.Cancel, t topdown.QueryTracer) (baseResult, error) {
	r, err := q.eval(ctx, input, c, t)
	if err != nil {
		return baseResult{}, fmt.Errorf("base policy: %w", err)
	}
	allow, ok1 := r[allowVar].Value.(ast.Boolean)
	grantable, ok2 := r[grantableVar].Value.(ast.Boolean)
	deny, ok3 := r[denyVar].Value.(ast.Set)
	if !ok1 || !ok2 || !ok3 {
		return baseResult{}, fmt.Errorf("base policy: allow %v, grantable %v, deny %v: want two booleans and a set",
			r[allowVar], r[grantableVar], r[denyVar])
	}
	return baseResult{allow: bool(allow), grantable: bool(grantable), deny: reasons(nil, deny)}, nil
}

func evalTenant(ctx context.Context, q *query, input *ast.Term, c topdown.Cancel, t topdown.QueryTracer) (tenantResult, error) {
	r, err := q.eval(ctx, input, c, t)
	if err != nil {
		return tenantResult{}, fmt.Errorf("tenant policy: %w", err)
	}
	return tenantResult{deny: flatten(r[denyVar]), allow: flatten(r[allowVar])}, nil
}

// flatten turns the query's array of reason sets into one list of reasons.
func flatten(t *ast.Term) []string {
	arr, _ := t.Value.(*ast.Array)
	if arr == nil {
		return nil
	}
	var out []string
	arr.Foreach(func(s *ast.Term) {
		if set, ok := s.Value.(ast.Set); ok {
			out = reasons(out, set)
		}
	})
	return out
}

// reasons appends a set's reasons, in order: strings as they are, anything
// else a rule put in the set in its Rego (JSON-like) form.
func reasons(out []string, set ast.Set) []string {
	add := func(r *ast.Term) {
		switch s, ok := r.Value.(ast.String); {
		case ok:
			out = append(out, string(s))
		case size(r, 0, maxReasonSize) > maxReasonSize: // its Rego form could be exponentially long
			out = append(out, fmt.Sprintf("(a %s reason over %d bytes)", ast.ValueName(r.Value), maxReasonSize))
		default:
			out = append(out, r.String())
		}
	}
	switch set.Len() {
	case 0:
	case 1: // in order already: no sorted copy
		set.Foreach(add)
	default:
		set.Sorted().Foreach(add)
	}
	return out
}

// Decider answers access questions for the request path: it implements
// access.Decider over an engine and the source of tenants' policies.
type Decider struct {
	engine    *Engine
	src       policy.Source
	rehearser policy.Rehearser
}

var _ access.Repairer = (*Decider)(nil)

// NewDecider returns the decider; src is usually the *policy.Service.
func NewDecider(engine *Engine, src policy.Source) *Decider {
	return &Decider{engine: engine, src: src}
}

// Decide evaluates in under the base policy and the tenant's.
func (d *Decider) Decide(ctx context.Context, tenantID string, in access.Input) (access.Decision, error) {
	tp, err := d.engine.tenantPolicy(ctx, tenantID, d.src)
	if err != nil {
		return access.Decision{Reasons: []string{"the tenant policy could not be loaded"},
			PolicyVersion: d.engine.version(-1)}, err
	}
	dec, err := d.engine.decide(ctx, tp, in, false, false)
	if err == nil {
		d.rehearse(ctx, tp, in, dec)
	}
	return dec, err
}

// repairFactor is how many deadlines a patient decision has.
const repairFactor = 10

// Recheck evaluates in under the base policy and the tenant's again, after
// the tenant's policy failed it: patiently (not held back by the tenant's
// breaker, under ten deadlines, in a slot of its own), so that what load or
// other requests did is not taken for a failing policy.
func (d *Decider) Recheck(ctx context.Context, tenantID string, in access.Input) (access.Decision, error) {
	tp, err := d.engine.tenantPolicy(ctx, tenantID, d.src)
	if err != nil {
		return access.Decision{Reasons: []string{"the tenant policy could not be loaded"}}, err
	}
	return d.engine.decide(ctx, tp, in, false, true)
}

// DecideBase evaluates in under the base policy alone.
func (d *Decider) DecideBase(ctx context.Context, in access.Input) (access.Decision, error) {
	return d.engine.decide(ctx, &tenantPolicy{version: "base:" + d.engine.base.version + "+tenant:bypassed"}, in, false, false)
}

// tenantError is a decision's error that the tenant's own policy caused.
type tenantError struct{ err error }

func tenantFailed(err error) error { return &tenantError{err} }

func (e *tenantError) Error() string        { return e.err.Error() }
func (e *tenantError) Unwrap() error        { return e.err }
func (e *tenantError) Is(target error) bool { return target == access.ErrTenantPolicy }
