package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/atriumhq/atrium/sdk/internal/bridge"
	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// tracer makes the handlers' spans, with the process's provider: the one
// Serve sets up from OTEL_*, or the test's in sdk/plugintest.
var tracer = otel.Tracer("github.com/atriumhq/atrium/sdk")

// server is the plugin side of the protocol: it answers the host's calls and
// holds the one connection back to the host's services.
type server struct {
	wire.UnimplementedPluginServer

	plugin        Plugin
	manifest      *wire.Manifest
	settings      map[string]bool
	emits         map[string]bool
	subscriptions map[string]EventHandler
	logger        *slog.Logger
	// spanNames are the routes' span names, "<METHOD> <path>", built once.
	spanNames []string
	dial      bridge.HostDialer

	mu         sync.RWMutex
	host       wire.HostClient
	hostConn   *grpc.ClientConn
	hostChecks bool // the host makes the checks a response carries
	hostAudit  bool // the host takes a response's audit detail
}

func newServer(p Plugin, logger *slog.Logger, dial bridge.HostDialer) (*server, error) {
	m, err := p.Manifest()
	if err != nil {
		return nil, err
	}
	s := &server{
		plugin:   p,
		manifest: m.toWire(),
		settings: make(map[string]bool, len(m.Settings)),
		logger:   logger,
		dial:     dial,
	}
	for _, st := range m.Settings {
		s.settings[st.Key] = true
	}
	s.emits = make(map[string]bool, len(m.Emits))
	for _, e := range m.Emits {
		s.emits[e.Type] = true
	}
	s.subscriptions = make(map[string]EventHandler, len(p.Subscriptions))
	for _, sub := range p.Subscriptions {
		s.subscriptions[sub.Type] = sub.Handler
	}
	for _, r := range p.Routes {
		s.spanNames = append(s.spanNames, r.Method+" "+r.Path)
	}
	return s, nil
}

// GetManifest connects to the host service the host announces, once per
// connection, so no request ever pays for a broker dial.
func (s *server) GetManifest(ctx context.Context, req *wire.ManifestRequest) (*wire.Manifest, error) {
	if req.HostProtocol != wire.ProtocolVersion {
		return nil, fmt.Errorf("host speaks protocol %d, plugin %d", req.HostProtocol, wire.ProtocolVersion)
	}
	conn, err := s.dial(ctx, req.HostService)
	if err != nil {
		return nil, fmt.Errorf("dial host service: %w", err)
	}
	s.mu.Lock()
	old := s.hostConn
	s.host, s.hostConn, s.hostChecks, s.hostAudit = wire.NewHostClient(conn), conn, req.HostChecks, req.HostAudit
	s.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	return s.manifest, nil
}

// Handle runs the route's handler. A handler's failure, panic included, is
// an answer, not a gRPC error: gRPC errors mean the transport failed.
func (s *server) Handle(ctx context.Context, req *wire.HandleRequest) (*wire.HandleResponse, error) {
	return s.handle(ctx, req, nil), nil
}

// HandleStream runs the handler of a route that streams its body: the
// first message is the request, the rest its body, which the handler reads
// through c.Body as it arrives.
func (s *server) HandleStream(stream wire.Plugin_HandleStreamServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.Request == nil {
		return fmt.Errorf("the stream's first message carries no request")
	}
	body := &bodyStream{buf: first.Data, recv: stream.Recv}
	return stream.SendAndClose(s.handle(stream.Context(), first.Request, body))
}

// bodyStream is a streamed request body.
type bodyStream struct {
	buf  []byte
	recv func() (*wire.BodyChunk, error)
	err  error
}

func (b *bodyStream) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		m, err := b.recv()
		if err != nil && !errors.Is(err, io.EOF) {
			err = &Error{Kind: KindBadRequest, Message: "the request body broke off", Err: err}
		}
		b.buf, b.err = m.GetData(), err
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (s *server) handle(ctx context.Context, req *wire.HandleRequest, body io.Reader) *wire.HandleResponse {
	i := int(req.Route)
	var route *Route
	var spanName string
	if evs := req.GetEvents(); len(evs) > 0 {
		for _, ev := range evs {
			if s.subscriptions[ev.GetType()] == nil {
				err := Internal(nil, "the plugin does not subscribe to %s", ev.GetType())
				return &wire.HandleResponse{Error: errorToWire(err, wire.Source_SOURCE_PLUGIN)}
			}
		}
		route, spanName = s.eventsRoute(evs), "EVENT "+evs[0].GetType()
	} else {
		if i < 0 || i >= len(s.plugin.Routes) {
			err := Internal(nil, "route %d does not exist; the plugin has %d", i, len(s.plugin.Routes))
			return &wire.HandleResponse{Error: errorToWire(err, wire.Source_SOURCE_PLUGIN)}
		}
		route, spanName = &s.plugin.Routes[i], s.spanNames[i]
	}
	if d, ok := wire.IncomingDeadline(ctx); ok {
		// The request's deadline; the call may stay open a little longer
		// so that an answer given at it reaches the host.
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d)
		defer cancel()
	}
	if req.Traceparent != "" {
		ctx = propagation.TraceContext{}.Extract(ctx, traceCarrier{req})
	}
	// The handler's span, a child of the core's: its host calls carry it
	// back (wire.HostDialOptions), so the core's work for them nests here.
	// Exported only when the plugin's OTEL_* settings name an exporter.
	ctx, span := tracer.Start(ctx, spanName, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	if span.IsRecording() {
		span.SetAttributes(attribute.String("atrium.plugin", s.plugin.Name), attribute.String("atrium.request_id", req.RequestId))
	}
	s.mu.RLock()
	host, hostChecks, hostAudit := s.host, s.hostChecks, s.hostAudit
	s.mu.RUnlock()

	c := &Context{ctx: ctx, req: req, srv: s, route: route, bodyReader: body}
	c.call.id, c.call.host, c.call.deferChecks, c.call.prefetch = req.CallId, host, hostChecks, req.Prefetch
	c.call.deferAudit = hostAudit
	c.db.call, c.cache.call, c.blobs.call = &c.call, &c.call, &c.call

	err := s.run(c)
	audit, aerr := c.call.auditDetail()
	if err == nil {
		err = aerr
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		// The checks go with the error too: a refusal must win over what
		// the error would tell.
		return &wire.HandleResponse{Error: errorToWire(err, wire.Source_SOURCE_PLUGIN), Checks: c.checks,
			PrefetchUsed: c.call.usedPrefetch(), Audit: audit}
	}
	if !c.written {
		c.status = http.StatusNoContent
	}
	return &wire.HandleResponse{Status: c.status, Headers: c.header, Body: c.body, Checks: c.checks,
		PrefetchUsed: c.call.usedPrefetch(), Audit: audit, BlobBody: c.blobBody}
}

// eventsRoute runs the subscriptions' handlers for evs one after another,
// as one handler: the first error ends the call, and its unit of work.
func (s *server) eventsRoute(evs []*wire.Event) *Route {
	return &Route{Method: "EVENT", Path: evs[0].GetType(), Handler: func(c *Context) error {
		for _, ev := range evs {
			c.route, c.logger = &Route{Method: "EVENT", Path: ev.GetType()}, nil
			if err := s.subscriptions[ev.GetType()](c, eventFromWire(ev)); err != nil {
				return err
			}
		}
		return nil
	}}
}

// run calls the handler, turning a panic into an internal error so one bad
// request never takes the plugin down.
func (s *server) run(c *Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.Logger().Error("handler panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = &Error{Kind: KindInternal, Message: fmt.Sprintf("handler panicked: %v", r)}
		}
	}()
	return c.route.Handler(c)
}

// Close drops the connection to the host service.
func (s *server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hostConn != nil {
		_ = s.hostConn.Close()
		s.host, s.hostConn = nil, nil
	}
}

// traceCarrier reads W3C trace context from the request.
type traceCarrier struct{ req *wire.HandleRequest }

func (t traceCarrier) Get(key string) string {
	switch key {
	case "traceparent":
		return t.req.Traceparent
	case "tracestate":
		return t.req.Tracestate
	}
	return ""
}

func (t traceCarrier) Set(string, string) {}

func (t traceCarrier) Keys() []string { return []string{"traceparent", "tracestate"} }
