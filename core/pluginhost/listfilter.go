package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v6"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/internal/listquery"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// Lists filters a request's lists by the tenant's policy (access.Lists,
// bound to the request).
type Lists interface {
	// Filter is the condition a list's rows must meet, its placeholders
	// numbered from argOffset+1.
	Filter(ctx context.Context, action, resourceType string, cols access.ListColumns, argOffset int) (access.Filter, error)
	// Allows decides one row when the condition fell back.
	Allows(ctx context.Context, action string, res access.Resource) (bool, error)
}

// maxFallbackRows bounds the rows one page of a list may fetch and decide
// one by one when its policy condition has no complete SQL form; a page
// that needs more fails (503) rather than run on.
const maxFallbackRows = 10_000

var _ transport.ListQuerier = (*request)(nil)

// ListQuery runs a plugin's list statement (sdk/query.WithResource) with
// the tenant's policy applied: the policy's condition, as parameterised
// SQL, takes the place of the statement's policy placeholder; when part of
// it has no SQL form, each row the SQL returns is decided, and the LIMIT
// raised until the page is full or the rows run out.
func (r *request) ListQuery(ctx context.Context, sql string, args []any, f *listquery.PolicyFilter) (*transport.ResultSet, error) {
	return traced(ctx, r, "plugin host sql list", func(ctx context.Context) (*transport.ResultSet, error) {
		if err := CheckSQL(r.plugin, sql); err != nil {
			return nil, err
		}
		rs, err := r.listQuery(ctx, sql, args, f)
		return rs, ToSDK(err)
	})
}

func (r *request) listQuery(ctx context.Context, sql string, args []any, f *listquery.PolicyFilter) (*transport.ResultSet, error) {
	if r.lists == nil {
		return nil, errors.New("list filter: no policy filter for this request")
	}
	at, limit, err := placeholder(sql, args, f)
	if err != nil {
		return nil, sdk.Internal(err, "policy-filtered list")
	}
	filter, err := r.lists.Filter(ctx, f.Action, f.Type, listColumns(f), len(args))
	if err != nil {
		return nil, err
	}
	ph := "$" + strconv.Itoa(f.Param)
	sql = sql[:at] + "(" + ph + " AND (" + filter.SQL + "))" + sql[at+len(ph):]
	args = append(append([]any{}, args...), filter.Params...)
	args[f.Param-1] = true
	if !filter.Fallback {
		return r.s.SQL.Query(ctx, r.plugin, sql, args)
	}
	return r.decideRows(ctx, sql, args, f, limit)
}

// decideRows runs the list, keeping the rows the policy allows, until limit
// are kept or the rows run out; each round fetches four times as many.
func (r *request) decideRows(ctx context.Context, sql string, args []any, f *listquery.PolicyFilter, limit int64) (*transport.ResultSet, error) {
	var allowed []bool // of the rows decided so far, in order
	for fetch := limit; ; fetch *= 4 {
		fetch = min(fetch, maxFallbackRows)
		args[f.Limit-1] = fetch
		rs, err := r.s.SQL.Query(ctx, r.plugin, sql, args)
		if err != nil {
			return nil, err
		}
		idx, err := columnIndex(rs.Columns, f)
		if err != nil {
			return nil, sdk.Internal(err, "policy-filtered list")
		}
		kept := rs.Rows[:0:0]
		for i, row := range rs.Rows {
			if i == len(allowed) {
				ok, err := r.lists.Allows(ctx, f.Action, rowResource(f, idx, row))
				if err != nil {
					return nil, err
				}
				allowed = append(allowed, ok)
			}
			if allowed[i] {
				kept = append(kept, row)
				if int64(len(kept)) == limit {
					break
				}
			}
		}
		if int64(len(kept)) == limit || int64(len(rs.Rows)) < fetch {
			rs.Rows = kept
			return rs, nil
		}
		if fetch >= maxFallbackRows {
			return nil, sdk.Unavailable("the list's policy filter decided %d rows without filling a page; narrow the list or make the policy filterable (docs/policies.md)", maxFallbackRows)
		}
	}
}

// placeholder finds the policy placeholder, which must be one of the
// top-level conjuncts of the statement's WHERE and appear nowhere else,
// and the LIMIT's value. It returns the placeholder's byte offset.
func placeholder(sql string, args []any, f *listquery.PolicyFilter) (int, int64, error) {
	n := len(args)
	if f.Param < 1 || f.Param > n || f.Limit < 1 || f.Limit > n || f.Param == f.Limit {
		return 0, 0, fmt.Errorf("placeholders $%d and $%d of %d arguments", f.Param, f.Limit, n)
	}
	if v, ok := args[f.Param-1].(bool); !ok || v {
		return 0, 0, fmt.Errorf("$%d is %v, not the policy placeholder", f.Param, args[f.Param-1])
	}
	limit, ok := args[f.Limit-1].(int64)
	if !ok || limit < 1 || limit > listquery.MaxLimit+1 {
		return 0, 0, fmt.Errorf("$%d is %v, not a page's LIMIT", f.Limit, args[f.Limit-1])
	}
	tree, err := pg_query.Parse(sql)
	if err != nil || len(tree.GetStmts()) != 1 {
		return 0, 0, errors.New("not one statement")
	}
	sel := tree.GetStmts()[0].GetStmt().GetSelectStmt()
	if sel == nil {
		return 0, 0, errors.New("not a SELECT")
	}
	if p := sel.GetLimitCount().GetParamRef(); p == nil || int(p.GetNumber()) != f.Limit {
		return 0, 0, fmt.Errorf("the LIMIT is not $%d", f.Limit)
	}
	where := sel.GetWhereClause()
	conjuncts := []*pg_query.Node{where}
	if b := where.GetBoolExpr(); b != nil && b.GetBoolop() == pg_query.BoolExprType_AND_EXPR {
		conjuncts = b.GetArgs()
	}
	at := -1
	for _, c := range conjuncts {
		if p := c.GetParamRef(); p != nil && int(p.GetNumber()) == f.Param {
			at = int(p.GetLocation())
		}
	}
	if at < 0 {
		return 0, 0, fmt.Errorf("$%d is not a conjunct of the WHERE", f.Param)
	}
	tokens, err := pg_query.Scan(sql)
	if err != nil {
		return 0, 0, err
	}
	ph, uses := "$"+strconv.Itoa(f.Param), 0
	for _, t := range tokens.GetTokens() {
		if t.GetToken() == pg_query.Token_PARAM && sql[t.GetStart():t.GetEnd()] == ph {
			uses++
		}
	}
	if uses != 1 || !strings.HasPrefix(sql[at:], ph) {
		return 0, 0, fmt.Errorf("%s is used %d times", ph, uses)
	}
	return at, limit, nil
}

func listColumns(f *listquery.PolicyFilter) access.ListColumns {
	col := func(c *listquery.PolicyColumn) *access.Column {
		if c == nil {
			return nil
		}
		return &access.Column{Name: c.Column, Type: c.Type, Nullable: c.Nullable}
	}
	cols := access.ListColumns{ID: col(f.ID), Owner: col(f.Owner), Attributes: make(map[string]access.Column, len(f.Attributes))}
	for k, c := range f.Attributes {
		cols.Attributes[k] = *col(&c)
	}
	return cols
}

// rowColumns are the result's indexes of the resource's columns.
type rowColumns struct {
	id, owner int // -1: none
	attrs     map[string]int
}

// columnIndex finds each mapped column in the result by its plain name.
func columnIndex(columns []string, f *listquery.PolicyFilter) (rowColumns, error) {
	find := func(c *listquery.PolicyColumn) (int, error) {
		if c == nil {
			return -1, nil
		}
		name := c.Column[strings.LastIndexByte(c.Column, '.')+1:]
		for i, have := range columns {
			if have == name {
				return i, nil
			}
		}
		return 0, fmt.Errorf("column %q, which the policy reads, is not selected", name)
	}
	var idx rowColumns
	var err error
	if idx.id, err = find(f.ID); err != nil {
		return idx, err
	}
	if idx.owner, err = find(f.Owner); err != nil {
		return idx, err
	}
	idx.attrs = make(map[string]int, len(f.Attributes))
	for k, c := range f.Attributes {
		if idx.attrs[k], err = find(&c); err != nil {
			return idx, err
		}
	}
	return idx, nil
}

// rowResource is a row as a resource-level decision sees it: a NULL
// attribute absent, a NULL id or owner "".
func rowResource(f *listquery.PolicyFilter, idx rowColumns, row []any) access.Resource {
	res := access.Resource{Type: f.Type, Attributes: make(map[string]any, len(idx.attrs))}
	if idx.id >= 0 {
		res.ID, _ = attrValue(f.ID.Type, row[idx.id]).(string)
	}
	if idx.owner >= 0 {
		res.OwnerID, _ = attrValue(f.Owner.Type, row[idx.owner]).(string)
	}
	for k, i := range idx.attrs {
		if v := attrValue(f.Attributes[k].Type, row[i]); v != nil {
			res.Attributes[k] = v
		}
	}
	return res
}

// attrValue is a column's value as the resource's attribute.
func attrValue(t listquery.Type, v any) any {
	switch v := v.(type) {
	case nil:
		return nil
	case time.Time:
		if t == listquery.Date {
			return v.Format(time.DateOnly)
		}
		return v.UTC().Format(time.RFC3339Nano)
	case [16]byte:
		return fmt.Sprintf("%x-%x-%x-%x-%x", v[0:4], v[4:6], v[6:8], v[8:10], v[10:16])
	case string, bool, int64:
		return v
	case int32:
		return int64(v)
	case int16:
		return int64(v)
	}
	return fmt.Sprint(v)
}
