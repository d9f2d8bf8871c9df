package access

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/atriumhq/atrium/core/kernel"
)

// Input is the document every policy rule sees as `input`. Its JSON shape
// is the contract security teams write Rego against (docs/policies.md).
type Input struct {
	Subject  Subject      `json:"subject"`
	Action   string       `json:"action"` // a permission name
	Resource Resource     `json:"resource"`
	Tenant   TenantInput  `json:"tenant"`
	Request  RequestInput `json:"request"`
}

// Subject is who asks.
type Subject struct {
	ID          string         `json:"id"`
	Type        string         `json:"type"` // "user" or "operator"
	Email       string         `json:"email"`
	Roles       []string       `json:"roles"`
	Permissions []string       `json:"permissions"`
	Attributes  map[string]any `json:"attributes"`
}

// Resource is what the action is on; empty for collection-level actions.
type Resource struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	OwnerID    string         `json:"owner_id"`
	Attributes map[string]any `json:"attributes"`
}

// TenantInput is the tenant the request acts in.
type TenantInput struct {
	ID       string         `json:"id"`
	Slug     string         `json:"slug"`
	Settings map[string]any `json:"settings"`
}

// RequestInput describes the HTTP request.
type RequestInput struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	IP     string `json:"ip"`
	Time   string `json:"time"` // RFC 3339, UTC: policies get time only from here
}

// Decision is the outcome of one authorisation question.
type Decision struct {
	Allow bool `json:"allow"`
	// Reasons explain the outcome: the deny reasons that fired, the tenant
	// allow reasons that granted it, or why the base refused.
	Reasons []string `json:"reasons"`
	// PolicyVersion identifies the base and tenant policy versions used.
	PolicyVersion string `json:"policy_version"`
	// Explanation is a trace of the evaluation, on request only (dry runs).
	Explanation []string `json:"explanation,omitempty"`
}

// Decider answers authorisation questions for a tenant. Implementations
// must fail closed: an evaluation error, a timeout or an undefined result is
// a deny (with the error returned for logging).
type Decider interface {
	Decide(ctx context.Context, tenantID string, in Input) (Decision, error)
}

// A Repairer is a Decider that can decide a tenant admin's management of a
// tenant policy that failed (Authorizer): Recheck asks the tenant's policy
// again, patiently, so that load or other requests are not taken for a
// failing policy; DecideBase decides under the base policy alone.
type Repairer interface {
	Decider
	Recheck(ctx context.Context, tenantID string, in Input) (Decision, error)
	DecideBase(ctx context.Context, in Input) (Decision, error)
}

// ErrTenantPolicy matches (errors.Is) a decision's error when the tenant's
// own policy failed it (it no longer compiles, errs, or ran past its
// deadline), as opposed to the base policy or the engine.
var ErrTenantPolicy = errors.New("the tenant policy failed")

// SubjectOf is the decision input's subject for principal p.
func SubjectOf(p *kernel.Principal) Subject {
	return Subject{ID: p.ID.String(), Type: string(p.Type), Email: p.Email, Roles: p.Roles,
		Permissions: p.Permissions, Attributes: map[string]any{}}
}

// ManagesPolicy reports whether action is one of the tenant policy's own
// management (access.policy.*): what a tenant admin needs to repair it.
func ManagesPolicy(action string) bool { return strings.HasPrefix(action, "access.policy.") }

// RequestTime formats t as policies see it.
func RequestTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
