package policy

import (
	"regexp"
	"time"

	"github.com/atriumhq/atrium/core/kernel"
)

// Module is one version of a tenant policy module.
type Module struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	// Rego declares `package tenant` or a package under it.
	Rego string `json:"rego"`
	// Tests are Rego tests (test_ rules) run before activation; may be empty.
	Tests     string    `json:"tests,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// CreatedBy is the uploader's principal ID, "" when unknown.
	CreatedBy string `json:"created_by,omitempty"`
	Active    bool   `json:"active"`
}

// Set is a tenant's active policy: one version of each module, and the
// tenant's policy revision, which grows with every change and keys caches.
type Set struct {
	Revision int64
	Modules  []Module
	// Shadow is the version being rehearsed beside Modules (shadow.go),
	// nil when none is.
	Shadow *Module
}

// Limits on what a tenant may upload. Tenant Rego is untrusted: the limits
// bound the memory and compile time one tenant can take from the others.
// Terms (each value, variable, reference and call in the Rego) bound the
// compiler's work, which grows faster than linearly with the size of one
// rule: no realistic policy comes near them.
const (
	MaxModules     = 20       // active modules per tenant
	MaxModuleBytes = 64 << 10 // per module, and per module's tests
	MaxRules       = 200      // rules per module, and per module's tests
	MaxRuleTerms   = 4096     // terms per rule
	MaxTerms       = 32768    // terms in a tenant's modules together, and in their tests
)

// Code is the machine-readable code of a refused policy.
const Code = "policy_invalid"

// ErrInvalid matches (errors.Is) every refused policy.
var ErrInvalid = &kernel.Error{Kind: kernel.KindInvalid, Code: Code}

// Invalid refuses a policy: a 422 policy_invalid whose field errors carry
// the compiler's, the sandbox's or the failing tests' messages.
func Invalid(message string, fields ...kernel.FieldError) *kernel.Error {
	e := kernel.E(kernel.KindInvalid, "%s", message).WithCode(Code)
	e.Fields = fields
	return e
}

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)

// ValidName reports whether name may name a module. Names become file names
// in compiler messages and path segments in the API.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// FileName is the file name a module's Rego gets in compiler messages.
func FileName(name string) string { return name + ".rego" }

// TestFileName is the file name a module's tests get in compiler messages.
func TestFileName(name string) string { return name + "_test.rego" }
