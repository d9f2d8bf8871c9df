package model

import "time"

// PolicyModule is one version of a tenant policy module.
type PolicyModule struct {
	Name      string    `json:"name"`
	Version   int       `json:"version"`
	Rego      string    `json:"rego"`
	Tests     string    `json:"tests,omitempty"`
	Active    bool      `json:"active"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
}

// PolicyList is a list of modules or of one module's versions.
type PolicyList struct {
	Items []PolicyModule `json:"items"`
}

// PutPolicyRequest uploads a new version of a module with its tests.
type PutPolicyRequest struct {
	Rego  string `json:"rego" validate:"required"`
	Tests string `json:"tests"`
	// Mode "shadow" stores the version as the tenant's shadow version
	// instead of activating it (docs/policies.md); default "active".
	Mode string `json:"mode,omitempty" validate:"omitempty,oneof=active shadow"`
}

// RollbackRequest activates an earlier version.
type RollbackRequest struct {
	Version int `json:"version" validate:"required,min=1"`
}

// BreakGlassRequest is an operator's reason for changing a tenant's policy;
// it goes into the tenant's audit log with the change.
type BreakGlassRequest struct {
	Reason string `json:"reason" validate:"required,max=1000"`
}

// BreakGlassRollbackRequest activates an earlier version, for a reason.
type BreakGlassRollbackRequest struct {
	Version int    `json:"version" validate:"required,min=1"`
	Reason  string `json:"reason" validate:"required,max=1000"`
}

// EvaluateRequest is a dry run: a subject (the caller when absent), an
// action and optionally a resource. Mode "filter" shows instead the
// condition a list of ResourceType, read with Action, gets for the subject.
type EvaluateRequest struct {
	Subject      *EvaluateSubject  `json:"subject"`
	Action       string            `json:"action" validate:"required,max=128"`
	Resource     *EvaluateResource `json:"resource"`
	Explain      bool              `json:"explain"`
	Mode         string            `json:"mode,omitempty" validate:"omitempty,oneof=decision filter"`
	ResourceType string            `json:"resource_type,omitempty" validate:"max=63"`
}

// EvaluateSubject is a hypothetical subject; its permissions come from its
// roles unless given.
type EvaluateSubject struct {
	ID          string         `json:"id"`
	Email       string         `json:"email"`
	Roles       []string       `json:"roles" validate:"max=20"`
	Permissions []string       `json:"permissions" validate:"max=1000"`
	Attributes  map[string]any `json:"attributes"`
}

// EvaluateResource is what the action would act on.
type EvaluateResource struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	OwnerID    string         `json:"owner_id"`
	Attributes map[string]any `json:"attributes"`
}

// EvaluateResponse is the decision with its reasons.
type EvaluateResponse struct {
	Allow         bool     `json:"allow"`
	Reasons       []string `json:"reasons"`
	PolicyVersion string   `json:"policy_version"`
	Explanation   []string `json:"explanation,omitempty"`
	// Filter mode: the list's condition, null when the list is not
	// narrowed at all (and in a decision), and whether rows must still be
	// decided one by one (part of the policy has no SQL form). Allow then
	// says whether any row may be readable.
	Filter   *EvaluateFilter `json:"filter"`
	Fallback *bool           `json:"fallback,omitempty"`
}

// EvaluateFilter is a list's condition: SQL over columns named after the
// resource's fields (id, owner_id, and each attribute by its name), with
// $1, $2, ... standing for params. A list puts the columns its plugin maps
// them to instead.
type EvaluateFilter struct {
	SQL    string `json:"sql"`
	Params []any  `json:"params"`
}
