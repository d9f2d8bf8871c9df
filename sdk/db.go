package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	"github.com/atriumhq/atrium/internal/listquery"
	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// call ties host service calls to the request they belong to: the host looks
// up the request's unit of work, tenant and principal by its ID.
type call struct {
	id   uint64
	host wire.HostClient
	// deferChecks: the host makes a response's checks (Require); an older
	// host does not, and Require asks at once instead.
	deferChecks bool
	// deferAudit: the host takes the audit detail with the response; an
	// older host does not, and Audit calls it at once instead.
	deferAudit bool

	mu       sync.Mutex
	audit    map[string]any // Audit's detail, sent with the response
	prefetch *wire.Prefetch // the host's guess at the first statement, with its result
	sent     bool           // a statement has been run: the prefetch no longer applies
	used     bool           // the first statement was the prefetch
}

// first answers the request's first statement from the host's prefetch
// when it is the very statement the host ran, arguments and all; any other
// statement, and every statement after the first, goes to the host.
func (c *call) first(st *wire.Statement) *wire.ResultSet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent {
		return nil
	}
	c.sent = true
	if c.prefetch == nil || !proto.Equal(st, c.prefetch.GetStatement()) {
		return nil
	}
	c.used = true
	return c.prefetch.GetResult()
}

// addAudit merges detail into the request's audit detail.
func (c *call) addAudit(detail map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.audit == nil {
		c.audit = make(map[string]any, len(detail))
	}
	maps.Copy(c.audit, detail)
}

// auditDetail is the detail for the response, as JSON; nil when none.
func (c *call) auditDetail() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.audit) == 0 {
		return nil, nil
	}
	raw, err := json.Marshal(c.audit)
	if err != nil {
		return nil, Internal(err, "encode audit detail")
	}
	return raw, nil
}

// usedPrefetch reports whether the first statement was the prefetch.
func (c *call) usedPrefetch() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

func (c *call) client() (wire.HostClient, error) {
	if c.host == nil {
		return nil, &Error{Kind: KindUnavailable, Source: SourceHost, Message: "host services are not connected"}
	}
	return c.host, nil
}

// DB runs SQL in the request's unit of work: one transaction in the tenant's
// schema, as the plugin's own database role in that tenant (which may read
// and write the plugin's tables and nothing else), committed by the core only
// if the request succeeds. Each statement is one SELECT, INSERT, UPDATE or
// DELETE on the plugin's own tables, named after the plugin (notes,
// notes_tags); the core refuses anything else (docs/plugins.md).
// Placeholders are $1, $2, ...
//
// Arguments may be nil, bool, integers, float64, string, []byte, time.Time,
// json.RawMessage, named types of those kinds, pointers to them (a nil
// pointer is NULL), or any driver.Valuer or fmt.Stringer (a UUID).
//
// Results arrive whole, not streamed: keep result sets to a page, and under
// 16 MiB. A uuid or numeric column arrives as a string, json or jsonb as
// bytes, a timestamp as a time.Time in UTC.
type DB struct{ call *call }

// Statement is one statement of a Batch.
type Statement struct {
	SQL  string
	Args []any
}

// Result is the outcome of one statement of a Batch.
type Result struct {
	RowsAffected int64
	Rows         *Rows // the rows it returned; empty for most writes
}

// Query runs a statement that returns rows.
func (db *DB) Query(ctx context.Context, sql string, args ...any) (*Rows, error) {
	st, err := statement(sql, args)
	if err != nil {
		return nil, err
	}
	if rs := db.call.first(st); rs != nil {
		return newRows(rs), nil
	}
	host, err := db.call.client()
	if err != nil {
		return nil, err
	}
	resp, err := host.Query(ctx, &wire.StatementRequest{CallId: db.call.id, Statement: st})
	if err != nil {
		return nil, hostCallError("query", err)
	}
	if resp.Error != nil {
		return nil, errorFromWire(resp.Error)
	}
	return newRows(resp.Result), nil
}

// QueryRow runs a statement expected to return one row. Its Scan reports
// ErrNotFound when there is none.
func (db *DB) QueryRow(ctx context.Context, sql string, args ...any) *Row {
	rows, err := db.Query(ctx, sql, args...)
	return &Row{rows: rows, err: err}
}

// Exec runs a statement and returns the number of rows it affected.
func (db *DB) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	st, err := statement(sql, args)
	if err != nil {
		return 0, err
	}
	db.call.first(nil)
	host, err := db.call.client()
	if err != nil {
		return 0, err
	}
	resp, err := host.Exec(ctx, &wire.StatementRequest{CallId: db.call.id, Statement: st})
	if err != nil {
		return 0, hostCallError("exec", err)
	}
	if resp.Error != nil {
		return 0, errorFromWire(resp.Error)
	}
	return resp.RowsAffected, nil
}

// Batch sends several statements in one round trip; they run in order in the
// request's transaction. It fails as a whole at the first failing statement,
// whose error names its position.
func (db *DB) Batch(ctx context.Context, stmts ...Statement) ([]Result, error) {
	if len(stmts) == 0 {
		return nil, nil
	}
	req := &wire.BatchRequest{CallId: db.call.id, Statements: make([]*wire.Statement, len(stmts))}
	for i, s := range stmts {
		st, err := statement(s.SQL, s.Args)
		if err != nil {
			return nil, fmt.Errorf("batch statement %d: %w", i, err)
		}
		req.Statements[i] = st
	}
	db.call.first(nil)
	host, err := db.call.client()
	if err != nil {
		return nil, err
	}
	resp, err := host.Batch(ctx, req)
	if err != nil {
		return nil, hostCallError("batch", err)
	}
	if resp.Error != nil {
		return nil, errorFromWire(resp.Error)
	}
	if len(resp.Results) != len(stmts) {
		return nil, &Error{Kind: KindInternal, Source: SourceHost,
			Message: fmt.Sprintf("batch of %d statements got %d results", len(stmts), len(resp.Results))}
	}
	out := make([]Result, len(stmts))
	for i, r := range resp.Results {
		out[i] = Result{RowsAffected: r.RowsAffected, Rows: newRows(r)}
	}
	return out, nil
}

func statement(sql string, args []any) (*wire.Statement, error) {
	var filter *wire.ListFilter
	for i, a := range args {
		p, ok := a.(*listquery.PolicyFilter)
		if !ok {
			continue
		}
		if filter != nil {
			return nil, Internal(errors.New("two policy filters in one statement"), "encode SQL arguments")
		}
		filter = listFilter(p)
		args = slices.Clone(args)
		args[i] = false // a host that does not filter lists nothing
	}
	vs, err := wire.Values(args)
	if err != nil {
		return nil, Internal(err, "encode SQL arguments")
	}
	return &wire.Statement{Sql: sql, Args: vs, ListFilter: filter}, nil
}

// placeholderNumber is $n's n on the wire; 0 (no placeholder, refused by
// the host) when out of range.
func placeholderNumber(n int) uint32 {
	if n < 1 || n > math.MaxUint16 {
		return 0
	}
	return uint32(n)
}

// listFilter is a query.SQL clause's policy filter as the host receives it.
func listFilter(p *listquery.PolicyFilter) *wire.ListFilter {
	col := func(c *listquery.PolicyColumn) *wire.PolicyColumn {
		if c == nil {
			return nil
		}
		return &wire.PolicyColumn{Column: c.Column, Type: uint32(c.Type), Nullable: c.Nullable}
	}
	out := &wire.ListFilter{Action: p.Action, ResourceType: p.Type, Param: placeholderNumber(p.Param), LimitParam: placeholderNumber(p.Limit),
		Id: col(p.ID), Owner: col(p.Owner), Attributes: make(map[string]*wire.PolicyColumn, len(p.Attributes))}
	for k, c := range p.Attributes {
		out.Attributes[k] = col(&c)
	}
	return out
}

// Rows is the result of a query, read with Next and Scan:
//
//	for rows.Next() {
//		if err := rows.Scan(&id, &name); err != nil { ... }
//	}
type Rows struct {
	columns []string
	rows    []*wire.Row
	next    int
}

func newRows(rs *wire.ResultSet) *Rows {
	return &Rows{columns: rs.GetColumns(), rows: rs.GetRows()}
}

// Columns returns the column names.
func (r *Rows) Columns() []string { return r.columns }

// Len returns the number of rows.
func (r *Rows) Len() int { return len(r.rows) }

// Next advances to the next row, reporting whether there is one.
func (r *Rows) Next() bool {
	if r.next >= len(r.rows) {
		return false
	}
	r.next++
	return true
}

// Scan copies the current row's columns into dest, one pointer per column.
// Accepted: *string, *int, *int32, *int64, *float64, *bool, *time.Time,
// *[]byte, *json.RawMessage, *any, sql.Scanner, and a pointer to any of
// those pointers (**string, ...) for a column that may be NULL.
func (r *Rows) Scan(dest ...any) error {
	if r.next == 0 {
		return Internal(nil, "scan called before Next")
	}
	values := r.rows[r.next-1].GetValues()
	if len(dest) != len(values) {
		return Internal(nil, "scan: %d destinations for %d columns", len(dest), len(values))
	}
	for i, d := range dest {
		if err := scanValue(d, values[i]); err != nil {
			return Internal(err, "scan column %d (%s)", i, r.column(i))
		}
	}
	return nil
}

func (r *Rows) column(i int) string {
	if i < len(r.columns) {
		return r.columns[i]
	}
	return "?"
}

// Row is the result of QueryRow.
type Row struct {
	rows *Rows
	err  error
}

// Scan copies the first row into dest (see Rows.Scan), or reports the
// query's error, or ErrNotFound when the query returned no row.
func (r *Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	if !r.rows.Next() {
		return &Error{Kind: KindNotFound, Source: SourceHost, Message: "no rows"}
	}
	return r.rows.Scan(dest...)
}
