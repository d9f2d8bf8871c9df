package transport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/internal/bridge"
	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// Conn is a connection to one running plugin. It is safe for concurrent use.
type Conn struct {
	name     string
	manifest sdk.Manifest
	settings map[string]bool
	// takesPrefetch: the plugin's SDK answers from a request's prefetch.
	takesPrefetch bool
	plugin        wire.PluginClient
	logger        *slog.Logger

	nextID atomic.Uint64
	mu     sync.Mutex
	calls  map[uint64]inflight

	proc process
}

// process is what differs between a launched and an attached plugin.
type process interface {
	exited() bool
	kill()
	close() error
	pid() int
}

// inflight is a request in progress, found again by its call ID when the
// plugin calls back into the host.
type inflight struct {
	ctx context.Context
	svc Services
}

func newConn(name string, plugin wire.PluginClient, logger *slog.Logger) *Conn {
	return &Conn{name: name, plugin: plugin, logger: logger, calls: make(map[uint64]inflight)}
}

// Manifest returns the manifest the plugin sent when it started.
func (c *Conn) Manifest() sdk.Manifest { return c.manifest }

// Exited reports whether the plugin process has exited.
func (c *Conn) Exited() bool { return c.proc.exited() }

// Kill ends the plugin process at once, failing its requests in flight with
// an ErrUnavailable error; use it on a plugin that hangs.
func (c *Conn) Kill() { c.proc.kill() }

// Close stops the plugin gracefully: requests in flight may finish for a
// short while before the process is killed.
func (c *Conn) Close() error { return c.proc.close() }

// Pid returns the plugin's process ID (this process's, for an attached
// plugin).
func (c *Conn) Pid() int { return c.proc.pid() }

// Handle forwards one request to the plugin and returns its response. The
// plugin's host service calls for this request are served by svc until
// Handle returns. The plugin's deadline is req.Deadline if set, else ctx's.
//
// A failed request returns an *sdk.Error: the plugin's own error with its
// kind and SourcePlugin, or, when the plugin could not answer, ErrTimeout
// (deadline passed) or ErrUnavailable (the plugin crashed or is gone).
func (c *Conn) Handle(ctx context.Context, req *Request, svc Services) (*Response, error) {
	if len(req.Events) == 0 && (req.Route < 0 || req.Route >= len(c.manifest.Routes)) {
		return nil, sdk.Internal(nil, "plugin %s has no route %d", c.name, req.Route)
	}
	wreq, err := c.wireRequest(req)
	if err != nil {
		return nil, err
	}
	wreq.CallId = c.nextID.Add(1)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		propagation.TraceContext{}.Inject(ctx, traceCarrier{wreq})
	}

	reqCtx := ctx // what the handler and its host calls get
	if !req.Deadline.IsZero() {
		var cancel context.CancelFunc
		reqCtx, cancel = context.WithDeadline(ctx, req.Deadline)
		defer cancel()
		ctx = wire.WithDeadline(ctx, req.Deadline)
	}

	c.mu.Lock()
	c.calls[wreq.CallId] = inflight{ctx: reqCtx, svc: svc}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.calls, wreq.CallId)
		c.mu.Unlock()
	}()

	var resp *wire.HandleResponse
	if req.BodyStream != nil {
		resp, err = c.handleStream(ctx, wreq, req.BodyStream)
	} else {
		resp, err = c.plugin.Handle(ctx, wreq)
	}
	if err != nil {
		var be *BodyError
		if errors.As(err, &be) {
			return nil, be
		}
		return nil, c.callError(ctx, err)
	}
	if wreq.Prefetch != nil {
		req.Prefetch.Used = resp.PrefetchUsed
	}
	if len(resp.Checks) > 0 {
		if reqCtx.Err() != nil {
			// The handler answered at its deadline: too late to decide.
			return nil, &sdk.Error{Kind: sdk.KindTimeout, Source: sdk.SourcePlugin,
				Message: fmt.Sprintf("plugin %s answered at its deadline", c.name)}
		}
		for _, check := range resp.Checks { // before the error: a refusal wins
			if err := require(reqCtx, svc, check); err != nil {
				return nil, &CheckError{Err: err}
			}
		}
	}
	if len(resp.Audit) > 0 && svc != nil {
		if err := audit(reqCtx, svc, resp.Audit); err != nil {
			return nil, err
		}
	}
	if resp.Error != nil {
		return nil, bridge.ErrorFromWire(resp.Error)
	}
	out := &Response{Status: int(resp.Status), Body: resp.Body}
	if b := resp.BlobBody; b != nil {
		out.Blob = &BlobBody{Key: b.Key}
	}
	if len(resp.Headers) > 0 {
		out.Header = make(http.Header, len(resp.Headers))
		for _, p := range resp.Headers {
			out.Header.Add(p.Key, p.Value)
		}
	}
	return out, nil
}

// handleStream sends the request, then its body in chunks, and returns
// the plugin's answer, which may come before the whole body has gone (a
// handler that refuses the upload early). A body that fails to read cancels
// the call: the plugin's handler sees its body fail, and its answer is lost.
func (c *Conn) handleStream(ctx context.Context, wreq *wire.HandleRequest, body io.Reader) (*wire.HandleResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.plugin.HandleStream(ctx)
	if err != nil {
		return nil, err
	}
	err = stream.Send(&wire.BodyChunk{Request: wreq})
	// One buffer for the whole body: Send has encoded a message by the
	// time it returns, and a buffer per chunk would leave the collector as
	// much garbage as the body is large.
	buf := make([]byte, blobChunk)
	for err == nil {
		n, rerr := io.ReadAtLeast(body, buf, len(buf))
		if n > 0 {
			err = stream.Send(&wire.BodyChunk{Data: buf[:n]})
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return nil, &BodyError{Err: rerr}
		}
	}
	if err != nil && !errors.Is(err, io.EOF) { // io.EOF: the plugin has answered
		return nil, err
	}
	return stream.CloseAndRecv()
}

// audit hands the detail a response carries to the request's audit record.
func audit(ctx context.Context, svc Services, raw []byte) error {
	var detail map[string]any
	if err := json.Unmarshal(raw, &detail); err != nil {
		return sdk.Internal(err, "decode the response's audit detail")
	}
	return svc.Audit(ctx, detail)
}

func (c *Conn) wireRequest(req *Request) (*wire.HandleRequest, error) {
	w := &wire.HandleRequest{
		Route:     int32(req.Route), //nolint:gosec // bounded by the manifest's routes
		Method:    req.Method,
		Path:      req.Path,
		Body:      req.Body,
		RequestId: req.RequestID,
		Principal: &wire.Principal{
			Id: req.Principal.ID, Type: req.Principal.Type, Email: req.Principal.Email,
			Roles: req.Principal.Roles, Permissions: req.Principal.Permissions,
		},
		Tenant: &wire.Tenant{Id: req.Tenant.ID, Slug: req.Tenant.Slug},
	}
	for _, e := range req.Events {
		w.Events = append(w.Events, &wire.Event{Id: e.ID, Type: e.Type, Source: e.Source, Payload: e.Payload,
			OccurredAt: timestamppb.New(e.OccurredAt), Attempt: int32(e.Attempt)}) //nolint:gosec // attempts are few
	}
	if len(req.Params) > 0 {
		w.Params = make([]*wire.Pair, 0, len(req.Params))
		for k, v := range req.Params {
			w.Params = append(w.Params, &wire.Pair{Key: k, Value: v})
		}
	}
	if req.Prefetch != nil && c.takesPrefetch {
		args, err := wire.Values(req.Prefetch.Args)
		if err != nil {
			return nil, sdk.Internal(err, "encode the prefetch's arguments")
		}
		rs, err := resultToWire(req.Prefetch.Result)
		if err != nil {
			return nil, sdk.Internal(err, "encode the prefetch's result")
		}
		w.Prefetch = &wire.Prefetch{Statement: &wire.Statement{Sql: req.Prefetch.SQL, Args: args}, Result: rs}
	}
	w.Query = pairs(req.Query)
	w.Headers = pairs(req.Header)
	for k, v := range req.Tenant.Settings {
		if !c.settings[k] {
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, sdk.Internal(err, "encode tenant setting %q", k)
		}
		if w.Tenant.Settings == nil {
			w.Tenant.Settings = make(map[string][]byte)
		}
		w.Tenant.Settings[k] = raw
	}
	return w, nil
}

func pairs[M ~map[string][]string](m M) []*wire.Pair {
	if len(m) == 0 {
		return nil
	}
	out := make([]*wire.Pair, 0, len(m))
	for k, vs := range m {
		for _, v := range vs {
			out = append(out, &wire.Pair{Key: k, Value: v})
		}
	}
	return out
}

// callError classifies a Handle call that got no answer from the plugin.
func (c *Conn) callError(ctx context.Context, err error) error {
	code := status.Code(err)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || code == codes.DeadlineExceeded:
		return &sdk.Error{Kind: sdk.KindTimeout, Source: sdk.SourcePlugin, Err: err,
			Message: fmt.Sprintf("plugin %s did not answer in time", c.name)}
	case errors.Is(ctx.Err(), context.Canceled):
		return &sdk.Error{Kind: sdk.KindUnavailable, Source: sdk.SourcePlugin, Err: err,
			Message: "request canceled"}
	case code == codes.ResourceExhausted:
		return &sdk.Error{Kind: sdk.KindTooLarge, Source: sdk.SourcePlugin, Err: err,
			Message: fmt.Sprintf("message to or from plugin %s is too large", c.name)}
	}
	return &sdk.Error{Kind: sdk.KindUnavailable, Source: sdk.SourcePlugin, Err: err,
		Message: fmt.Sprintf("plugin %s is unavailable", c.name)}
}

// traceCarrier writes W3C trace context into the request.
type traceCarrier struct{ req *wire.HandleRequest }

func (t traceCarrier) Get(string) string { return "" }

func (t traceCarrier) Set(key, value string) {
	switch key {
	case "traceparent":
		t.req.Traceparent = value
	case "tracestate":
		t.req.Tracestate = value
	}
}

func (t traceCarrier) Keys() []string { return []string{"traceparent", "tracestate"} }
