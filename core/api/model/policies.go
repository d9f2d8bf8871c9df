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

// EvaluateRequest is a dry-run decision: subject (the caller when absent),
// action and resource.
type EvaluateRequest struct {
	Subject  *EvaluateSubject  `json:"subject"`
	Action   string            `json:"action" validate:"required,max=128"`
	Resource *EvaluateResource `json:"resource"`
	Explain  bool              `json:"explain"`
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
}
