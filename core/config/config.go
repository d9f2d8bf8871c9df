// Package config reads atriumd's configuration from the environment and
// validates it, so a wrong value stops the process at start with one line
// naming the variable instead of failing later in a request.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config is atriumd's whole configuration. Field tags name the environment
// variables; the README's configuration table documents them.
type Config struct {
	HTTPAddr        string        `env:"ATRIUM_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	MaxBodyBytes    int64         `env:"ATRIUM_HTTP_MAX_BODY_BYTES" envDefault:"1048576"`
	ShutdownTimeout time.Duration `env:"ATRIUM_SHUTDOWN_TIMEOUT" envDefault:"15s"`
	// RequestTimeout bounds a request (routes that stream a backup or run
	// long operator work have bounds of their own); 0 leaves requests
	// unbounded.
	RequestTimeout time.Duration `env:"ATRIUM_REQUEST_TIMEOUT" envDefault:"30s"`
	// ReadinessDelay is how long a shutdown keeps serving with /readyz
	// answering 503 before it closes the listener, so load balancers take
	// the replica out before connections are refused.
	ReadinessDelay time.Duration `env:"ATRIUM_SHUTDOWN_READINESS_DELAY" envDefault:"5s"`
	LogLevel       string        `env:"ATRIUM_LOG_LEVEL" envDefault:"info"`

	// DatabaseURL empty means: start a private cluster under DataDir/pg.
	DatabaseURL string `env:"DATABASE_URL"`
	// DatabaseDirectURL reaches PostgreSQL itself when DATABASE_URL goes
	// through a transaction pooler (PgBouncer, pool_mode=transaction): the
	// change listener (LISTEN) and the platform schema's migrations
	// (session advisory lock) use it, and the pools then keep no session
	// state on their connections. Empty: DATABASE_URL reaches the server.
	DatabaseDirectURL string `env:"ATRIUM_DATABASE_DIRECT_URL"`
	DBMaxConns        int32  `env:"ATRIUM_DB_MAX_CONNS" envDefault:"20"`
	DataDir           string `env:"ATRIUM_DATA_DIR" envDefault:"./.atrium"`
	// FirstOperatorFile is set by atriumd, not the environment, when it
	// runs its private cluster: with no operator at all and no bootstrap
	// operator configured, the first start creates FirstOperatorEmail with
	// a generated password kept in this file (0600). No default password.
	FirstOperatorFile string
	// DBAcquireTimeout bounds a request's wait for a database connection:
	// past it, with the pool exhausted, the request gets a 503.
	DBAcquireTimeout time.Duration `env:"ATRIUM_DB_ACQUIRE_TIMEOUT" envDefault:"5s"`
	// TenantMaxRequests bounds the requests of one tenant served at once,
	// so that no tenant holds all of the pools' connections; a request past
	// it waits its turn at most TenantQueueTimeout, then gets a 503. 0
	// leaves tenants unbounded. Unset, it is half of DBMaxConns: a tenant
	// alone keeps the throughput of an unbounded one (a bound of 4 took a
	// fifth off a single tenant's plugin route at most load), and one stuck
	// on a lock leaves the other half to the rest.
	TenantMaxRequests  int           `env:"ATRIUM_TENANT_MAX_REQUESTS" default:"half of ATRIUM_DB_MAX_CONNS"`
	TenantQueueTimeout time.Duration `env:"ATRIUM_TENANT_QUEUE_TIMEOUT" envDefault:"2s"`

	// RedisURL empty means: in-process cache.
	RedisURL string `env:"REDIS_URL"`
	BlobURL  string `env:"ATRIUM_BLOB_URL" envDefault:"file://./.atrium/blobs"`
	// BlobTimeout bounds each S3 request's wait for a connection and for
	// S3's answer once the request is sent: an S3 that hangs costs a
	// backup a 503, not the request's whole bound.
	BlobTimeout time.Duration `env:"ATRIUM_BLOB_TIMEOUT" envDefault:"30s"`
	PluginDir   string        `env:"ATRIUM_PLUGIN_DIR" envDefault:"./bin/plugins"`
	// PluginAutoRegister registers, on start, the executables in PluginDir
	// that no registered plugin uses, each named after its file. A
	// registered plugin's changed binary is still refused: upgrades go
	// through POST /api/v1/plugins.
	PluginAutoRegister bool `env:"ATRIUM_PLUGIN_AUTOREGISTER" envDefault:"true"`
	// PluginTimeout bounds every plugin call; a plugin that exceeds it is
	// killed and restarted. PluginStartTimeout bounds a launch.
	PluginTimeout      time.Duration `env:"ATRIUM_PLUGIN_TIMEOUT" envDefault:"10s"`
	PluginStartTimeout time.Duration `env:"ATRIUM_PLUGIN_START_TIMEOUT" envDefault:"10s"`
	// PluginLimits is how plugin processes are bounded: auto (cgroup v2,
	// else cgroup v1, else rlimits), cgroup2, cgroup1, rlimit or off. Each
	// process gets PluginMemoryBytes of memory, PluginCPU CPUs and
	// PluginProcesses processes and threads; 0 leaves one unbounded.
	PluginLimits      string  `env:"ATRIUM_PLUGIN_LIMITS" envDefault:"auto"`
	PluginMemoryBytes int64   `env:"ATRIUM_PLUGIN_MEMORY_BYTES" envDefault:"536870912"`
	PluginCPU         float64 `env:"ATRIUM_PLUGIN_CPU" envDefault:"1"`
	PluginProcesses   int     `env:"ATRIUM_PLUGIN_PROCESSES" envDefault:"256"`
	// PluginUIDBase: when atriumd runs as root, each plugin runs as uid
	// and gid PluginUIDBase+n (n from 1, one per plugin name, kept in
	// PluginRunDir); 0 keeps them root.
	PluginUIDBase int    `env:"ATRIUM_PLUGIN_UID_BASE" envDefault:"61000"`
	PluginRunDir  string `env:"ATRIUM_PLUGIN_RUN_DIR" envDefault:"/run/atrium"`

	BcryptCost     int           `env:"ATRIUM_BCRYPT_COST" envDefault:"12"`
	AccessTokenTTL time.Duration `env:"ATRIUM_ACCESS_TOKEN_TTL" envDefault:"15m"`
	// RefreshTokenTTL is a refresh token's lifetime; each refresh starts it anew.
	RefreshTokenTTL time.Duration `env:"ATRIUM_REFRESH_TOKEN_TTL" envDefault:"720h"`
	// SigningKeyRotation is the signing key's age at which it is replaced;
	// 0 rotates only when an operator asks.
	SigningKeyRotation time.Duration `env:"ATRIUM_SIGNING_KEY_ROTATION" envDefault:"720h"`
	// LoginRateLimit sign-in attempts are allowed per account and client
	// address in each LoginRateWindow; LoginIPRateLimit per address on any
	// account, and per account from every address together (counted by
	// each replica).
	LoginRateLimit   int           `env:"ATRIUM_LOGIN_RATE_LIMIT" envDefault:"10"`
	LoginIPRateLimit int           `env:"ATRIUM_LOGIN_IP_RATE_LIMIT" envDefault:"1000"`
	LoginRateWindow  time.Duration `env:"ATRIUM_LOGIN_RATE_WINDOW" envDefault:"15m"`
	// TrustedProxies are the addresses and CIDRs whose X-Forwarded-For is
	// believed for the client's address (sign-in limits, audit, policies);
	// none: the socket's address.
	TrustedProxies []string `env:"ATRIUM_TRUSTED_PROXIES" envSeparator:","`

	// AuditCheckpointInterval is how often each tenant's audit chain head
	// is signed and exported to the blob store; 0 turns it off.
	AuditCheckpointInterval time.Duration `env:"ATRIUM_AUDIT_CHECKPOINT_INTERVAL" envDefault:"15m"`

	BootstrapOperatorEmail    string `env:"ATRIUM_BOOTSTRAP_OPERATOR_EMAIL"`
	BootstrapOperatorPassword string `env:"ATRIUM_BOOTSTRAP_OPERATOR_PASSWORD"`
}

// FromEnv reads the configuration from the process environment.
func FromEnv() (Config, error) {
	return Parse(nil)
}

// Parse reads the configuration from environ (the process environment when nil)
// and validates it.
func Parse(environ map[string]string) (Config, error) {
	var c Config
	opts := env.Options{}
	if environ != nil {
		opts.Environment = environ
	}
	if err := env.ParseWithOptions(&c, opts); err != nil {
		return Config{}, fmt.Errorf("invalid configuration: %w", firstEnvError(err))
	}
	if !isSet(environ, "ATRIUM_TENANT_MAX_REQUESTS") {
		c.TenantMaxRequests = max(1, int(c.DBMaxConns)/2)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration: %w", err)
	}
	return c, nil
}

// isSet tells whether name is in environ (the process environment when nil).
func isSet(environ map[string]string, name string) bool {
	if environ == nil {
		_, ok := os.LookupEnv(name)
		return ok
	}
	_, ok := environ[name]
	return ok
}

// firstEnvError keeps the message to one line (env aggregates all failures)
// and names the variable, where env names the Go field.
func firstEnvError(err error) error {
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var perr env.ParseError
	if errors.As(err, &perr) {
		if f, ok := reflect.TypeFor[Config]().FieldByName(perr.Name); ok {
			return fmt.Errorf("%s: not a valid %s: %w", f.Tag.Get("env"), perr.Type, perr.Err)
		}
	}
	return err
}

// Validate checks every value that the type system does not.
func (c Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil || port == "" {
		return fmt.Errorf("ATRIUM_HTTP_ADDR=%q: want host:port, for example 127.0.0.1:8080", c.HTTPAddr)
	}
	if c.MaxBodyBytes < 1024 {
		return fmt.Errorf("ATRIUM_HTTP_MAX_BODY_BYTES=%d: must be at least 1024", c.MaxBodyBytes)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("ATRIUM_SHUTDOWN_TIMEOUT=%s: must be positive", c.ShutdownTimeout)
	}
	// A plugin call ends at its own deadline, and a moment after: the
	// request's must come later, or it would cut the call short first.
	if c.RequestTimeout < 0 || c.RequestTimeout > 0 && c.RequestTimeout < c.PluginTimeout+5*time.Second {
		return fmt.Errorf("ATRIUM_REQUEST_TIMEOUT=%s: must be 0 (none) or at least ATRIUM_PLUGIN_TIMEOUT plus 5s (%s)",
			c.RequestTimeout, c.PluginTimeout+5*time.Second)
	}
	if c.ReadinessDelay < 0 {
		return fmt.Errorf("ATRIUM_SHUTDOWN_READINESS_DELAY=%s: must not be negative", c.ReadinessDelay)
	}
	if _, err := ParseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.DatabaseURL != "" {
		if err := checkURL("DATABASE_URL", c.DatabaseURL, "postgres", "postgresql"); err != nil {
			return err
		}
	}
	if c.DatabaseDirectURL != "" {
		if c.DatabaseURL == "" {
			return errors.New("ATRIUM_DATABASE_DIRECT_URL is set but DATABASE_URL is not: it is the way past DATABASE_URL's pooler")
		}
		if err := checkURL("ATRIUM_DATABASE_DIRECT_URL", c.DatabaseDirectURL, "postgres", "postgresql"); err != nil {
			return err
		}
	}
	if c.DBMaxConns < 2 || c.DBMaxConns > 1000 {
		return fmt.Errorf("ATRIUM_DB_MAX_CONNS=%d: must be between 2 and 1000", c.DBMaxConns)
	}
	if c.DBAcquireTimeout < 10*time.Millisecond || c.DBAcquireTimeout > 10*time.Minute {
		return fmt.Errorf("ATRIUM_DB_ACQUIRE_TIMEOUT=%s: must be between 10ms and 10m", c.DBAcquireTimeout)
	}
	if c.TenantMaxRequests < 0 || c.TenantMaxRequests > 10000 {
		return fmt.Errorf("ATRIUM_TENANT_MAX_REQUESTS=%d: must be between 0 (no bound) and 10000", c.TenantMaxRequests)
	}
	if c.TenantQueueTimeout < 10*time.Millisecond || c.TenantQueueTimeout > 10*time.Minute {
		return fmt.Errorf("ATRIUM_TENANT_QUEUE_TIMEOUT=%s: must be between 10ms and 10m", c.TenantQueueTimeout)
	}
	if c.RedisURL != "" {
		if err := checkURL("REDIS_URL", c.RedisURL, "redis", "rediss", "unix"); err != nil {
			return err
		}
	}
	if c.BlobTimeout < 100*time.Millisecond || c.BlobTimeout > 10*time.Minute {
		return fmt.Errorf("ATRIUM_BLOB_TIMEOUT=%s: must be between 100ms and 10m", c.BlobTimeout)
	}
	if err := c.validateBlobURL(); err != nil {
		return err
	}
	if c.BcryptCost < 10 || c.BcryptCost > 16 {
		return fmt.Errorf("ATRIUM_BCRYPT_COST=%d: must be between 10 and 16", c.BcryptCost)
	}
	if c.AccessTokenTTL < time.Minute || c.AccessTokenTTL > 24*time.Hour {
		return fmt.Errorf("ATRIUM_ACCESS_TOKEN_TTL=%s: must be between 1m and 24h", c.AccessTokenTTL)
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	if c.PluginTimeout < 100*time.Millisecond || c.PluginStartTimeout < time.Second {
		return fmt.Errorf("ATRIUM_PLUGIN_TIMEOUT=%s, ATRIUM_PLUGIN_START_TIMEOUT=%s: must be at least 100ms and 1s",
			c.PluginTimeout, c.PluginStartTimeout)
	}
	if err := c.validatePluginLimits(); err != nil {
		return err
	}
	if c.AuditCheckpointInterval < 0 {
		return fmt.Errorf("ATRIUM_AUDIT_CHECKPOINT_INTERVAL=%s: must be 0 (off) or positive", c.AuditCheckpointInterval)
	}
	if (c.BootstrapOperatorEmail == "") != (c.BootstrapOperatorPassword == "") {
		return errors.New("ATRIUM_BOOTSTRAP_OPERATOR_EMAIL and ATRIUM_BOOTSTRAP_OPERATOR_PASSWORD must be set together")
	}
	if c.BootstrapOperatorEmail != "" && !strings.Contains(c.BootstrapOperatorEmail, "@") {
		return fmt.Errorf("ATRIUM_BOOTSTRAP_OPERATOR_EMAIL=%q: not an email address", c.BootstrapOperatorEmail)
	}
	return nil
}

func (c Config) validateAuth() error {
	if c.RefreshTokenTTL <= c.AccessTokenTTL || c.RefreshTokenTTL > 365*24*time.Hour {
		return fmt.Errorf("ATRIUM_REFRESH_TOKEN_TTL=%s: must be longer than ATRIUM_ACCESS_TOKEN_TTL and at most 8760h", c.RefreshTokenTTL)
	}
	if c.SigningKeyRotation != 0 && c.SigningKeyRotation < time.Hour {
		return fmt.Errorf("ATRIUM_SIGNING_KEY_ROTATION=%s: must be 0 (on demand only) or at least 1h", c.SigningKeyRotation)
	}
	if c.LoginRateLimit < 1 || c.LoginRateLimit > 10000 {
		return fmt.Errorf("ATRIUM_LOGIN_RATE_LIMIT=%d: must be between 1 and 10000", c.LoginRateLimit)
	}
	if c.LoginIPRateLimit < c.LoginRateLimit || c.LoginIPRateLimit > 1_000_000 {
		return fmt.Errorf("ATRIUM_LOGIN_IP_RATE_LIMIT=%d: must be between ATRIUM_LOGIN_RATE_LIMIT (%d) and 1000000", c.LoginIPRateLimit, c.LoginRateLimit)
	}
	for _, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			return fmt.Errorf("ATRIUM_TRUSTED_PROXIES: %q is neither an IP address nor a CIDR", p)
		}
	}
	if c.LoginRateWindow < time.Second || c.LoginRateWindow > 24*time.Hour {
		return fmt.Errorf("ATRIUM_LOGIN_RATE_WINDOW=%s: must be between 1s and 24h", c.LoginRateWindow)
	}
	return nil
}

// Plugin limit bounds: below these a Go plugin does not start (an idle one
// maps about 120 MB writable, which RLIMIT_DATA counts, and runs 7 threads
// or more).
const (
	minPluginMemory    = 64 << 20
	minPluginProcesses = 32
	// maxPluginUIDBase keeps plugin uids, ATRIUM_PLUGIN_UID_BASE plus up to
	// 1000, below the kernel's (uid_t) -1.
	maxPluginUIDBase = 1<<31 - 1 - 1000
)

func (c Config) validatePluginLimits() error {
	switch c.PluginLimits {
	case "auto", "cgroup2", "cgroup1", "rlimit", "off":
	default:
		return fmt.Errorf("ATRIUM_PLUGIN_LIMITS=%q: want auto, cgroup2, cgroup1, rlimit or off", c.PluginLimits)
	}
	if c.PluginMemoryBytes != 0 && c.PluginMemoryBytes < minPluginMemory {
		return fmt.Errorf("ATRIUM_PLUGIN_MEMORY_BYTES=%d: must be 0 (unbounded) or at least %d (64 MiB)", c.PluginMemoryBytes, minPluginMemory)
	}
	if c.PluginCPU != 0 && (c.PluginCPU < 0.01 || c.PluginCPU > 1024) {
		return fmt.Errorf("ATRIUM_PLUGIN_CPU=%g: must be 0 (unbounded) or between 0.01 and 1024 CPUs", c.PluginCPU)
	}
	if c.PluginProcesses != 0 && (c.PluginProcesses < minPluginProcesses || c.PluginProcesses > 1<<22) {
		return fmt.Errorf("ATRIUM_PLUGIN_PROCESSES=%d: must be 0 (unbounded) or between %d and %d", c.PluginProcesses, minPluginProcesses, 1<<22)
	}
	if c.PluginUIDBase != 0 && (c.PluginUIDBase < 1000 || c.PluginUIDBase > maxPluginUIDBase) {
		return fmt.Errorf("ATRIUM_PLUGIN_UID_BASE=%d: must be 0 (plugins keep atriumd's uid) or between 1000 and %d", c.PluginUIDBase, maxPluginUIDBase)
	}
	if !filepath.IsAbs(c.PluginRunDir) || filepath.Clean(c.PluginRunDir) == "/" {
		return fmt.Errorf("ATRIUM_PLUGIN_RUN_DIR=%q: want an absolute path below /", c.PluginRunDir)
	}
	return nil
}

func (c Config) validateBlobURL() error {
	if err := checkURL("ATRIUM_BLOB_URL", c.BlobURL, "s3", "file"); err != nil {
		return err
	}
	u, _ := url.Parse(c.BlobURL)
	if u.Scheme == "s3" && u.Host == "" {
		return fmt.Errorf("ATRIUM_BLOB_URL=%q: s3 URLs name a bucket, as in s3://bucket?region=eu-west-1", c.BlobURL)
	}
	if u.Scheme == "file" && u.Host+u.Path == "" {
		return fmt.Errorf("ATRIUM_BLOB_URL=%q: file URLs name a directory: file:///var/lib/atrium/blobs", c.BlobURL)
	}
	return nil
}

// checkURL never echoes the URL itself: it may hold a password.
func checkURL(name, raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: not a URL", name)
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return nil
		}
	}
	return fmt.Errorf("%s: scheme %q not supported, want one of %s", name, u.Scheme, strings.Join(schemes, ", "))
}

// ParseLevel maps ATRIUM_LOG_LEVEL to a slog level.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("ATRIUM_LOG_LEVEL=%q: want debug, info, warn or error", s)
}

// Variable is one environment variable Config reads, with its default
// ("" when it has none).
type Variable struct{ Name, Default string }

// Variables lists the environment variables Config reads, in field order,
// for usage text: the struct tags are the one list.
func Variables() []Variable {
	var out []Variable
	for f := range reflect.TypeFor[Config]().Fields() {
		if name := f.Tag.Get("env"); name != "" {
			def := f.Tag.Get("envDefault")
			if def == "" { // a default derived from other settings, described
				def = f.Tag.Get("default")
			}
			out = append(out, Variable{Name: name, Default: def})
		}
	}
	return out
}
