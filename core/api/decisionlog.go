package api

import (
	"context"
	"math/rand/v2"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/tenancy"
)

// logDecision records a read's allowed decision in the tenant's audit
// chain when the tenant's decision log asks for allowed decisions (a
// sample of them): changes and refusals are recorded anyway. The read's
// own unit of work is read-only and over, so the record is written in one
// of its own; one that cannot be written is logged, and the read stands.
func (r *Router) logDecision(ctx context.Context, t *kernel.Tenant, rt Route, note *audit.Note) {
	if r.audit == nil || rt.mutates() || !note.Allowed() {
		return
	}
	dl := tenancy.DecisionLogOf(t.Settings)
	if !dl.Allowed || dl.Sample < 1 && rand.Float64() >= dl.Sample { //nolint:gosec // sampling, not secrecy
		return
	}
	e := note.Entry(rt.action(), audit.Success)
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	e.Details["decision_log"] = true
	ctx, cancel := afterTheRequest(ctx)
	defer cancel()
	if err := r.audit.RecordAlone(ctx, t, e); err != nil {
		r.log.ErrorContext(ctx, "decision log record not written", "action", e.Action, "error", err)
	}
}
