// Package policy is the lifecycle of tenant policy modules: the Rego that a
// tenant's security team writes to deny more, or to grant plugin actions,
// on top of the base policy (policies/base).
//
// A module is activated only after the tenant's whole module set compiles
// in the sandbox and the module's tests pass; every upload is a new version,
// and rolling back re-activates an old one. Compiling and evaluating Rego is
// the Compiler's job (core/opa implements it), and persistence the Store's
// (core/postgres): this package holds the rules and imports neither.
package policy
