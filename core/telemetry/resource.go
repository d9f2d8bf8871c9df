package telemetry

import (
	"os"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
)

// serviceName yields the service.name attribute unless OTEL_SERVICE_NAME
// already sets it (resource.Default reads that variable).
func serviceName(fallback string) attribute.KeyValue {
	if v := os.Getenv("OTEL_SERVICE_NAME"); v != "" {
		return semconv.ServiceName(v)
	}
	return semconv.ServiceName(fallback)
}
