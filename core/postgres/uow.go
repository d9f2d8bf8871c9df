package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"

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
	pool     *pgxpool.Pool
	conn     *pgxpool.Conn // taken with the first statement: a plugin route may need none
	tenant   *kernel.Tenant
	prefix   string // "/* <schema> */ ": the statement cache key's tenant part
	pending  bool   // BEGIN and the scope not sent yet
	beginSQL string // BEGIN, or BEGIN READ ONLY (kernel.ReadOnly)
	txid     int64  // the transaction's id, when learned as it began
	// deferred statements travel with COMMIT, in its round trip
	deferred []deferred
	// plugin is the transaction of the plugin's SQL, when it ran some
	// (pluginsql.go): it commits after this one, with the deferred
	// statements, so a plugin's changes and their audit record commit
	// together. pluginMu guards it: a plugin may call the host from
	// several goroutines, even after its handler returned (closed).
	pluginMu sync.Mutex
	plugin   *pluginTx
	closed   bool
}

// takePlugin closes the unit of work to plugin SQL and returns the
// plugin's transaction, if any.
func (tx *Tx) takePlugin() *pluginTx {
	tx.pluginMu.Lock()
	defer tx.pluginMu.Unlock()
	tx.closed = true
	return tx.plugin
}

type deferred struct {
	sql  string
	args []any
	fail func(error) error
}

// deferUntilCommit queues a statement whose result nothing waits for (an
// audit record) to be sent with COMMIT in one pipelined batch. If it fails,
// COMMIT does not run, the transaction rolls back, and the unit of work
// returns fail's error.
func (tx *Tx) deferUntilCommit(sql string, args []any, fail func(error) error) {
	tx.deferred = append(tx.deferred, deferred{sql: sql, args: args, fail: fail})
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

// InTenant runs fn in a transaction scoped to t and commits when fn returns
// nil. A panic in fn rolls back and is re-raised.
//
// The transaction begins lazily, with fn's first statement: BEGIN, the two
// SET LOCALs and that statement travel in one pipelined batch, so a unit of
// work costs no round trip more than an unscoped transaction (one fewer when
// its first statement takes arguments).
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
	tx := &Tx{pool: u.pool, tenant: t, prefix: "/* " + t.Schema + " */ ", pending: true, beginSQL: "BEGIN"}
	if kernel.IsReadOnly(ctx) {
		tx.beginSQL = "BEGIN READ ONLY"
	}
	done := false
	var plugin *pluginTx
	defer func() {
		if !done && !tx.pending {
			rollback(tx.conn)
		}
		if p := tx.takePlugin(); p != nil {
			p.end() // rolls back unless committed, and releases
		}
		if tx.conn != nil {
			// A connection released mid-transaction is closed by pgxpool, never reused.
			tx.conn.Release()
		}
	}()

	ctx, unit := kernel.WithUnit(ctx, t)
	defer func() {
		if err != nil && !errors.Is(err, errInDoubt) {
			unit.RolledBack()
		}
	}()
	if err := fn(context.WithValue(ctx, txKey{}, tx)); err != nil {
		// Repositories return their statements' errors as they are. With
		// the connection lost, fn's error is the database's fault, a 503
		// (checked on the connection: an upload's reader fails with the
		// same io errors when its client goes).
		if tx.conn != nil && tx.conn.Conn().IsClosed() {
			return classify(err)
		}
		return err
	}
	// With a plugin's transaction beside this one, the deferred statements
	// go with the plugin's changes, and this one, which then only read,
	// commits first: if it fails, nothing has committed.
	plugin = tx.takePlugin()
	deferred := tx.deferred
	if plugin != nil {
		tx.deferred = nil
	}
	if !tx.pending || len(tx.deferred) > 0 {
		tag, err := tx.commit(ctx)
		if err != nil {
			return err
		}
		done = true
		if tag.String() == "ROLLBACK" {
			// A statement failed and fn carried on regardless.
			return errors.New("unit of work: transaction was aborted by an earlier error and rolled back")
		}
	}
	done = true
	if plugin != nil {
		if err := plugin.commit(ctx, tx.pool, deferred); err != nil {
			return err
		}
	}
	unit.Committed()
	return nil
}

// commit sends the deferred statements and COMMIT in one batch. A failed
// statement stops the batch before COMMIT: the caller rolls back. When the
// batch's answer is lost with the connection, the server is asked whether
// the transaction committed after all (settle).
func (tx *Tx) commit(ctx context.Context) (pgconn.CommandTag, error) {
	id := tx.txid
	if !tx.pending && tx.beginSQL == "BEGIN" && id == 0 { // begun without its first statement
		var err error
		if id, err = txid(ctx, tx.conn.Conn()); err != nil {
			return pgconn.CommandTag{}, unavailable(err)
		}
	}
	committed := pgconn.NewCommandTag("COMMIT")
	if len(tx.deferred) == 0 {
		tag, err := tx.conn.Exec(ctx, "COMMIT")
		if err != nil {
			if ok, unknown := settle(ctx, tx.pool, id, err); ok {
				return committed, nil
			} else if unknown != nil {
				return tag, unknown
			}
			return tag, unavailable(err)
		}
		return tag, nil
	}
	if err := tx.begin(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	b := &pgx.Batch{}
	for _, d := range tx.deferred {
		b.Queue(tx.key(d.sql), d.args...)
	}
	b.Queue("COMMIT")
	br := tx.conn.SendBatch(ctx, b)
	for _, d := range tx.deferred {
		if _, err := br.Exec(); err != nil {
			err = closeBatch(br, err)
			if ok, unknown := settle(ctx, tx.pool, id, err); ok {
				return committed, nil
			} else if unknown != nil { // "nothing was changed" may not hold
				return pgconn.CommandTag{}, unknown
			}
			return pgconn.CommandTag{}, d.fail(classify(err))
		}
	}
	tag, err := br.Exec()
	if err = closeBatch(br, err); err != nil {
		if ok, unknown := settle(ctx, tx.pool, id, err); ok {
			return committed, nil
		} else if unknown != nil {
			return pgconn.CommandTag{}, unknown
		}
		return pgconn.CommandTag{}, unavailable(err)
	}
	return tag, nil
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
	if tx.pending && len(args) > 0 {
		br, err := tx.beginWith(ctx, sql, args)
		if err == nil {
			tag, err := br.Exec()
			return tag, closeBatch(br, err)
		}
		if !tx.pending {
			return pgconn.CommandTag{}, err
		}
	}
	if err := tx.begin(ctx); err != nil {
		return pgconn.CommandTag{}, err
	}
	return tx.conn.Exec(ctx, tx.key(sql), args...)
}

// Query runs a query in the unit of work.
func (tx *Tx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if tx.pending && len(args) > 0 {
		br, err := tx.beginWith(ctx, sql, args)
		if err == nil {
			rows, err := br.Query()
			if err != nil {
				return nil, closeBatch(br, err)
			}
			return &batchRows{Rows: rows, br: br}, nil
		}
		if !tx.pending {
			return nil, err
		}
	}
	if err := tx.begin(ctx); err != nil {
		return nil, err
	}
	return tx.conn.Query(ctx, tx.key(sql), args...)
}

// QueryRow runs a query returning at most one row in the unit of work.
func (tx *Tx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if tx.pending && len(args) > 0 {
		br, err := tx.beginWith(ctx, sql, args)
		if err == nil {
			return batchRow{row: br.QueryRow(), br: br}
		}
		if !tx.pending {
			return errRow{err}
		}
	}
	if err := tx.begin(ctx); err != nil {
		return errRow{err}
	}
	return tx.conn.QueryRow(ctx, tx.key(sql), args...)
}

// begin sends BEGIN and the scope on their own (multi-statement SQL without
// arguments cannot join a pipelined batch).
func (tx *Tx) begin(ctx context.Context) error {
	if !tx.pending {
		return nil
	}
	if err := tx.acquire(ctx); err != nil {
		return err
	}
	if _, err := tx.conn.Exec(ctx, tx.beginSQL+"; "+scopeStatements(tx.tenant)); err != nil {
		return unavailable(err)
	}
	tx.pending = false
	return nil
}

// beginWith sends BEGIN, the scope and the first statement in one batch and
// returns the batch positioned at that statement's result.
//
// pgx prepares a batch's new statements before running any of it, so a
// statement this connection has not prepared for this tenant yet fails to
// prepare outside the scope. Nothing has run then (the connection is still
// idle): tx stays pending and the caller begins eagerly instead, which
// prepares the statement in scope for the next time.
func (tx *Tx) beginWith(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	if err := tx.acquire(ctx); err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	b.Queue(tx.beginSQL)
	// One statement, the same for every tenant: prepared once per
	// connection. A transaction that may write learns its id with it
	// (txid_current()), for settling a commit whose answer is lost
	// (indoubt.go) without a round trip of its own before COMMIT.
	writes := tx.beginSQL == "BEGIN"
	scope := "SELECT set_config('role', $1, true), set_config('search_path', $2, true)"
	if writes {
		scope += ", txid_current()"
	}
	b.Queue(scope, tx.tenant.Role, pgx.Identifier{tx.tenant.Schema}.Sanitize())
	b.Queue(tx.key(sql), args...)
	br := tx.conn.SendBatch(ctx, b)
	tx.pending = false
	_, err := br.Exec()
	switch {
	case err != nil:
	case writes:
		var role, path string
		err = br.QueryRow().Scan(&role, &path, &tx.txid)
	default:
		_, err = br.Exec()
	}
	if err != nil {
		err = closeBatch(br, err)
		if tx.conn.Conn().PgConn().TxStatus() == 'I' {
			tx.pending = true // nothing ran
		}
		return nil, unavailable(err)
	}
	return br, nil
}

// acquire takes the unit of work's connection from the pool, once.
func (tx *Tx) acquire(ctx context.Context) error {
	if tx.conn != nil {
		return nil
	}
	conn, err := tx.pool.Acquire(ctx)
	if err != nil {
		return unavailable(err)
	}
	tx.conn = conn
	return nil
}

func closeBatch(br pgx.BatchResults, err error) error {
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// batchRows closes the batch with the rows, so the connection is free again.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	_ = r.br.Close()
}

type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r batchRow) Scan(dest ...any) error { return closeBatch(r.br, r.row.Scan(dest...)) }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// Tenant is the tenant the unit of work is scoped to.
func (tx *Tx) Tenant() *kernel.Tenant { return tx.tenant }
