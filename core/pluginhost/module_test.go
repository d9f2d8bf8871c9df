package pluginhost

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPluginEnvHoldsNoSecret(t *testing.T) {
	env := pluginEnv([]string{
		"PATH=/usr/bin", "TZ=UTC", "DATABASE_URL=postgres://u:secret@db/x", "ATRIUM_JWT_KEY=k",
		"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318",
		"OTEL_SERVICE_NAME=atriumd", "OTEL_EXPORTER_OTLP_HEADERS=api-key=secret",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS=api-key=secret", "OTEL_EXPORTER_OTLP_CLIENT_KEY=/keys/client.pem",
	})
	assert.Equal(t, []string{"PATH=/usr/bin", "TZ=UTC", "OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318"}, env)
}
