package api

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/buildinfo"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/health"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/core/tenancy"
)

// Module provides the router and the HTTP server, and mounts every route
// contributed to the "routes" value group.
var Module = fx.Module("api",
	fx.Provide(
		newRouter,
		newServer,
		func() *Lameduck { return new(Lameduck) },
		fx.Annotate(func(l *Lameduck) health.Check { return l.Check() }, fx.ResultTags(`group:"readiness"`)),
		fx.Annotate(TenantRoutes, fx.ResultTags(`group:"routes"`)),
		fx.Annotate(LoginRoutes, fx.ResultTags(`group:"routes"`)),
		fx.Annotate(UserRoutes, fx.ResultTags(`group:"routes"`)),
		fx.Annotate(ServiceAccountRoutes, fx.ResultTags(`group:"routes"`)),
		fx.Annotate(RoleRoutes, fx.ResultTags(`group:"routes"`)),
		fx.Annotate(PolicyRoutes, fx.ResultTags(`group:"routes"`)),
		fx.Annotate(PolicyShadowRoutes, fx.ResultTags(`group:"routes"`)),
		fx.Annotate(BreakGlassRoutes, fx.ResultTags(`group:"routes"`)),
		fx.Annotate(AuditRoutes, fx.ResultTags(`group:"routes"`)),
		fx.Annotate(PluginRoutes, fx.ResultTags(`group:"routes"`)),
	),
	fx.Invoke(mountRoutes),
)

// RoutesParams collects the routes contexts contribute.
type RoutesParams struct {
	fx.In
	Router   *Router
	Registry *prometheus.Registry
	Logger   *slog.Logger
	Checks   []health.Check `group:"readiness"`
	Routes   [][]Route      `group:"routes"`
}

// RouterParams are the router's dependencies.
type RouterParams struct {
	fx.In
	Config         config.Config
	Logger         *slog.Logger
	Registry       *prometheus.Registry
	Tracer         trace.TracerProvider
	Auth           Authenticator
	UnitOfWork     kernel.Transactor
	Authz          Authorizer
	Lists          ListFilter     `optional:"true"`
	Audit          audit.Recorder `optional:"true"`
	TenantAudit    TenantAudit    `optional:"true"`
	Plugins        Plugins        `optional:"true"`
	PluginServices pluginhost.Services
	RateLimiter    tenancy.RequestLimiter `optional:"true"`
}

func newRouter(p RouterParams) *Router {
	cfg, log, reg, tp := p.Config, p.Logger, p.Registry, p.Tracer
	return NewRouter(RouterOptions{
		Auth:           p.Auth,
		Authz:          p.Authz,
		Lists:          p.Lists,
		Audit:          p.Audit,
		TenantAudit:    p.TenantAudit,
		Plugins:        p.Plugins,
		PluginServices: p.PluginServices,
		RateLimiter:    p.RateLimiter,
		TrustedProxies: cfg.TrustedProxies,
		UnitOfWork:     p.UnitOfWork,
		Logger:         log,
		Registerer:     reg,
		Tracer:         tp,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		RequestTimeout: cfg.RequestTimeout,
		Version:        buildinfo.Version,

		TenantMaxRequests:  cfg.TenantMaxRequests,
		TenantQueueTimeout: cfg.TenantQueueTimeout,
	})
}

func newServer(lc fx.Lifecycle, cfg config.Config, r *Router, lame *Lameduck, log *slog.Logger) *Server {
	s := NewServer(cfg.HTTPAddr, r, log).WithReadinessDelay(lame, cfg.ReadinessDelay)
	lc.Append(fx.Hook{OnStart: s.Start, OnStop: func(ctx context.Context) error { return s.Stop(ctx) }})
	return s
}

// Serve starts the HTTP server. Invoke it last, after every other module:
// fx runs start hooks in the order they were added, so the server then
// listens only once everything it serves is ready.
func Serve(*Server) {}

func mountRoutes(p RoutesParams) {
	p.Router.Handle(OperationalRoutes(p.Router, p.Registry, p.Checks, p.Logger)...)
	for _, rs := range p.Routes {
		p.Router.Handle(rs...)
	}
}
