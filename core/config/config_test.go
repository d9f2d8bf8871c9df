package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/config"
)

func TestDefaults(t *testing.T) {
	c, err := config.Parse(map[string]string{})
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", c.HTTPAddr)
	assert.Empty(t, c.DatabaseURL, "no DATABASE_URL means a private cluster")
	assert.Empty(t, c.RedisURL, "no REDIS_URL means an in-process cache")
	assert.Equal(t, "file://./.atrium/blobs", c.BlobURL)
	assert.Equal(t, "./bin/plugins", c.PluginDir)
	assert.True(t, c.PluginAutoRegister, "the plugin directory's new binaries are registered on start")
	assert.Equal(t, "info", c.LogLevel)
	assert.Equal(t, 15*time.Second, c.ShutdownTimeout)
	assert.Equal(t, 5*time.Second, c.ReadinessDelay)
	assert.Equal(t, 5*time.Second, c.DBAcquireTimeout)
	assert.Equal(t, 10, c.TenantMaxRequests, "half of the pool")
	assert.Equal(t, 2*time.Second, c.TenantQueueTimeout)
	assert.Equal(t, "auto", c.PluginLimits)
	assert.Equal(t, int64(512<<20), c.PluginMemoryBytes)
	assert.Equal(t, 1.0, c.PluginCPU)
	assert.Equal(t, 256, c.PluginProcesses)
	assert.Equal(t, 61000, c.PluginUIDBase)
	assert.Equal(t, "/run/atrium", c.PluginRunDir)
}

func TestBadValuesAreOneClearLine(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ATRIUM_HTTP_ADDR": "8080"}, "ATRIUM_HTTP_ADDR"},
		{map[string]string{"ATRIUM_LOG_LEVEL": "loud"}, "ATRIUM_LOG_LEVEL"},
		{map[string]string{"ATRIUM_SHUTDOWN_TIMEOUT": "soon"}, "ATRIUM_SHUTDOWN_TIMEOUT"},
		{map[string]string{"ATRIUM_SHUTDOWN_READINESS_DELAY": "-1s"}, "ATRIUM_SHUTDOWN_READINESS_DELAY"},
		{map[string]string{"ATRIUM_DB_MAX_CONNS": "1"}, "ATRIUM_DB_MAX_CONNS"},
		{map[string]string{"ATRIUM_DB_ACQUIRE_TIMEOUT": "0s"}, "ATRIUM_DB_ACQUIRE_TIMEOUT"},
		{map[string]string{"ATRIUM_TENANT_MAX_REQUESTS": "-1"}, "ATRIUM_TENANT_MAX_REQUESTS"},
		{map[string]string{"ATRIUM_TENANT_MAX_REQUESTS": "x"}, "ATRIUM_TENANT_MAX_REQUESTS"},
		{map[string]string{"ATRIUM_TENANT_QUEUE_TIMEOUT": "0s"}, "ATRIUM_TENANT_QUEUE_TIMEOUT"},
		{map[string]string{"ATRIUM_REQUEST_TIMEOUT": "-1s"}, "ATRIUM_REQUEST_TIMEOUT"},
		{map[string]string{"ATRIUM_REQUEST_TIMEOUT": "12s"}, "ATRIUM_REQUEST_TIMEOUT"}, // under the plugin timeout (10s) plus 5s
		{map[string]string{"ATRIUM_HTTP_MAX_BODY_BYTES": "lots"}, "ATRIUM_HTTP_MAX_BODY_BYTES"},
		{map[string]string{"DATABASE_URL": "mysql://root:s3cret@db/atrium"}, "DATABASE_URL"},
		{map[string]string{"ATRIUM_DATABASE_DIRECT_URL": "postgres://db/atrium"}, "ATRIUM_DATABASE_DIRECT_URL"},
		{map[string]string{"DATABASE_URL": "postgres://pgbouncer/atrium", "ATRIUM_DATABASE_DIRECT_URL": "mysql://db/atrium"}, "ATRIUM_DATABASE_DIRECT_URL"},
		{map[string]string{"REDIS_URL": "http://cache"}, "REDIS_URL"},
		{map[string]string{"ATRIUM_BLOB_URL": "s3://?region=x"}, "ATRIUM_BLOB_URL"},
		{map[string]string{"ATRIUM_BLOB_URL": "ftp://files"}, "ATRIUM_BLOB_URL"},
		{map[string]string{"ATRIUM_PLUGIN_AUTOREGISTER": "sometimes"}, "ATRIUM_PLUGIN_AUTOREGISTER"},
		{map[string]string{"ATRIUM_PLUGIN_LIMITS": "docker"}, "ATRIUM_PLUGIN_LIMITS"},
		{map[string]string{"ATRIUM_PLUGIN_MEMORY_BYTES": "1048576"}, "ATRIUM_PLUGIN_MEMORY_BYTES"},
		{map[string]string{"ATRIUM_PLUGIN_MEMORY_BYTES": "512MiB"}, "ATRIUM_PLUGIN_MEMORY_BYTES"},
		{map[string]string{"ATRIUM_PLUGIN_CPU": "-1"}, "ATRIUM_PLUGIN_CPU"},
		{map[string]string{"ATRIUM_PLUGIN_PROCESSES": "8"}, "ATRIUM_PLUGIN_PROCESSES"},
		{map[string]string{"ATRIUM_PLUGIN_UID_BASE": "100"}, "ATRIUM_PLUGIN_UID_BASE"},
		{map[string]string{"ATRIUM_PLUGIN_RUN_DIR": "run/atrium"}, "ATRIUM_PLUGIN_RUN_DIR"},
		{map[string]string{"ATRIUM_BOOTSTRAP_OPERATOR_EMAIL": "ops@example.com"}, "ATRIUM_BOOTSTRAP_OPERATOR_PASSWORD"},
		{map[string]string{"ATRIUM_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"}, "ATRIUM_TRUSTED_PROXIES"},
		{map[string]string{"ATRIUM_LOGIN_IP_RATE_LIMIT": "5"}, "ATRIUM_LOGIN_IP_RATE_LIMIT"}, // under the per-account limit (10)
		{map[string]string{"ATRIUM_BOOTSTRAP_OPERATOR_EMAIL": "ops", "ATRIUM_BOOTSTRAP_OPERATOR_PASSWORD": "x"}, "ATRIUM_BOOTSTRAP_OPERATOR_EMAIL"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			_, err := config.Parse(tt.env)
			require.Error(t, err)
			msg := err.Error()
			assert.Contains(t, msg, tt.want)
			assert.NotContains(t, msg, "\n")
			assert.NotContains(t, msg, "s3cret", "a URL's password never reaches the message")
		})
	}
}

func TestAcceptsGoodValues(t *testing.T) {
	c, err := config.Parse(map[string]string{
		"DATABASE_URL":           "postgres://atrium:pw@db:5432/atrium?sslmode=require",
		"REDIS_URL":              "rediss://cache:6380/0",
		"ATRIUM_BLOB_URL":        "s3://docs?region=eu-west-1&endpoint=http://127.0.0.1:9000",
		"ATRIUM_LOG_LEVEL":       "WARN",
		"ATRIUM_TRUSTED_PROXIES": "10.0.0.0/8,192.0.2.7",
	})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(c.DatabaseURL, "postgres://"))
	assert.Equal(t, []string{"10.0.0.0/8", "192.0.2.7"}, c.TrustedProxies)
}

// Each plugin limit can be turned off with 0, and plugin uids with a base
// of 0.
func TestPluginLimitsTurnOff(t *testing.T) {
	c, err := config.Parse(map[string]string{
		"ATRIUM_PLUGIN_LIMITS": "rlimit", "ATRIUM_PLUGIN_MEMORY_BYTES": "0", "ATRIUM_PLUGIN_CPU": "0.5",
		"ATRIUM_PLUGIN_PROCESSES": "0", "ATRIUM_PLUGIN_UID_BASE": "0",
	})
	require.NoError(t, err)
	assert.Equal(t, "rlimit", c.PluginLimits)
	assert.Zero(t, c.PluginMemoryBytes)
	assert.Equal(t, 0.5, c.PluginCPU)
	assert.Zero(t, c.PluginProcesses)
	assert.Zero(t, c.PluginUIDBase)
}

// Unset, a tenant's bound follows the pool (half of it); set, 0 included,
// it is what it says.
func TestTenantBoundFollowsThePool(t *testing.T) {
	for env, want := range map[string]int{"": 10, "ATRIUM_DB_MAX_CONNS=40": 20, "ATRIUM_DB_MAX_CONNS=2": 1,
		"ATRIUM_TENANT_MAX_REQUESTS=0": 0, "ATRIUM_TENANT_MAX_REQUESTS=3": 3} {
		environ := map[string]string{}
		if k, v, ok := strings.Cut(env, "="); ok {
			environ[k] = v
		}
		c, err := config.Parse(environ)
		require.NoError(t, err, env)
		assert.Equal(t, want, c.TenantMaxRequests, env)
	}
}
