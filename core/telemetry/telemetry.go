// Package telemetry builds the process-wide observability plumbing: the JSON
// logger, the Prometheus registry and the OpenTelemetry tracer provider.
// Contexts receive these through fx and never reach for globals.
package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// NewLogger returns a JSON logger writing to w at the given level. Every
// line logged with a request's context carries its request ID, tenant and
// principal, without the caller passing them.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(requestFields{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})})
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors. Atrium never registers on the global default registry, so tests
// can build many apps in one process.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// Tracing owns the tracer provider and its shutdown.
type Tracing struct {
	Provider trace.TracerProvider
	shutdown func(context.Context) error
}

// NewTracing configures W3C trace-context propagation and, only when
// OTEL_TRACES_EXPORTER names an exporter, an SDK provider exporting through
// it (the standard OTEL_* variables configure the rest). With none configured
// spans cost nothing.
func NewTracing(ctx context.Context, service string) (*Tracing, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{},
	))
	name := os.Getenv("OTEL_TRACES_EXPORTER")
	if name == "" || name == "none" {
		return &Tracing{Provider: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: %w", name, err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(serviceName(service)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{Provider: tp, shutdown: tp.Shutdown}, nil
}

// Shutdown flushes buffered spans.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }
