package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
)

// TenantAudit records operators' actions on a tenant in that tenant's log.
type TenantAudit interface {
	RecordForTenant(ctx context.Context, slug string, e audit.Entry) error
	// Committed queues a record written with the change itself.
	Committed(ctx context.Context, slug string)
}

// mutates reports whether the route changes state, so its successes are
// recorded.
func (rt Route) mutates() bool {
	switch rt.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return !rt.ReadOnly
}

// action is the route's name in the audit log.
func (rt Route) action() string {
	switch {
	case rt.Permission != "":
		return rt.Permission
	case rt.Action != "":
		return rt.Action
	}
	return strings.ToLower(rt.Method) + " " + rt.Path
}

// resourceType is what the route acts on: the middle of its permission
// (identity.user.update acts on a user).
func (rt Route) resourceType() string {
	parts := strings.Split(rt.action(), ".")
	if len(parts) == 3 {
		return parts[1]
	}
	return ""
}

// auditSuccess records a mutation inside its unit of work.
func (r *Router) auditSuccess(ctx context.Context, rt Route, note *audit.Note) error {
	if r.audit == nil || !rt.mutates() {
		return nil
	}
	audit.Describe(ctx, audit.Resource{Type: rt.resourceType()}, nil)
	return r.audit.Record(ctx, note.Entry(rt.action(), audit.Success))
}

// auditFailure records a refused request, or a mutation that failed, in a
// unit of work of its own. A refusal that cannot be recorded still fails
// (it is refused either way); the returned error replaces the request's
// only for a failed mutation, which must not go unrecorded.
func (r *Router) auditFailure(ctx context.Context, t *kernel.Tenant, rt Route, note *audit.Note, cause error) error {
	if r.audit == nil || errors.Is(cause, audit.ErrUnwritable) {
		return nil
	}
	if p, ok := kernel.PrincipalFrom(ctx); ok && p.ID == uuid.Nil {
		// A caller never identified (an API key that did not prove out)
		// leaves nothing in the tenant's chain: anyone can make one up.
		return nil
	}
	var e audit.Entry
	switch {
	case note.Denied():
		e = note.Entry(rt.action(), audit.Deny)
	case rt.mutates():
		audit.Describe(ctx, audit.Resource{Type: rt.resourceType()}, nil)
		e = note.Entry(rt.action(), audit.Failure)
		e.Reasons = []string{failureReason(cause)}
	default:
		return nil
	}
	ctx, cancel := afterTheRequest(ctx)
	defer cancel()
	if err := r.audit.RecordAlone(ctx, t, e); err != nil {
		r.log.ErrorContext(ctx, "audit record of a failed request not written", "action", e.Action, "error", err)
		if rt.mutates() && !note.Denied() {
			// The access log shows the request's own error too; the
			// record's says what the client is told.
			return audit.Unwritable(fmt.Errorf("%w (the request failed with: %s)", err, cause.Error()))
		}
	}
	return nil
}

// afterTheRequest is a context for recording a request's failure: the
// request's own may have ended (its timeout, a shutdown, the client gone),
// which is often why it failed.
func afterTheRequest(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), failureRecordTimeout)
}

const failureRecordTimeout = 2 * time.Second

// failureReason is what the client was told, never an internal error's text.
func failureReason(err error) string {
	var ke *kernel.Error
	if errors.As(err, &ke) && ke.Kind != kernel.KindInternal {
		if ke.Message != "" {
			return ke.Kind.String() + ": " + ke.Message
		}
		return ke.Kind.String()
	}
	return "internal error"
}

// auditOperator records an operator's action on a tenant in the tenant's
// log. Creates, updates and restores are recorded by the tenant store in
// their own transaction (postgres.AuditTenantChanges): then only the
// sealer is told. Other actions (a backup; a failure, after its rollback)
// are recorded here, after the fact: a record that cannot be written is
// logged and counted, not turned into a failure the client would misread as
// "nothing changed".
func (r *Router) auditOperator(ctx context.Context, c *gin.Context, rt Route, note *audit.Note, cause error) {
	slug := c.Param("slug")
	if slug == "" { // a new tenant: named by the request body
		slug = note.Field("slug")
	}
	if r.tenantAudit == nil || !rt.mutates() || slug == "" {
		return
	}
	if cause == nil && note.Recorded() { // written with the change, in its transaction
		r.tenantAudit.Committed(ctx, slug)
		return
	}
	audit.Describe(ctx, audit.Resource{Type: rt.resourceType(), ID: slug}, nil)
	e := note.Entry(rt.action(), audit.Success)
	if cause != nil {
		e.Outcome, e.Reasons = audit.Failure, []string{failureReason(cause)}
	}
	ctx, cancel := afterTheRequest(ctx)
	defer cancel()
	if err := r.tenantAudit.RecordForTenant(ctx, slug, e); err != nil && !errors.Is(err, kernel.ErrNotFound) {
		r.log.ErrorContext(ctx, "audit record of an operator action not written", "action", e.Action, "tenant", slug,
			slog.Any("error", err))
	}
}

// lastParam is the route's last path parameter: the resource acted on.
func lastParam(c *gin.Context) string {
	if n := len(c.Params); n > 0 {
		return c.Params[n-1].Value
	}
	return ""
}

// inputDetails describes a decoded request body for the audit record: the
// fields the client set, by JSON name, with fields tagged audit:"secret"
// masked. For an update these are the fields it changes.
func inputDetails(in any) map[string]any {
	fields, ok := structFields(reflect.ValueOf(in)).(map[string]any)
	if !ok || len(fields) == 0 {
		return nil
	}
	return map[string]any{"fields": fields}
}

// structFields turns a struct (through pointers) into a map of its set
// fields, recursively, so a secret nested in a struct is masked too; other
// values are returned as they are.
func structFields(v reflect.Value) any {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return v.Interface()
	}
	fields := map[string]any{}
	for i := range v.NumField() {
		f, fv := v.Type().Field(i), v.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || fv.IsZero() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if f.Tag.Get("audit") == "secret" {
			fields[name] = "***"
			continue
		}
		fields[name] = structFields(fv)
	}
	return fields
}

// outputID is the id a handler's result carries (a created resource's), if
// its type has an exported ID field.
func outputID(out any) string {
	v := reflect.Indirect(reflect.ValueOf(out))
	if v.Kind() != reflect.Struct {
		return ""
	}
	if f := v.FieldByName("ID"); f.IsValid() && !f.IsZero() {
		return fmt.Sprint(f.Interface())
	}
	return ""
}
