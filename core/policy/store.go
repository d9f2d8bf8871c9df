package policy

import (
	"context"

	"github.com/atriumhq/atrium/core/access"
)

// Store keeps a tenant's policy modules. It acts on the tenant of the unit
// of work ctx runs in (core/postgres: the tenant's own schema), so it takes
// no tenant argument and can reach no other tenant's modules.
type Store interface {
	// Lock serialises policy changes in the tenant until the unit of work
	// ends, so the set a change was checked against is the set it lands on.
	// It returns the current revision.
	Lock(ctx context.Context) (int64, error)
	// Revision is the tenant's policy revision: 0 before any change, then
	// one more with each Save, Activate and Delete.
	Revision(ctx context.Context) (int64, error)
	// Active lists the active version of each module, by name.
	Active(ctx context.Context) ([]Module, error)
	// Versions lists every version of a module, newest first; none is not
	// an error.
	Versions(ctx context.Context, name string) ([]Module, error)
	// Version reads one version: kernel.ErrNotFound when there is none.
	Version(ctx context.Context, name string, version int) (Module, error)
	// Save stores m as the module's next version, makes it the active one,
	// and bumps the revision. It returns m with Version and Active set.
	Save(ctx context.Context, m Module) (Module, error)
	// Activate makes an existing version the active one and bumps the
	// revision: kernel.ErrNotFound when there is no such version.
	Activate(ctx context.Context, name string, version int) error
	// Delete deactivates the module (its versions stay as history) and bumps
	// the revision: kernel.ErrNotFound when no version is active.
	Delete(ctx context.Context, name string) error
}

// Compiler compiles and evaluates tenant policies (core/opa implements it).
type Compiler interface {
	// Check compiles modules, a tenant's complete set as it would become,
	// in the sandbox, and runs their tests. A refusal is a policy_invalid
	// *kernel.Error naming each problem; any other error is the engine's.
	Check(ctx context.Context, modules []Module) error
	// Evaluate decides in under the base policy and the tenant's, loading
	// the tenant's set from src only when no compiled one is cached.
	// Explain adds a trace of the evaluation to the decision.
	Evaluate(ctx context.Context, tenantID string, src Source, in access.Input, explain bool) (access.Decision, error)
	// Try decides in under the base policy and modules, a tenant's set as
	// it would become, without making it the tenant's: the lockout guard's
	// question. A failed evaluation is a deny, returned with its error.
	Try(ctx context.Context, modules []Module, in access.Input) (access.Decision, error)
	// Invalidate forgets the tenant's compiled policy (after a change).
	Invalidate(tenantID string)
}

// Source gives the engine a tenant's active policy. Revision is asked to
// tell whether a cached compilation is current; Active only on a miss.
type Source interface {
	Revision(ctx context.Context, tenantID string) (int64, error)
	Active(ctx context.Context, tenantID string) (Set, error)
}
