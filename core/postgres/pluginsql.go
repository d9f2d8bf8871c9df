package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// PluginSQL runs a plugin's statements for the request's unit of work, in a
// transaction of the plugin's own: on a connection of the plugin's runtime
// role in the request's tenant (PluginConns), beside the unit of work's
// transaction and committed with it. The host checks each statement
// (pluginhost.CheckSQL) before it gets here; PostgreSQL's privileges are
// what keep the plugin to its own tables.
type PluginSQL struct{ Conns *PluginConns }

var _ pluginhost.SQL = PluginSQL{}

// Query runs a statement and returns all its rows.
func (s PluginSQL) Query(ctx context.Context, plugin, sql string, args []any) (*transport.ResultSet, error) {
	ptx, err := s.tx(ctx, plugin)
	if err != nil {
		return nil, err
	}
	defer ptx.mu.Unlock()
	rows, err := ptx.query(ctx, sql, args)
	if err != nil {
		ptx.failed(err)
		return nil, pluginError(err)
	}
	rs, tag, err := collect(rows)
	if err != nil {
		ptx.failed(err)
		return nil, pluginError(err)
	}
	ptx.ran(tag)
	return rs, nil
}

// Exec runs a statement and returns the rows it affected.
func (s PluginSQL) Exec(ctx context.Context, plugin, sql string, args []any) (int64, error) {
	rs, err := s.Query(ctx, plugin, sql, args)
	if err != nil {
		return 0, err
	}
	return rs.RowsAffected, nil
}

// Batch runs the statements in one pipelined round trip; the first failure
// stops it (the unit of work then rolls back).
func (s PluginSQL) Batch(ctx context.Context, plugin string, stmts []transport.Statement) ([]*transport.ResultSet, error) {
	ptx, err := s.tx(ctx, plugin)
	if err != nil {
		return nil, err
	}
	defer ptx.mu.Unlock()
	if err := ptx.beginScoped(ctx); err != nil {
		return nil, pluginError(err)
	}
	b := &pgx.Batch{}
	begins := ptx.pending
	if begins {
		ptx.queueBegin(b)
	}
	for _, st := range stmts {
		b.Queue(st.SQL, st.Args...)
	}
	br := ptx.conn.SendBatch(ctx, b)
	if begins {
		if err := ptx.begun(br); err != nil {
			return nil, pluginError(err)
		}
	}
	out := make([]*transport.ResultSet, len(stmts))
	for i := range stmts {
		rows, err := br.Query()
		if err != nil {
			ptx.failed(err)
			return nil, pluginError(closeBatch(br, err))
		}
		var tag pgconn.CommandTag
		if out[i], tag, err = collect(rows); err != nil {
			ptx.failed(err)
			return nil, pluginError(closeBatch(br, err))
		}
		ptx.ran(tag)
	}
	return out, pluginError(br.Close())
}

// Rollback undoes the plugin's transaction so far: the next statement
// begins a new one, as if none had run. A connection it cannot roll back
// is not reused, and the unit of work fails.
func (s PluginSQL) Rollback(ctx context.Context, plugin string) error {
	ptx, err := s.tx(ctx, plugin)
	if err != nil {
		return err
	}
	defer ptx.mu.Unlock()
	if ptx.pending {
		return nil
	}
	if _, err := ptx.conn.Exec(ctx, "ROLLBACK"); err != nil {
		ptx.dirty = true
		return unavailable(err)
	}
	ptx.pending, ptx.txid = true, 0
	return nil
}

// tx is the plugin's transaction in the request's unit of work, begun on
// its first statement, and locked: a plugin may call the host from several
// goroutines, but a connection runs one statement at a time. The caller
// unlocks it.
func (s PluginSQL) tx(ctx context.Context, plugin string) (*pluginTx, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	tx.pluginMu.Lock()
	defer tx.pluginMu.Unlock()
	if tx.closed {
		return nil, sdk.Errorf(sdk.KindInternal, "the request's unit of work is over: SQL after the handler returned")
	}
	if tx.plugin == nil {
		if s.Conns == nil {
			return nil, errors.New("no connections for plugins' SQL")
		}
		conn, scope, done, err := s.Conns.Acquire(ctx, tx.tenant, plugin)
		if err != nil {
			return nil, err
		}
		beginSQL := "BEGIN"
		if tx.beginSQL != "BEGIN" {
			beginSQL = tx.beginSQL // the route only reads
		}
		tx.plugin = &pluginTx{name: plugin, conn: conn, pending: true, beginSQL: beginSQL, scope: scope, done: done}
	}
	p := tx.plugin
	if p.name != plugin {
		return nil, fmt.Errorf("plugin %s's SQL in plugin %s's unit of work", plugin, p.name)
	}
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		return nil, sdk.Errorf(sdk.KindInternal, "the request's unit of work is over: SQL after the handler returned")
	}
	return p, nil
}

// pluginTx is a plugin's transaction on a connection of its runtime role.
type pluginTx struct {
	name     string
	conn     *pgxpool.Conn
	beginSQL string
	// scope, behind a transaction pooler, sets what the connection could
	// not start with (the tenant's search path, the timeouts) for the
	// transaction: BEGIN and it go first, on their own (beginScoped).
	scope string
	done  func() // gives the connection's place in its pool's share back

	mu      sync.Mutex // one statement at a time; commit and end wait for it
	pending bool       // BEGIN not sent yet
	txid    int64      // the transaction's id when learned as it began, else 0
	ended   bool       // committed or rolled back: no more statements
	dirty   bool       // a statement ran that was not a query: the connection is closed at the end
}

// ran notes what a statement was, by the command tag PostgreSQL itself
// reports (whatever the guard believed): anything but a query or a change
// of rows (DECLARE, LISTEN, PREPARE, SET, DDL: all refused by the guard,
// so a way past it) may leave session state the end's reset does not
// cover, and the connection is not reused.
func (p *pluginTx) ran(tag pgconn.CommandTag) {
	if !tag.Select() && !tag.Insert() && !tag.Update() && !tag.Delete() && !strings.HasPrefix(tag.String(), "MERGE ") {
		p.dirty = true
	}
}

// failed notes a statement that did not complete: unless PostgreSQL
// refused it, it may have run without its command tag reaching the host.
func (p *pluginTx) failed(err error) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		p.dirty = true
	}
}

// query runs sql, beginning the transaction with it in one round trip. It
// always uses the extended protocol, even without arguments (pgx's Exec
// would then send the simple one): PostgreSQL itself refuses more than one
// statement in it.
func (p *pluginTx) query(ctx context.Context, sql string, args []any) (pgx.Rows, error) {
	if err := p.beginScoped(ctx); err != nil {
		return nil, err
	}
	if !p.pending {
		return p.conn.Query(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	p.queueBegin(b)
	b.Queue(sql, args...)
	br := p.conn.SendBatch(ctx, b)
	if err := p.begun(br); err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		return nil, closeBatch(br, err)
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// queueBegin queues BEGIN and, for a transaction that may write, its id
// (txid_current(): a commit whose answer is lost is settled by it,
// indoubt.go), learned with the first statement instead of in a round
// trip of its own before COMMIT.
func (p *pluginTx) queueBegin(b *pgx.Batch) {
	b.Queue(p.beginSQL)
	if p.beginSQL == "BEGIN" {
		b.Queue("SELECT txid_current()")
	}
}

// begun reads what queueBegin queued.
func (p *pluginTx) begun(br pgx.BatchResults) error {
	if _, err := br.Exec(); err != nil {
		return p.failedBegin(br, err)
	}
	p.pending = false
	if p.beginSQL == "BEGIN" {
		if err := br.QueryRow().Scan(&p.txid); err != nil {
			return closeBatch(br, err)
		}
	}
	return nil
}

// beginScoped, behind a transaction pooler, begins the transaction and
// gives it the plugin connection's settings in one simple-protocol round
// trip of their own: the driver describes a statement before it runs it,
// and a plugin's statement names its tables as the tenant's search path
// finds them. (Directly connected, the session has them from its start,
// and BEGIN travels with the first statement.)
func (p *pluginTx) beginScoped(ctx context.Context) error {
	if !p.pending || p.scope == "" {
		return nil
	}
	if _, err := p.conn.Exec(ctx, p.beginSQL+"; "+p.scope); err != nil {
		if p.conn.Conn().PgConn().TxStatus() != 'I' {
			p.pending = false // end() rolls it back
		}
		p.dirty = true // whatever happened, the connection is not reused
		return err
	}
	p.pending = false
	return nil
}

// failedBegin closes a batch whose BEGIN did not run: pgx prepares a
// batch's statements before sending it, and a statement that does not
// parse fails there, with the connection still idle.
func (p *pluginTx) failedBegin(br pgx.BatchResults, err error) error {
	err = closeBatch(br, err)
	if p.conn.Conn().PgConn().TxStatus() != 'I' {
		p.pending = false // BEGIN ran after all: end() rolls it back
	}
	return err
}

// endSession returns a plugin connection to how it was logged in, after its
// transaction ends (core migrations 000008 and 000009): its settings (the
// role among them) are reset and its advisory locks released, and it fails
// when the session holds a temporary schema (no plugin may create one): such
// a connection is closed, never used again, as is one that ran a statement
// other than a query or a change of rows (ran): the way to a cursor held
// open, a channel listened to, or a statement prepared under a name the
// driver uses for one of its own. (What nextval last returned stays: every
// insert into a serial column sets it, and it is the plugin's own.) A
// function, not statements as text: the server keeps its plans.
const endSession = "SELECT atrium_session.end_plugin_session()"

// commit sends BEGIN if it is still pending, the deferred statements (the
// audit record), the session's end and COMMIT in one pipelined round trip,
// each a statement the driver prepared once for the connection. The end
// runs inside the transaction, which saves the server a transaction of its
// own per request: what it resets is reset when COMMIT makes it so, and
// undone with the rest when the transaction rolls back, leaving the
// session as it began. A failed deferred statement or end stops the batch
// before COMMIT, and end rolls back.
//
// On a dirty connection the plugin may have prepared a statement under the
// name of one of these, so they go in one simple-protocol message, which
// names none, and the connection is closed after.
//
// When the answer is lost with the connection, pool (the core's) asks the
// server whether the transaction committed after all (settle).
func (p *pluginTx) commit(ctx context.Context, pool *pgxpool.Pool, deferred []deferred) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending && len(deferred) == 0 {
		return nil // nothing ran
	}
	if p.conn.Conn().PgConn().TxStatus() == 'E' {
		// A statement failed and the plugin carried on regardless.
		return errors.New("unit of work: the plugin's transaction was aborted by an earlier error and rolled back")
	}
	id := p.txid
	if !p.pending && p.beginSQL == "BEGIN" && id == 0 { // begun behind a pooler
		var err error
		if id, err = txid(ctx, p.conn.Conn()); err != nil {
			p.dirty = true // the connection is not reused
			return unavailable(err)
		}
	}
	var err error
	if p.dirty {
		err = p.commitSimple(ctx, deferred)
	} else {
		if err = p.beginScoped(ctx); err == nil {
			err = p.commitBatch(ctx, deferred)
		}
	}
	p.pending = false
	var failed *deferredError
	var ended *sessionEndError
	var committed bool
	var unknown error
	if err != nil {
		committed, unknown = settle(ctx, pool, id, err)
	}
	switch {
	case committed: // its answer was lost with the connection
		p.ended = true
		_ = p.conn.Conn().Close(ctx)
		return nil
	case unknown != nil: // "nothing was changed" may not hold
		return unknown
	case err == nil:
		p.ended = true
		if p.dirty {
			_ = p.conn.Conn().Close(ctx)
		}
		return nil
	case errors.As(err, &ended) && !isFault(ended.err):
		// The session holds what no plugin may leave behind (a temporary
		// schema): nothing committed, and the connection is not reused.
		p.ended = true
		_ = p.conn.Conn().Close(ctx)
		return ended
	case errors.As(err, &failed):
		return failed.d.fail(classify(failed.err))
	}
	var pe *pgconn.PgError
	if isFault(err) {
		return unavailable(err)
	}
	if errors.As(err, &pe) { // COMMIT refused, say by a deferred constraint
		return pluginError(err)
	}
	return unavailable(err)
}

// deferredError is a deferred statement's failure.
type deferredError struct {
	d   deferred
	err error
}

func (e *deferredError) Error() string { return e.err.Error() }

func (e *deferredError) Unwrap() error { return e.err }

// sessionEndError is the session's end failing, before COMMIT.
type sessionEndError struct{ err error }

func (e *sessionEndError) Error() string {
	return "unit of work rolled back: the plugin's session could not be ended: " + e.err.Error()
}

func (e *sessionEndError) Unwrap() error { return e.err }

func (p *pluginTx) commitBatch(ctx context.Context, deferred []deferred) error {
	b := &pgx.Batch{}
	if p.pending {
		b.Queue(p.beginSQL)
	}
	for _, d := range deferred {
		b.Queue(d.sql, d.args...)
	}
	b.Queue(endSession)
	b.Queue("COMMIT")
	br := p.conn.SendBatch(ctx, b)
	if p.pending {
		if _, err := br.Exec(); err != nil {
			return closeBatch(br, err)
		}
	}
	for _, d := range deferred {
		if _, err := br.Exec(); err != nil {
			return &deferredError{d: d, err: closeBatch(br, err)}
		}
	}
	if _, err := br.Exec(); err != nil {
		return &sessionEndError{closeBatch(br, err)}
	}
	_, err := br.Exec() // COMMIT
	return closeBatch(br, err)
}

func (p *pluginTx) commitSimple(ctx context.Context, deferred []deferred) error {
	var sql strings.Builder
	args := []any{pgx.QueryExecModeSimpleProtocol}
	if p.pending {
		sql.WriteString(p.beginSQL + "; ")
		if p.scope != "" {
			sql.WriteString(p.scope + "; ")
		}
	}
	for _, d := range deferred {
		sql.WriteString(renumber(d.sql, len(args)-1) + "; ")
		args = append(args, d.args...)
	}
	if p.scope != "" {
		// Behind a transaction pooler, closing this connection after does
		// not end the server's session: another client of the plugin's
		// role gets it next. So the session is ended here as on a clean
		// connection, and what a reset cannot undo but a plugin may have
		// left (prepared statements, cursors, channels) goes too.
		sql.WriteString("DEALLOCATE ALL; CLOSE ALL; UNLISTEN *; " + endSession + "; ")
	}
	sql.WriteString("COMMIT")
	_, err := p.conn.Exec(ctx, sql.String(), args...)
	if pe := (*pgconn.PgError)(nil); p.scope != "" && errors.As(err, &pe) && strings.Contains(pe.Where, "end_plugin_session") {
		return &sessionEndError{err}
	}
	if err != nil && len(deferred) > 0 && p.conn.Conn().PgConn().TxStatus() != 'I' {
		return &deferredError{d: deferred[0], err: err} // stopped before COMMIT
	}
	return err
}

// renumber shifts sql's $n placeholders by offset, for statements joined in
// one simple-protocol query.
func renumber(sql string, offset int) string {
	if offset == 0 {
		return sql
	}
	return placeholder.ReplaceAllStringFunc(sql, func(m string) string {
		n, _ := strconv.Atoi(m[1:])
		return "$" + strconv.Itoa(n+offset)
	})
}

var placeholder = regexp.MustCompile(`\$[0-9]+`)

// end rolls the transaction back unless it committed, ends the session's
// state, and releases the connection; no statement runs on it afterwards.
// A connection that cannot be cleaned is closed instead.
func (p *pluginTx) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.done()
	defer p.conn.Release()
	wasEnded := p.ended
	p.ended = true
	if wasEnded || p.pending {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	if p.dirty { // closing rolls back
		_ = p.conn.Conn().Close(ctx)
		return
	}
	if _, err := p.conn.Exec(ctx, "ROLLBACK; "+endSession, pgx.QueryExecModeSimpleProtocol); err != nil {
		_ = p.conn.Conn().Close(ctx)
	}
}

// collect reads rows to the end, and returns the statement's command tag.
func collect(rows pgx.Rows) (*transport.ResultSet, pgconn.CommandTag, error) {
	defer rows.Close()
	fields := rows.FieldDescriptions()
	rs := &transport.ResultSet{Columns: make([]string, len(fields))}
	for i, f := range fields {
		rs.Columns[i] = f.Name
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, pgconn.CommandTag{}, err
		}
		for i, v := range vals {
			vals[i] = wireValue(v)
		}
		rs.Rows = append(rs.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, pgconn.CommandTag{}, err
	}
	tag := rows.CommandTag()
	rs.RowsAffected = tag.RowsAffected()
	return rs, tag, nil
}

// wireValue reduces what pgx decodes to what crosses to the plugin: json,
// jsonb and arrays (maps and slices) as JSON bytes; UUIDs, numbers, times
// and anything with a driver.Valuer the transport reduces itself.
func wireValue(v any) any {
	switch v.(type) {
	case nil, []byte, string:
		return v
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Map, reflect.Slice:
		b, err := json.Marshal(v)
		if err != nil {
			return nil
		}
		return b
	}
	return v
}

// pluginError turns PostgreSQL's refusals into errors the plugin can act on.
func pluginError(err error) error {
	if err == nil {
		return nil
	}
	if f := pluginFault(err); f != nil {
		return f
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case pe.Code == codeUniqueViolation:
		return sdk.Errorf(sdk.KindConflict, "a row with this value exists (%s)", pe.ConstraintName)
	case pe.Code == "23503":
		return sdk.Errorf(sdk.KindConflict, "a referenced row is missing or a referencing row exists (%s)", pe.ConstraintName)
	case pe.Code == "23502", pe.Code == "23514", pe.Code[:2] == "22":
		return sdk.Errorf(sdk.KindInvalid, "%s", pe.Message)
	case pe.Code == codeQueryCanceled:
		return sdk.Errorf(sdk.KindTimeout, "the statement did not finish before the request's deadline")
	case pe.Code == "25006": // read_only_sql_transaction
		return sdk.Errorf(sdk.KindInternal, "%s: the route is not declared Mutates, so its transaction only reads", pe.Message)
	}
	// The plugin's author needs PostgreSQL's words (a syntax error, an
	// unknown column, a permission its role lacks); the API client never
	// sees an internal error's text.
	return sdk.Errorf(sdk.KindInternal, "%s (SQLSTATE %s)", pe.Message, pe.Code)
}
