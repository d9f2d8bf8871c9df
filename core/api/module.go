package api

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/health"
)

// Module provides the router and the HTTP server, and mounts every route
// contributed to the "routes" value group.
var Module = fx.Module("api",
	fx.Provide(newRouter, newServer),
	// The server is what the graph exists for; invoking it registers its hooks.
	fx.Invoke(mountRoutes, func(*Server) {}),
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

func newRouter(cfg config.Config, log *slog.Logger, reg *prometheus.Registry, tp trace.TracerProvider) *Router {
	return NewRouter(RouterOptions{
		Logger:       log,
		Registerer:   reg,
		Tracer:       tp,
		MaxBodyBytes: cfg.MaxBodyBytes,
		Version:      Version,
	})
}

func newServer(lc fx.Lifecycle, cfg config.Config, r *Router, log *slog.Logger) *Server {
	s := NewServer(cfg.HTTPAddr, r, log)
	lc.Append(fx.Hook{OnStart: s.Start, OnStop: func(ctx context.Context) error { return s.Stop(ctx) }})
	return s
}

func mountRoutes(p RoutesParams) {
	p.Router.Handle(OperationalRoutes(p.Router, p.Registry, p.Checks, p.Logger)...)
	for _, rs := range p.Routes {
		p.Router.Handle(rs...)
	}
}

// Version is the build's version, set by the linker (-X) in release builds.
var Version = "dev"
