package wire

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// HostDialOptions are DialOptions for a plugin's connection to the host
// service: every call also carries the caller's W3C trace context in its
// metadata, so what the host does for a plugin joins the plugin's trace.
// (Calls into the plugin carry it in HandleRequest instead.)
func HostDialOptions() []grpc.DialOption {
	return append(DialOptions(), grpc.WithUnaryInterceptor(injectTrace))
}

func injectTrace(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if trace.SpanContextFromContext(ctx).IsValid() {
		carrier := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(ctx, carrier)
		for k, v := range carrier {
			ctx = metadata.AppendToOutgoingContext(ctx, k, v)
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// IncomingTrace returns the trace context a host call carried, invalid if
// it carried none.
func IncomingTrace(ctx context.Context) trace.SpanContext {
	// ValueFromIncomingContext reads one key; FromIncomingContext would copy
	// the whole metadata on every host call.
	parent := metadata.ValueFromIncomingContext(ctx, "traceparent")
	if len(parent) == 0 {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{"traceparent": parent[0]}
	if state := metadata.ValueFromIncomingContext(ctx, "tracestate"); len(state) > 0 {
		carrier["tracestate"] = state[0]
	}
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier))
}
