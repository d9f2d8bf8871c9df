package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/atriumhq/atrium/internal/listquery"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/internal/bridge"
	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// hostServer serves the plugin's host service calls, one server per plugin
// connection, dispatching each call to the Services of its request.
type hostServer struct {
	wire.UnimplementedHostServer
	conn *Conn
}

// newGRPCServer builds the gRPC server of the host service; go-plugin's
// broker passes the TLS options of the connection.
func (c *Conn) newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	s := grpc.NewServer(append(opts, wire.ServerOptions()...)...)
	wire.RegisterHostServer(s, &hostServer{conn: c})
	return s
}

// begin finds the request a host call belongs to. The returned context
// carries the request's values (trace, logger, unit of work) and ends when
// either the request or the plugin's call ends.
func (h *hostServer) begin(ctx context.Context, id uint64) (context.Context, Services, func(), *wire.Error) {
	h.conn.mu.Lock()
	call, ok := h.conn.calls[id]
	h.conn.mu.Unlock()
	if !ok || call.svc == nil {
		err := &sdk.Error{Kind: sdk.KindUnavailable, Message: "the request is over or has no host services"}
		return nil, nil, nil, bridge.ErrorToWire(err, wire.Source_SOURCE_HOST)
	}
	merged, cancel := context.WithCancel(call.ctx)
	if sc := wire.IncomingTrace(ctx); sc.IsValid() && sc.TraceID() == trace.SpanContextFromContext(call.ctx).TraceID() {
		// The request's values with the plugin's span as parent: the
		// host's work for this call joins the plugin's trace (never
		// another trace a plugin names).
		merged = trace.ContextWithRemoteSpanContext(merged, sc)
	}
	stop := context.AfterFunc(ctx, cancel)
	return merged, call.svc, func() { stop(); cancel() }, nil
}

// fail converts a Services error for the plugin. An *sdk.Error keeps its
// kind; an internal or unclassified error is logged here, once, and the
// plugin learns only that the host failed, never the database's text.
func (h *hostServer) fail(op string, err error) *wire.Error {
	var e *sdk.Error
	classified := errors.As(err, &e) && e.Kind != sdk.KindInternal
	if !classified && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		h.conn.logger.Error("host service failed", "op", op, "error", err)
		err = &sdk.Error{Kind: sdk.KindInternal, Message: op + ": host service failed"}
	}
	return bridge.ErrorToWire(err, wire.Source_SOURCE_HOST)
}

func (h *hostServer) Query(ctx context.Context, req *wire.StatementRequest) (*wire.QueryResponse, error) {
	ctx, svc, done, werr := h.begin(ctx, req.CallId)
	if werr != nil {
		return &wire.QueryResponse{Error: werr}, nil
	}
	defer done()
	var rs *ResultSet
	var err error
	if lf := req.Statement.GetListFilter(); lf != nil {
		rs, err = listQuery(ctx, svc, req.Statement.GetSql(), wire.GoValues(req.Statement.GetArgs()), lf)
	} else {
		rs, err = svc.Query(ctx, req.Statement.GetSql(), wire.GoValues(req.Statement.GetArgs()))
	}
	if err != nil {
		return &wire.QueryResponse{Error: h.fail("query", err)}, nil
	}
	out, err := resultToWire(rs)
	if err != nil {
		return &wire.QueryResponse{Error: h.fail("query", err)}, nil
	}
	return &wire.QueryResponse{Result: out}, nil
}

func (h *hostServer) Exec(ctx context.Context, req *wire.StatementRequest) (*wire.ExecResponse, error) {
	ctx, svc, done, werr := h.begin(ctx, req.CallId)
	if werr != nil {
		return &wire.ExecResponse{Error: werr}, nil
	}
	defer done()
	if req.Statement.GetListFilter() != nil {
		return &wire.ExecResponse{Error: h.fail("exec", errNotAList)}, nil
	}
	n, err := svc.Exec(ctx, req.Statement.GetSql(), wire.GoValues(req.Statement.GetArgs()))
	if err != nil {
		return &wire.ExecResponse{Error: h.fail("exec", err)}, nil
	}
	return &wire.ExecResponse{RowsAffected: n}, nil
}

func (h *hostServer) Batch(ctx context.Context, req *wire.BatchRequest) (*wire.BatchResponse, error) {
	ctx, svc, done, werr := h.begin(ctx, req.CallId)
	if werr != nil {
		return &wire.BatchResponse{Error: werr}, nil
	}
	defer done()
	stmts := make([]Statement, len(req.Statements))
	for i, s := range req.Statements {
		if s.GetListFilter() != nil {
			return &wire.BatchResponse{Error: h.fail("batch", errNotAList)}, nil
		}
		stmts[i] = Statement{SQL: s.GetSql(), Args: wire.GoValues(s.GetArgs())}
	}
	results, err := svc.Batch(ctx, stmts)
	if err != nil {
		return &wire.BatchResponse{Error: h.fail("batch", err)}, nil
	}
	out := &wire.BatchResponse{Results: make([]*wire.ResultSet, len(results))}
	for i, rs := range results {
		if out.Results[i], err = resultToWire(rs); err != nil {
			return &wire.BatchResponse{Error: h.fail("batch", fmt.Errorf("statement %d: %w", i, err))}, nil
		}
	}
	return out, nil
}

// resultToWire converts a result set, naming the cell it cannot convert.
func resultToWire(rs *ResultSet) (*wire.ResultSet, error) {
	if rs == nil {
		return &wire.ResultSet{}, nil
	}
	out := &wire.ResultSet{Columns: rs.Columns, RowsAffected: rs.RowsAffected, Rows: make([]*wire.Row, len(rs.Rows))}
	for i, row := range rs.Rows {
		values, err := wire.Values(row)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		out.Rows[i] = &wire.Row{Values: values}
	}
	return out, nil
}

func (h *hostServer) CacheGet(ctx context.Context, req *wire.KeyRequest) (*wire.CacheGetResponse, error) {
	ctx, svc, done, werr := h.begin(ctx, req.CallId)
	if werr != nil {
		return &wire.CacheGetResponse{Error: werr}, nil
	}
	defer done()
	value, found, err := svc.CacheGet(ctx, req.Key)
	if err != nil {
		return &wire.CacheGetResponse{Error: h.fail("cache get", err)}, nil
	}
	return &wire.CacheGetResponse{Found: found, Value: value}, nil
}

func (h *hostServer) CacheSet(ctx context.Context, req *wire.CacheSetRequest) (*wire.Ack, error) {
	return h.ack(ctx, req.CallId, "cache set", func(ctx context.Context, svc Services) error {
		return svc.CacheSet(ctx, req.Key, req.Value, time.Duration(req.TtlMillis)*time.Millisecond)
	})
}

func (h *hostServer) CacheDelete(ctx context.Context, req *wire.KeyRequest) (*wire.Ack, error) {
	return h.ack(ctx, req.CallId, "cache delete", func(ctx context.Context, svc Services) error {
		return svc.CacheDelete(ctx, req.Key)
	})
}

func (h *hostServer) BlobPut(ctx context.Context, req *wire.BlobPutRequest) (*wire.Ack, error) {
	return h.ack(ctx, req.CallId, "blob put", func(ctx context.Context, svc Services) error {
		return svc.BlobPut(ctx, req.Key, req.ContentType, req.Data)
	})
}

func (h *hostServer) BlobGet(ctx context.Context, req *wire.KeyRequest) (*wire.BlobGetResponse, error) {
	ctx, svc, done, werr := h.begin(ctx, req.CallId)
	if werr != nil {
		return &wire.BlobGetResponse{Error: werr}, nil
	}
	defer done()
	data, contentType, err := svc.BlobGet(ctx, req.Key)
	if err != nil {
		return &wire.BlobGetResponse{Error: h.fail("blob get", err)}, nil
	}
	return &wire.BlobGetResponse{ContentType: contentType, Data: data}, nil
}

func (h *hostServer) BlobDelete(ctx context.Context, req *wire.KeyRequest) (*wire.Ack, error) {
	return h.ack(ctx, req.CallId, "blob delete", func(ctx context.Context, svc Services) error {
		return svc.BlobDelete(ctx, req.Key)
	})
}

func (h *hostServer) Authorize(ctx context.Context, req *wire.AuthorizeRequest) (*wire.AuthorizeResponse, error) {
	ctx, svc, done, werr := h.begin(ctx, req.CallId)
	if werr != nil {
		return &wire.AuthorizeResponse{Error: werr}, nil
	}
	defer done()
	res, err := resourceFromWire(req.Resource)
	if err != nil {
		return &wire.AuthorizeResponse{Error: h.fail("authorize", err)}, nil
	}
	allowed, err := svc.Authorize(ctx, req.Action, res)
	if err != nil {
		return &wire.AuthorizeResponse{Error: h.fail("authorize", err)}, nil
	}
	return &wire.AuthorizeResponse{Allowed: allowed}, nil
}

func (h *hostServer) Audit(ctx context.Context, req *wire.AuditRequest) (*wire.Ack, error) {
	return h.ack(ctx, req.CallId, "audit", func(ctx context.Context, svc Services) error {
		var detail map[string]any
		if err := json.Unmarshal(req.Detail, &detail); err != nil {
			return sdk.Internal(err, "decode audit detail")
		}
		return svc.Audit(ctx, detail)
	})
}

// ack runs a host call that returns nothing but its error.
func (h *hostServer) ack(ctx context.Context, id uint64, op string, f func(context.Context, Services) error) (*wire.Ack, error) {
	ctx, svc, done, werr := h.begin(ctx, id)
	if werr != nil {
		return &wire.Ack{Error: werr}, nil
	}
	defer done()
	if err := f(ctx, svc); err != nil {
		return &wire.Ack{Error: h.fail(op, err)}, nil
	}
	return &wire.Ack{}, nil
}

func resourceFromWire(r *wire.Resource) (sdk.Resource, error) {
	res := sdk.Resource{Type: r.GetType(), ID: r.GetId(), Owner: r.GetOwner()}
	if raw := r.GetAttributes(); len(raw) > 0 {
		if err := json.Unmarshal(raw, &res.Attributes); err != nil {
			return res, sdk.Internal(err, "decode resource attributes")
		}
	}
	return res, nil
}

// CheckError is the failure of a check the plugin's handler deferred with
// Require, as the request's Services reported it: the host's own answer (a
// refusal, or its policy or database failing), never the plugin's or the
// transport's.
type CheckError struct{ Err error }

func (e *CheckError) Error() string { return e.Err.Error() }
func (e *CheckError) Unwrap() error { return e.Err }

// require makes a check the plugin's handler asked for with Require, now
// that it has returned: a deny fails the request as Authorize's would
// have (the services' refusal as it is).
func require(ctx context.Context, svc Services, check *wire.Check) error {
	if svc == nil {
		return sdk.Internal(nil, "the handler requires a resource check and the request has no host services")
	}
	res, err := resourceFromWire(check.Resource)
	if err != nil {
		return err
	}
	allowed, err := svc.Authorize(ctx, check.Action, res)
	switch {
	case err != nil:
		return err
	case !allowed:
		return &sdk.Error{Kind: sdk.KindForbidden, Source: sdk.SourceHost,
			Message: "not allowed to " + check.Action + " " + res.Type + " " + res.ID}
	}
	return nil
}

var errNotAList = &sdk.Error{Kind: sdk.KindInternal, Source: sdk.SourceHost,
	Message: "a policy-filtered list (query.WithResource) runs only as one DB.Query"}

// listQuery runs a list filtered by the tenant's policy; a host that cannot
// fails it rather than list unfiltered rows.
func listQuery(ctx context.Context, svc Services, sql string, args []any, lf *wire.ListFilter) (*ResultSet, error) {
	lq, ok := svc.(ListQuerier)
	if !ok {
		return nil, &sdk.Error{Kind: sdk.KindInternal, Source: sdk.SourceHost, Message: "this host does not filter lists by policy"}
	}
	col := func(c *wire.PolicyColumn) *listquery.PolicyColumn {
		if c == nil {
			return nil
		}
		var t listquery.Type // 0, no type, when unknown: untranslatable
		for known := listquery.String; known <= listquery.Enum; known++ {
			if uint32(known) == c.GetType() {
				t = known
			}
		}
		return &listquery.PolicyColumn{Column: c.GetColumn(), Type: t, Nullable: c.GetNullable()}
	}
	f := &listquery.PolicyFilter{Action: lf.GetAction(), Type: lf.GetResourceType(), ID: col(lf.GetId()), Owner: col(lf.GetOwner()),
		Attributes: make(map[string]listquery.PolicyColumn, len(lf.GetAttributes())),
		Param:      int(lf.GetParam()), Limit: int(lf.GetLimitParam())}
	for k, c := range lf.GetAttributes() {
		if c == nil {
			continue
		}
		f.Attributes[k] = *col(c)
	}
	return lq.ListQuery(ctx, sql, args, f)
}
