package kernel

import (
	"context"
	"sync"
)

// Transactor runs work in one tenant-scoped transaction: the unit of work.
// It commits only when fn returns nil; a nested call for the same tenant
// joins the enclosing unit.
type Transactor interface {
	InTenant(ctx context.Context, t *Tenant, fn func(ctx context.Context) error) error
}

// Unit is the bookkeeping a unit of work keeps in its context.
type Unit struct {
	Tenant *Tenant

	// mu guards the callbacks: a plugin's host calls for one request may
	// run at once.
	mu       sync.Mutex
	after    []func()
	rollback []func()
}

type unitKey struct{}

// WithUnit starts the bookkeeping for a unit of work on t. Only unit of
// work implementations call it.
func WithUnit(ctx context.Context, t *Tenant) (context.Context, *Unit) {
	u := &Unit{Tenant: t}
	return context.WithValue(ctx, unitKey{}, u), u
}

// UnitFrom returns the unit of work ctx runs in, if any.
func UnitFrom(ctx context.Context) (*Unit, bool) {
	u, ok := ctx.Value(unitKey{}).(*Unit)
	return u, ok
}

// AfterCommit schedules f to run once the unit of work in ctx has committed
// (cache invalidation, events); it never runs on rollback. Outside a unit of
// work f runs at once, since there is nothing to wait for.
func AfterCommit(ctx context.Context, f func()) {
	if u, ok := UnitFrom(ctx); ok {
		u.mu.Lock()
		u.after = append(u.after, f)
		u.mu.Unlock()
		return
	}
	f()
}

// Committed runs the after-commit callbacks, in the order scheduled.
func (u *Unit) Committed() {
	u.mu.Lock()
	after := u.after
	u.after, u.rollback = nil, nil
	u.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// AfterRollback schedules f to run once the unit of work in ctx has rolled
// back, to undo an effect outside the database (a blob written for a row
// that never committed). It does not run when the outcome is unknown (the
// database went away during COMMIT). Outside a unit of work it never runs.
func AfterRollback(ctx context.Context, f func()) {
	if u, ok := UnitFrom(ctx); ok {
		u.mu.Lock()
		u.rollback = append(u.rollback, f)
		u.mu.Unlock()
	}
}

// RolledBack runs the after-rollback callbacks, in the order scheduled.
func (u *Unit) RolledBack() {
	u.mu.Lock()
	rollback := u.rollback
	u.after, u.rollback = nil, nil
	u.mu.Unlock()
	for _, f := range rollback {
		f()
	}
}

type readOnlyKey struct{}

// ReadOnly marks ctx for a unit of work that only reads: the transaction
// the next InTenant on ctx starts is READ ONLY, so a write in it fails
// instead of committing without the audit record a mutation gets.
func ReadOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, readOnlyKey{}, true)
}

// IsReadOnly tells whether ctx was marked by ReadOnly.
func IsReadOnly(ctx context.Context) bool {
	ro, _ := ctx.Value(readOnlyKey{}).(bool)
	return ro
}
