package access

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/internal/listquery"
)

// Column is the SQL column behind one field of a resource in a list.
type Column struct {
	// Name is a plain lower-case identifier, optionally qualified
	// ("t.status"), as listquery.Field.Column: checked before use.
	Name string
	Type listquery.Type
	// Nullable marks a column that may hold NULL: an attribute that is
	// absent from the resource, and an id or owner that is "".
	Nullable bool
}

// ListColumns maps what a policy reads of a resource to a list's columns:
// input.resource.id, input.resource.owner_id and input.resource.attributes.
// A list must map every attribute its handlers put in resource-level
// decisions: an attribute it does not map is absent from its rows, as if
// the resource did not have it.
type ListColumns struct {
	ID, Owner  *Column // nil: not in the list ("" to policies)
	Attributes map[string]Column
	// Named, for showing a filter rather than running it: every attribute
	// not in Attributes is a nullable text column named after it.
	Named bool
}

// Filter is the condition a list's rows must meet to be what the policy
// lets the subject read.
type Filter struct {
	// SQL is a boolean expression over the list's columns whose values are
	// the placeholders $argOffset+1 ... (Params). "FALSE" when nothing is
	// readable, "TRUE" when everything is.
	SQL    string
	Params []any
	// Fallback: part of the policy's condition has no SQL form, so SQL only
	// narrows the rows and each row must still be decided (Lists.Allows).
	Fallback bool
	// PolicyVersion identifies the policy the filter comes from.
	PolicyVersion string
}

// A Filterer turns the tenant's policy for in (in.Resource.Type set, the
// rest of the resource unknown) into the condition a list's rows must
// meet. It never widens what a decision on each row would allow, and fails
// closed like a Decider.
type Filterer interface {
	Filter(ctx context.Context, tenantID string, in Input, cols ListColumns, argOffset int) (Filter, error)
}

// Lists filters lists by the tenant's policy: the condition for a page's
// SQL, and the decision on one row when the condition falls back.
type Lists struct {
	authz     *Authorizer
	decider   Decider
	filterer  Filterer // nil: every list falls back to deciding each row
	log       *slog.Logger
	fallbacks prometheus.Counter
}

// NewLists returns the lists' filter; d is the authorizer's decider, used
// as a Filterer when it is one. reg, when set, receives its metric.
func NewLists(a *Authorizer, d Decider, log *slog.Logger, reg prometheus.Registerer) *Lists {
	fallbacks := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "atrium_policy_filter_fallbacks_total",
		Help: "List pages whose policy filter had no complete SQL form, so that the host decided their rows one by one.",
	})
	if reg != nil {
		reg.MustRegister(fallbacks)
	}
	f, _ := d.(Filterer)
	return &Lists{authz: a, decider: d, filterer: f, log: log, fallbacks: fallbacks}
}

// Filter returns the condition a list of resourceType, read with action,
// gets for the request's principal. A tenant policy that fails is a
// KindForbidden error (closed, as Authorize), an engine that cannot decide
// a KindUnavailable one.
func (l *Lists) Filter(ctx context.Context, action, resourceType string, cols ListColumns, argOffset int, req RequestInput) (Filter, error) {
	in, tenantID, err := l.input(ctx, action, Resource{Type: resourceType}, req)
	if err != nil {
		return Filter{}, err
	}
	f := Filter{SQL: "TRUE", Fallback: true}
	if l.filterer != nil {
		f, err = l.filterer.Filter(ctx, tenantID, in, cols, argOffset)
	}
	switch {
	case errors.Is(err, ErrTenantPolicy):
		l.log.ErrorContext(ctx, "list filter failed; denying", "action", action, "resource_type", resourceType, "error", err)
		return Filter{}, kernel.E(kernel.KindForbidden, "%s is not allowed: the policy could not be evaluated", action)
	case err != nil:
		l.log.ErrorContext(ctx, "list filter failed", "action", action, "resource_type", resourceType, "error", err)
		return Filter{}, kernel.Wrap(kernel.KindUnavailable, err, "the access filter for %s could not be made; try again", action)
	}
	if f.Fallback {
		l.fallbacks.Inc()
		l.log.InfoContext(ctx, "list filter falls back to deciding each row", "action", action,
			"resource_type", resourceType, "policy_version", f.PolicyVersion)
	}
	return f, nil
}

// Allows decides one row of a list whose filter fell back. It is not
// audited: a row left out of a list is not a refused request. A tenant
// policy that fails leaves the row out.
func (l *Lists) Allows(ctx context.Context, action string, res Resource, req RequestInput) (bool, error) {
	in, tenantID, err := l.input(ctx, action, res, req)
	if err != nil {
		return false, err
	}
	d, err := l.decider.Decide(ctx, tenantID, in)
	switch {
	case errors.Is(err, ErrTenantPolicy):
		return false, nil
	case err != nil:
		return false, kernel.Wrap(kernel.KindUnavailable, err, "the access decision for %s could not be made; try again", action)
	}
	return d.Allow, nil
}

// input is Authorize's decision input.
func (l *Lists) input(ctx context.Context, action string, res Resource, req RequestInput) (Input, string, error) {
	if err := l.authz.Enrich(ctx); err != nil {
		return Input{}, "", err
	}
	p, t, err := scope(ctx)
	if err != nil {
		return Input{}, "", err
	}
	if res.Attributes == nil {
		res.Attributes = map[string]any{}
	}
	if req.Time == "" {
		req.Time = RequestTime(l.authz.clock.Now())
	}
	return Input{Subject: SubjectOf(p), Action: action, Resource: res,
		Tenant: TenantInput{ID: t.ID.String(), Slug: t.Slug, Settings: t.Settings}, Request: req}, t.ID.String(), nil
}
