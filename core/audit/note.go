package audit

import (
	"context"
	"maps"
	"sync"
)

// Note collects, while a request runs, what its audit record will say: the
// resource it acted on, details from the code that did the work, and the
// decision that refused it, if one did. The API layer starts one per
// request and writes the record from it.
type Note struct {
	mu       sync.Mutex
	action   string
	resource Resource
	details  map[string]any
	decision *Decision
	recorded bool // written already, inside the change's own transaction
}

// NoteFrom returns the note of the request in ctx, if any.
func NoteFrom(ctx context.Context) (*Note, bool) {
	n, ok := ctx.Value(noteKey{}).(*Note)
	return n, ok
}

// SetAction names what the request does, for records written before it
// ends (see Log.RecordChange).
func (n *Note) SetAction(action string) {
	n.mu.Lock()
	n.action = action
	n.mu.Unlock()
}

// Recorded reports whether the request's success was recorded already.
func (n *Note) Recorded() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.recorded
}

// Decision is an access decision as the audit log keeps it.
type Decision struct {
	Action        string
	Resource      Resource
	Allow         bool
	Reasons       []string
	PolicyVersion string
}

type noteKey struct{}

// WithNote returns a context carrying a new note.
func WithNote(ctx context.Context) (context.Context, *Note) {
	n := &Note{}
	return context.WithValue(ctx, noteKey{}, n), n
}

// Describe records what the request acted on and details of the change (for
// an update: the fields changed, sensitive values masked with Mask). Later
// calls add details and replace a non-empty resource. Without a note in ctx
// it does nothing.
func Describe(ctx context.Context, res Resource, details map[string]any) {
	n, ok := ctx.Value(noteKey{}).(*Note)
	if !ok {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if res.Type != "" {
		n.resource.Type = res.Type
	}
	if res.ID != "" {
		n.resource.ID = res.ID
	}
	if len(details) > 0 {
		if n.details == nil {
			n.details = map[string]any{}
		}
		maps.Copy(n.details, details)
	}
}

// NoteDecision keeps the request's latest access decision: a refusal is
// recorded with its reasons, a success with the policy version that allowed
// it.
func NoteDecision(ctx context.Context, d Decision) {
	n, ok := ctx.Value(noteKey{}).(*Note)
	if !ok {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.decision != nil && !n.decision.Allow && d.Allow {
		return // a refusal stands: it is what the request ended with
	}
	n.decision = &d
}

// Entry is the record the note describes, for action and outcome. A refusal
// the note holds makes a failed request's record a deny, with the refused
// action and its reasons.
func (n *Note) Entry(action string, outcome Outcome) Entry {
	n.mu.Lock()
	defer n.mu.Unlock()
	e := Entry{Action: action, Resource: n.resource, Outcome: outcome, Details: maps.Clone(n.details)}
	if d := n.decision; d != nil {
		e.PolicyVersion = d.PolicyVersion
		// A refusal the request got past (a plugin asked, was told no, and
		// carried on) does not turn its success into a deny.
		if !d.Allow && outcome != Success {
			e.Action, e.Outcome, e.Reasons = d.Action, Deny, d.Reasons
			if d.Resource != (Resource{}) {
				e.Resource = d.Resource
			}
		}
	}
	return e
}

// Field is the string value of a request body field the note holds (see
// the API layer's input details), or "".
func (n *Note) Field(name string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	fields, _ := n.details["fields"].(map[string]any)
	s, _ := fields[name].(string)
	return s
}

// Allowed reports whether the request's latest access decision allowed it.
func (n *Note) Allowed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.decision != nil && n.decision.Allow
}

// Denied reports whether the request was refused by an access decision.
func (n *Note) Denied() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.decision != nil && !n.decision.Allow
}

// masked replaces a sensitive value in details.
const masked = "***"

// Mask returns fields with the values of the sensitive keys replaced, so a
// record says that a password changed without saying what to.
func Mask(fields map[string]any, sensitive ...string) map[string]any {
	out := maps.Clone(fields)
	for _, k := range sensitive {
		if _, ok := out[k]; ok {
			out[k] = masked
		}
	}
	return out
}
