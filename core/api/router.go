package api

import (
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/core/tenancy"
)

// RouterOptions configure a Router.
type RouterOptions struct {
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	Tracer       trace.TracerProvider
	MaxBodyBytes int64
	// RequestTimeout bounds each request but those of routes with a
	// Timeout of their own; 0 leaves them unbounded.
	RequestTimeout time.Duration
	Version        string // the API version the OpenAPI document reports
	// TenantMaxRequests bounds the requests of one tenant served at once
	// (tenantGate); a request past it waits its turn at most
	// TenantQueueTimeout, then gets a 503. 0 leaves tenants unbounded.
	TenantMaxRequests  int
	TenantQueueTimeout time.Duration
	// Auth and UnitOfWork serve Operator and Tenant routes; a router with
	// public routes only may leave them nil.
	Auth       Authenticator
	UnitOfWork kernel.Transactor
	// Authz checks Tenant routes' permissions; nil allows every signed-in user.
	Authz Authorizer
	// Lists filters plugins' lists by the tenant's policy; nil fails them.
	Lists ListFilter
	// Audit records mutations, refusals and failures of Tenant routes; nil
	// records nothing (tests of the router alone).
	Audit audit.Recorder
	// TenantAudit records operators' changes to tenants in their logs.
	TenantAudit TenantAudit
	// Plugins routes /api/v1/<plugin>/... to running plugins, which the
	// services serve; nil mounts no plugin routes.
	Plugins        Plugins
	PluginServices pluginhost.Services
	// TrustedProxies may set the client's address (X-Forwarded-For).
	TrustedProxies []string
	// RateLimiter keeps tenants to their rate_limit setting; nil: no limits.
	RateLimiter tenancy.RequestLimiter
}

// Router is the HTTP handler of atriumd: gin underneath, plus the list of
// declared routes the OpenAPI document is built from.
type Router struct {
	engine  *gin.Engine
	version string
	auth    Authenticator
	uow     kernel.Transactor
	authz   Authorizer
	lists   ListFilter
	audit   audit.Recorder
	// tenantAudit records operator routes' changes to tenants
	tenantAudit TenantAudit
	log         *slog.Logger

	plugins        Plugins
	pluginServices pluginhost.Services

	maxBody int64
	limits  map[string]int64 // method and route template -> body limit

	timeout  time.Duration
	timeouts map[string]time.Duration // method and route template -> timeout

	inflight *inflight // for shutdown
	gate     *tenantGate
	rates    *tenantRates

	mu     sync.Mutex
	routes []Route
	doc    []byte // cached OpenAPI JSON; nil when routes changed
	docKey string // the plugins (name@version) doc describes
}

// NewRouter builds the engine with the middleware every route relies on.
// The order matters: the request ID and trace come first so every later line
// carries them; observe wraps recovery so a panic is logged and counted as the
// 500 it became.
func NewRouter(o RouterOptions) *Router {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	// Client IPs come from the socket but behind the proxies trusted
	// (validated by config; nil trusts none).
	_ = e.SetTrustedProxies(o.TrustedProxies)
	e.Use(
		withRequestID(),
		withTracing(o.Tracer),
		observe(o.Logger, newHTTPMetrics(o.Registerer)),
		recovery(),
	)
	r := &Router{engine: e, version: o.Version, auth: o.Auth, uow: o.UnitOfWork, authz: o.Authz, lists: o.Lists, audit: o.Audit, tenantAudit: o.TenantAudit, log: o.Logger, plugins: o.Plugins, pluginServices: o.PluginServices, maxBody: o.MaxBodyBytes, limits: map[string]int64{},
		timeout: o.RequestTimeout, timeouts: map[string]time.Duration{}, inflight: newInflight(),
		gate: newTenantGate(o.TenantMaxRequests, o.TenantQueueTimeout, o.Registerer), rates: newTenantRates(o.RateLimiter, o.Registerer)}
	e.Use(r.inflight.track(r.requestTimeout), limitBody(r.bodyLimit))
	e.NoRoute(func(c *gin.Context) {
		if r.servePlugin(c) {
			return
		}
		writeError(c, kernel.E(kernel.KindNotFound, "no route for %s %s", c.Request.Method, c.Request.URL.Path))
	})
	e.NoMethod(func(c *gin.Context) { writeError(c, errMethodNotAllowed(c.Request.Method)) })
	return r
}

// Abandon ends the requests still running at the shutdown's drain
// deadline: each gets 503 unless its unit of work already began to commit,
// and none commits after. It returns how many it abandoned.
func (r *Router) Abandon() int { return r.inflight.abandon() }

// Handle mounts routes. Call it before serving; the OpenAPI document is
// rebuilt on its next request.
func (r *Router) Handle(routes ...Route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rt := range routes {
		if rt.Access != Public && (r.auth == nil || r.uow == nil) {
			panic("api: route " + rt.Path + " needs an authenticator and a unit of work")
		}
		if rt.Access == Tenant && rt.Handler.direct {
			panic("api: route " + rt.Path + ": a Raw handler would answer before its unit of work commits")
		}
		if rt.MaxBodyBytes > 0 {
			r.limits[rt.Method+" "+rt.Path] = rt.MaxBodyBytes
		}
		if rt.Timeout != 0 {
			r.timeouts[rt.Method+" "+rt.Path] = rt.Timeout
		}
		r.engine.Handle(rt.Method, rt.Path, func(c *gin.Context) {
			if rt.Quiet {
				c.Set(ctxQuiet, true)
			}
			r.run(c, rt)
		})
		r.routes = append(r.routes, rt)
	}
	r.doc = nil
}

// bodyLimit is the route's own body limit, else the router's. The map is
// written only while routes are mounted, before serving.
func (r *Router) bodyLimit(c *gin.Context) int64 {
	if n, ok := r.limits[c.Request.Method+" "+c.FullPath()]; ok {
		return n
	}
	return r.maxBody
}

// requestTimeout is the route's own timeout, else the router's; 0 or less
// is none.
func (r *Router) requestTimeout(c *gin.Context) time.Duration {
	if len(r.timeouts) > 0 {
		if d, ok := r.timeouts[c.Request.Method+" "+c.FullPath()]; ok {
			return d
		}
	}
	return r.timeout
}

// ServeHTTP implements http.Handler.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.engine.ServeHTTP(w, req)
}
