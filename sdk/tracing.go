package sdk

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// setupTracing exports the plugin's spans as the core exports its own: only
// when OTEL_TRACES_EXPORTER names an exporter (the core passes its OTEL_*
// settings on to plugins), configured by the standard OTEL_* variables, the
// service named after the plugin unless OTEL_SERVICE_NAME says otherwise.
// The returned function flushes what is buffered.
func setupTracing(ctx context.Context, plugin string) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	if name := os.Getenv("OTEL_TRACES_EXPORTER"); name == "" || name == "none" {
		return func(context.Context) error { return nil }, nil
	}
	exp, err := autoexport.NewSpanExporter(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER: %w", err)
	}
	res := resource.Default() // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES
	if os.Getenv("OTEL_SERVICE_NAME") == "" {
		var err error
		if res, err = resource.Merge(res, resource.NewSchemaless(semconv.ServiceName("atrium-plugin-"+plugin))); err != nil {
			return nil, fmt.Errorf("trace resource: %w", err)
		}
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}
