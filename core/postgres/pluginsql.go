package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// PluginSQL runs plugins' statements in the request's unit of work: as the
// tenant's role, on the tenant's schema, with the tenant's statement cache.
// The host checks each statement (pluginhost.CheckSQL) before it gets here.
type PluginSQL struct{}

var _ pluginhost.SQL = PluginSQL{}

// Query runs a statement and returns all its rows.
func (PluginSQL) Query(ctx context.Context, sql string, args []any) (*transport.ResultSet, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, pluginError(err)
	}
	rs, err := collect(rows)
	return rs, pluginError(err)
}

// Exec runs a statement and returns the rows it affected.
func (PluginSQL) Exec(ctx context.Context, sql string, args []any) (int64, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return 0, pluginError(err)
	}
	return tag.RowsAffected(), nil
}

// Batch runs the statements in one pipelined round trip; the first failure
// stops it (the unit of work then rolls back).
func (PluginSQL) Batch(ctx context.Context, stmts []transport.Statement) ([]*transport.ResultSet, error) {
	tx, err := TxFrom(ctx)
	if err != nil {
		return nil, err
	}
	if err := tx.begin(ctx); err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(tx.key(st.SQL), st.Args...)
	}
	br := tx.conn.SendBatch(ctx, b)
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
	case pe.Code == "42501":
		return sdk.Errorf(sdk.KindForbidden, "%s", pe.Message)
	case pe.Code == "25006": // read_only_sql_transaction
		return sdk.Errorf(sdk.KindInternal, "%s: the route is not declared Mutates, so its transaction only reads", pe.Message)
	}
	// The plugin's author needs PostgreSQL's words (a syntax error, an
	// unknown column); the API client never sees an internal error's text.
	return sdk.Errorf(sdk.KindInternal, "%s (SQLSTATE %s)", pe.Message, pe.Code)
}
