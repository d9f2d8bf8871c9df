package pluginhost

import (
	"context"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/health"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/sdk/transport"
)

// ModuleParams are the host's dependencies; Attached plugins (tests,
// sdk/plugintest) are optional.
type ModuleParams struct {
	fx.In
	Config      config.Config
	Catalog     Catalog
	Permissions Permissions
	Migrator    Migrator
	Logger      *slog.Logger
	Metrics     Registerer
	Attached    []AttachedPlugins `group:"attached_plugins"`
}

// Module provides the plugin host and its readiness check; the host starts
// its plugins on start (after the database is migrated), then registers the
// plugin directory's new binaries when configured to, and stops them on
// stop.
var Module = fx.Module("pluginhost",
	fx.Provide(
		newHost,
		fx.Annotate(func(h *Host) health.Check { return h.Readiness() }, fx.ResultTags(`group:"readiness"`)),
		func(sql SQL, cache Cache, blobs Blobs, tp trace.TracerProvider) Services {
			return Services{SQL: sql, Cache: cache, Blobs: blobs, CacheStats: new(kernel.CacheStats), Tracer: tp.Tracer("github.com/atriumhq/atrium/core/pluginhost")}
		},
	),
)

func newHost(lc fx.Lifecycle, p ModuleParams) *Host {
	var attached []AttachedPlugin
	for _, a := range p.Attached {
		attached = append(attached, a...)
	}
	c := p.Config
	h := New(Options{
		Env: pluginEnv(os.Environ()),
		Limits: transport.Limits{
			Mechanism: transport.Mechanism(c.PluginLimits), MemoryBytes: c.PluginMemoryBytes, CPU: c.PluginCPU,
			Processes: c.PluginProcesses, UIDBase: c.PluginUIDBase, RunDir: c.PluginRunDir,
		},
		Catalog: p.Catalog, Permissions: p.Permissions, Migrator: p.Migrator, Dir: p.Config.PluginDir,
		StartTimeout: p.Config.PluginStartTimeout, CallTimeout: p.Config.PluginTimeout,
		Logger: p.Logger, Metrics: p.Metrics, Attached: attached,
	})
	start := func(ctx context.Context) error {
		if err := h.Start(ctx); err != nil || !c.PluginAutoRegister {
			return err
		}
		return h.RegisterDir(ctx)
	}
	lc.Append(fx.Hook{OnStart: start, OnStop: func(ctx context.Context) error { return h.Stop(ctx) }})
	return h
}

// pluginEnv is what plugins get of the core's environment: where to find
// programs, the time zone and the OpenTelemetry settings (so their spans
// reach the same collector); never the core's secrets.
func pluginEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if name == "PATH" || name == "TZ" || otelSetting(name) {
			out = append(out, kv)
		}
	}
	return out
}

// otelSetting tells whether an OpenTelemetry variable is passed on: not
// the service name (a plugin names itself) nor what may hold a credential
// (headers carry collectors' API keys; client keys are private keys).
func otelSetting(name string) bool {
	return strings.HasPrefix(name, "OTEL_") && name != "OTEL_SERVICE_NAME" &&
		!strings.HasSuffix(name, "_HEADERS") && !strings.HasSuffix(name, "_CLIENT_KEY")
}
