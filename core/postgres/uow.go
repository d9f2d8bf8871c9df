package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atriumhq/atrium/core/kernel"
)

// UnitOfWork begins tenant-scoped transactions on the shared pool: the one
// place a request's transactions on tenant data begin. (Provisioning, backup,
// restore and migration rollouts are lifecycle operations with their own
// transactions, scoped with the same scopeStatements.)
type UnitOfWork struct {
	pool *pgxpool.Pool
}

var _ kernel.Transactor = (*UnitOfWork)(nil)

// NewUnitOfWork returns a unit of work factory over pool.
func NewUnitOfWork(pool *pgxpool.Pool) *UnitOfWork { return &UnitOfWork{pool: pool} }

// Tx is a unit of work's transaction as repositories use it. Its statements
// run as the tenant's role with search_path at the tenant's schema.
type Tx struct {
	conn   *pgxpool.Conn
	tenant *kernel.Tenant
	prefix string // "/* <schema> */ ": the statement cache key's tenant part
}

type txKey struct{}

// TxFrom returns the transaction of the unit of work ctx runs in.
func TxFrom(ctx context.Context) (*Tx, error) {
	tx, ok := ctx.Value(txKey{}).(*Tx)
	if !ok {
		return nil, errors.New("no unit of work in context: tenant data is reached only inside one")
	}
	return tx, nil
}

// scopeStatements scope the current transaction to t. SET LOCAL ends with
// the transaction, so nothing survives on the pooled connection. The names
// come from the tenant registry and are quoted as identifiers.
func scopeStatements(t *kernel.Tenant) string {
	return "SET LOCAL ROLE " + pgx.Identifier{t.Role}.Sanitize() +
		"; SET LOCAL search_path TO " + pgx.Identifier{t.Schema}.Sanitize()
}

// scopeSQL begins a transaction and scopes it in one round trip.
func scopeSQL(t *kernel.Tenant) string { return "BEGIN; " + scopeStatements(t) }

// InTenant runs fn in a transaction scoped to t and commits when fn returns
// nil. A panic in fn rolls back and is re-raised.
func (u *UnitOfWork) InTenant(ctx context.Context, t *kernel.Tenant, fn func(context.Context) error) (err error) {
	if cur, ok := ctx.Value(txKey{}).(*Tx); ok {
		if cur.tenant.ID != t.ID {
			return fmt.Errorf("unit of work for tenant %s inside one for tenant %s", t.Slug, cur.tenant.Slug)
		}
		return fn(ctx)
	}
	if t.Role == "" || t.Schema == "" {
		return errors.New("unit of work: tenant has no schema or role")
	}
	conn, err := u.pool.Acquire(ctx)
	if err != nil {
		return unavailable(err)
	}
	// A connection released mid-transaction is closed by pgxpool, never reused.
	defer conn.Release()
	if _, err := conn.Exec(ctx, scopeSQL(t)); err != nil {
		return unavailable(err)
	}
	done := false
	defer func() {
		if !done {
			rollback(conn)
		}
	}()

	ctx, unit := kernel.WithUnit(ctx, t)
	if err := fn(context.WithValue(ctx, txKey{}, &Tx{conn: conn, tenant: t, prefix: "/* " + t.Schema + " */ "})); err != nil {
		return err
	}
	tag, err := conn.Exec(ctx, "COMMIT")
	if err != nil {
		return unavailable(err)
	}
	done = true
	if tag.String() == "ROLLBACK" {
		// A statement failed and fn carried on regardless.
		return errors.New("unit of work: transaction was aborted by an earlier error and rolled back")
	}
	unit.Committed()
	return nil
}

func rollback(conn *pgxpool.Conn) {
	// A fresh context: the rollback must happen even after a cancel.
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		// The connection is in an unknown state: close it so it is not reused.
		_ = conn.Conn().Close(ctx)
	}
}

// Statements inside a unit of work are prepared and cached per tenant: the
// SQL text is keyed by the tenant's schema in a leading comment. pgx caches
// prepared statements per connection by SQL text, and a statement prepared
// under one tenant's search_path must not be reused under another's: when
// their tables differ in shape (tenants at different migration versions)
// PostgreSQL refuses it (see TestPgxStatementCacheWouldFailAcrossShapes).
// With the key, each tenant reuses its own plans.
func (tx *Tx) key(sql string) string {
	return tx.prefix + sql
}

// Exec runs a statement in the unit of work.
func (tx *Tx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return tx.conn.Exec(ctx, tx.key(sql), args...)
}

// Query runs a query in the unit of work.
func (tx *Tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return tx.conn.Query(ctx, tx.key(sql), args...)
}

// QueryRow runs a query returning at most one row in the unit of work.
func (tx *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return tx.conn.QueryRow(ctx, tx.key(sql), args...)
}

// Tenant is the tenant the unit of work is scoped to.
func (tx *Tx) Tenant() *kernel.Tenant { return tx.tenant }
