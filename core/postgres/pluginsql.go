package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

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
	rows, err := ptx.query(ctx, sql, args)
	if err != nil {
		return nil, pluginError(err)
	}
	rs, err := collect(rows)
	return rs, pluginError(err)
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
	b := &pgx.Batch{}
	if ptx.pending {
		b.Queue(ptx.beginSQL)
	}
	for _, st := range stmts {
		b.Queue(st.SQL, st.Args...)
	}
	br := ptx.conn.SendBatch(ctx, b)
	if ptx.pending {
		if _, err := br.Exec(); err != nil {
			return nil, pluginError(ptx.failedBegin(br, err))
		}
		ptx.pending = false
	}
	out := make([]*transport.ResultSet, len(stmts))
	for i := range stmts {
		rows, err := br.Query()
		if err != nil {
			return nil, pluginError(closeBatch(br, err))
		}
		if out[i], err = collect(rows); err != nil {
			return nil, pluginError(closeBatch(br, err))
		}
	}
	return out, pluginError(br.Close())
}

// tx is the plugin's transaction in the request's unit of work, begun on
// its first statement.
func (s PluginSQL) tx(ctx context.Context, plugin string) (*pluginTx, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	if tx.plugin != nil {
		if tx.plugin.name != plugin {
			return nil, fmt.Errorf("plugin %s's SQL in plugin %s's unit of work", plugin, tx.plugin.name)
		}
		return tx.plugin, nil
	}
	if s.Conns == nil {
		return nil, errors.New("no connections for plugins' SQL")
	}
	conn, err := s.Conns.Acquire(ctx, tx.tenant, plugin)
	if err != nil {
		return nil, err
	}
	beginSQL := "BEGIN"
	if tx.beginSQL != "BEGIN" {
		beginSQL = tx.beginSQL // the route only reads
	}
	tx.plugin = &pluginTx{name: plugin, conn: conn, pending: true, beginSQL: beginSQL}
	return tx.plugin, nil
}

// pluginTx is a plugin's transaction on a connection of its runtime role.
type pluginTx struct {
	name     string
	conn     *pgxpool.Conn
	pending  bool // BEGIN not sent yet
	beginSQL string
	ended    bool
}

// query runs sql, beginning the transaction with it in one round trip. It
// always uses the extended protocol, even without arguments (pgx's Exec
// would then send the simple one): PostgreSQL itself refuses more than one
// statement in it.
func (p *pluginTx) query(ctx context.Context, sql string, args []any) (pgx.Rows, error) {
	if !p.pending {
		return p.conn.Query(ctx, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(p.beginSQL)
	b.Queue(sql, args...)
	br := p.conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		return nil, p.failedBegin(br, err)
	}
	p.pending = false
	rows, err := br.Query()
	if err != nil {
		return nil, closeBatch(br, err)
	}
	return &batchRows{Rows: rows, br: br}, nil
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

// sessionReset returns a plugin connection to how it was logged in, after
// the transaction ends, whatever its statements did to the session:
// settings (the role among them), cursors held open, advisory locks,
// notifications listened to, temporary tables, sequence values. The
// statements travel in the same round trip as COMMIT or ROLLBACK.
var sessionReset = []string{"CLOSE ALL", "RESET ALL", "SELECT pg_advisory_unlock_all()", "UNLISTEN *",
	"DISCARD TEMP", "DISCARD SEQUENCES"}

// commit sends the deferred statements (the audit record), COMMIT and the
// session reset in one batch; a failed statement stops it before COMMIT,
// and end rolls back.
func (p *pluginTx) commit(ctx context.Context, deferred []deferred) error {
	b := &pgx.Batch{}
	if p.pending {
		if len(deferred) == 0 {
			return nil // nothing ran
		}
		b.Queue(p.beginSQL)
	}
	for _, d := range deferred {
		b.Queue(d.sql, d.args...)
	}
	b.Queue("COMMIT")
	for _, st := range sessionReset {
		b.Queue(st)
	}
	br := p.conn.SendBatch(ctx, b)
	if p.pending {
		if _, err := br.Exec(); err != nil {
			return unavailable(closeBatch(br, err))
		}
		p.pending = false
	}
	for _, d := range deferred {
		if _, err := br.Exec(); err != nil {
			return d.fail(closeBatch(br, err))
		}
	}
	tag, err := br.Exec()
	if err != nil {
		return unavailable(closeBatch(br, err))
	}
	p.ended = true
	if err := br.Close(); err != nil {
		// Committed, but the session could not be cleaned: never reuse it.
		_ = p.conn.Conn().Close(ctx)
	}
	if tag.String() == "ROLLBACK" {
		return errors.New("unit of work: the plugin's transaction was aborted by an earlier error and rolled back")
	}
	return nil
}

// end rolls the transaction back unless it committed, cleans the session,
// and releases the connection; a connection that cannot be cleaned is
// closed instead.
func (p *pluginTx) end() {
	defer p.conn.Release()
	if p.ended || p.pending {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue("ROLLBACK")
	for _, st := range sessionReset {
		b.Queue(st)
	}
	if err := p.conn.SendBatch(ctx, b).Close(); err != nil {
		_ = p.conn.Conn().Close(ctx)
	}
}

func collect(rows pgx.Rows) (*transport.ResultSet, error) {
	defer rows.Close()
	fields := rows.FieldDescriptions()
	rs := &transport.ResultSet{Columns: make([]string, len(fields))}
	for i, f := range fields {
		rs.Columns[i] = f.Name
	}
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = wireValue(v)
		}
		rs.Rows = append(rs.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rs.RowsAffected = rows.CommandTag().RowsAffected()
	return rs, nil
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
	case pe.Code == "25006": // read_only_sql_transaction
		return sdk.Errorf(sdk.KindInternal, "%s: the route is not declared Mutates, so its transaction only reads", pe.Message)
	}
	// The plugin's author needs PostgreSQL's words (a syntax error, an
	// unknown column, a permission its role lacks); the API client never
	// sees an internal error's text.
	return sdk.Errorf(sdk.KindInternal, "%s (SQLSTATE %s)", pe.Message, pe.Code)
}
