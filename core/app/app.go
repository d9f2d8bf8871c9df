// Package app turns a validated configuration into Atrium's fx graph. It is
// the one place that knows every module; nothing imports it but cmd/atriumd
// and tests that start the whole core.
package app

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/blob"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/core/postgres"
	"github.com/atriumhq/atrium/core/redis"
	"github.com/atriumhq/atrium/core/telemetry"
	"github.com/atriumhq/atrium/core/tenancy"
	"github.com/atriumhq/atrium/sdk"
)

// Options is the whole graph for cfg, logging to log. Tests add
// fx.Replace/fx.Decorate options after it.
func Options(cfg config.Config, log *slog.Logger) fx.Option {
	return fx.Options(
		fx.Supply(cfg, log),
		fx.WithLogger(func() fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log}
			l.UseLogLevel(slog.LevelDebug)
			// atriumd reports a failed start once, as its exit line.
			l.UseErrorLevel(slog.LevelDebug)
			return l
		}),
		// The readiness delay comes before the drain's own timeout.
		fx.StopTimeout(cfg.ReadinessDelay+cfg.ShutdownTimeout),
		fx.Provide(
			telemetry.NewRegistry,
			func(r *prometheus.Registry) prometheus.Gatherer { return r },
			newTracing,
		),
		api.Module,
		postgres.Module,
		tenancy.Module,
		identity.Module,
		access.Module,
		audit.Module,
		pluginhost.Module,
		blob.Module,
		redis.Module,
		// Contexts meet through interfaces; the wiring says who implements which.
		fx.Provide(
			fx.Annotate(func(a *identity.Authenticator) *identity.Authenticator { return a }, fx.As(new(api.Authenticator))),
			fx.Annotate(func(r *tenancy.Resolver) *tenancy.Resolver { return r }, fx.As(new(identity.TenantResolver))),
			fx.Annotate(func(p *identity.Passwords) *identity.Passwords { return p }, fx.As(new(tenancy.PasswordHasher))),
			fx.Annotate(func() postgres.UserRefreshStore { return postgres.UserRefreshStore{} }, fx.As(new(identity.UserRefreshStore))),
			fx.Annotate(postgres.NewOperatorRefreshStore, fx.As(new(identity.OperatorRefreshStore))),
			func(s blob.Store) tenancy.BackupStore { return backupStore{s} },
			func(s blob.Store) audit.CheckpointStore { return checkpointStore{s} },
			func(ts *postgres.TenantStore) audit.TenantLister { return ts.Scopes },
			func(ts *postgres.TenantStore) audit.Secret { return ts.Secret },
			// audit.Registerer and pluginhost.Registerer are this one type.
			func(r *prometheus.Registry) prometheus.Registerer { return r },
			fx.Annotate(func(t *identity.Tokens) *identity.Tokens { return t }, fx.As(new(audit.Signer))),
			func(r *tenancy.Resolver, l *audit.Log) api.TenantAudit { return tenantAudit{r, l} },
			fx.Annotate(func(r *tenancy.Resolver) *tenancy.Resolver { return r }, fx.As(new(api.AuditTenants))),
			fx.Annotate(postgres.NewPluginCatalog, fx.As(new(pluginhost.Catalog))),
			fx.Annotate(postgres.NewPluginMigrator, fx.As(new(pluginhost.Migrator))),
			func(c *postgres.PluginConns) pluginhost.SQL { return postgres.PluginSQL{Conns: c} },
			func(reg *access.Registry, res *access.Resolver) pluginhost.Permissions {
				return pluginPermissions{reg, res}
			},
			func(s blob.Store) pluginhost.Blobs { return pluginBlobs{s} },
			fx.Annotate(func(h *pluginhost.Host) *pluginhost.Host { return h }, fx.As(new(api.Plugins))),
			fx.Annotate(func(a *access.Authorizer) *access.Authorizer { return a }, fx.As(new(api.Authorizer))),
			fx.Annotate(func(l *access.Lists) *access.Lists { return l }, fx.As(new(api.ListFilter))),
			fx.Annotate(func(r *access.Roles) *access.Roles { return r }, fx.As(new(identity.RoleChecker))),
			func() (*opa.Engine, error) { return opa.New(opa.Options{}) },
			func(e *opa.Engine, uow kernel.Transactor) *policy.Service {
				return policy.NewService(postgres.PolicyStore{}, e, uow, kernel.SystemClock{})
			},
			newShadows,
			// Every decision: the base policy's RBAC refined by the tenant's
			// Rego, and compared with its shadow version, if any.
			func(e *opa.Engine, s *policy.Shadows) access.Decider { return opa.NewDecider(e, s).WithRehearser(s) },
			func(s identity.DirectoryStore, roles identity.RoleChecker, p *identity.Passwords, ts tenancy.Store, st *identity.Standings,
				res *access.Resolver) *identity.Directory {
				// A user's new roles apply to their next request here, not
				// when the notification comes back.
				return identity.NewDirectory(s, roles, p, kernel.SystemClock{}, ts.Secret).WithStandings(st).OnChange(res.Invalidate)
			},
			func(s identity.ServiceAccountStore, roles identity.RoleChecker, ts tenancy.Store, res *access.Resolver) *identity.ServiceAccounts {
				return identity.NewServiceAccounts(s, roles, kernel.SystemClock{}, ts.Secret).OnChange(res.Invalidate)
			},
			func(s identity.ServiceAccountStore, tenants identity.TenantResolver, uow kernel.Transactor, log *slog.Logger) *identity.ServiceKeys {
				return identity.NewServiceKeys(s, tenants, uow, kernel.SystemClock{}, log)
			},
		),
		// Tenants that enable a plugin get its migrations; a change to a
		// tenant (a restore revokes its sessions) empties its caches here.
		fx.Decorate(func(s *tenancy.Service, h *pluginhost.Host, r *tenancy.Resolver, st *identity.Standings, pc *postgres.PluginConns) *tenancy.Service {
			return s.WithPlugins(h).OnChange(func(id uuid.UUID) {
				pc.Forget(id) // a restore or delete drops the tenant's plugin roles
				if id == uuid.Nil {
					r.InvalidateAll()
					st.ForgetAll()
					return
				}
				r.Invalidate(id)
				st.ForgetTenant(id)
			})
		}),
		// Tenant users' standing is remembered, and forgotten on revocation.
		fx.Provide(func() *identity.Standings { return identity.NewStandings(50_000, 30*time.Second) }),
		fx.Decorate(
			func(a *identity.Authenticator, s *identity.Standings, k *identity.ServiceKeys) *identity.Authenticator {
				return a.WithStandings(s).WithServiceKeys(k)
			},
			func(in identity.SignIn, s *identity.Standings) identity.SignIn { in.Standings = s; return in },
		),
		fx.Invoke(invalidateOnChange, invalidatePoliciesOnChange, invalidateTenantsOnChange, postgres.AuditTenantChanges, syncPluginsOnChange),
		fx.Invoke(registerCacheMetrics),
		fx.Invoke(api.Serve), // last: see api.Serve
	)
}

// newShadows runs tenants' shadow policy versions for the app's lifetime.
func newShadows(lc fx.Lifecycle, s *policy.Service, log *slog.Logger, reg prometheus.Registerer) *policy.Shadows {
	sh := policy.NewShadows(s, postgres.PolicyStore{}, log, reg, policy.ShadowOptions{})
	lc.Append(fx.StartStopHook(sh.Start, sh.Stop))
	return sh
}

// New builds the application for cfg.
func New(cfg config.Config, log *slog.Logger) *fx.App {
	return fx.New(Options(cfg, log))
}

// Harness builds the whole core for cfg with plugins run in-process, for
// test harnesses (sdk/plugintest): start and stop it with the app's Start
// and Stop; the server says where it listens once started.
func Harness(cfg config.Config, log *slog.Logger, plugins ...sdk.Plugin) (*fx.App, *api.Server, error) {
	var srv *api.Server
	a := fx.New(Options(cfg, log),
		fx.Provide(fx.Annotate(func() pluginhost.AttachedPlugins { return plugins }, fx.ResultTags(`group:"attached_plugins"`))),
		fx.Populate(&srv))
	return a, srv, a.Err()
}

// NewLogger is the process logger at cfg's level, JSON on w.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	level, _ := config.ParseLevel(cfg.LogLevel) // validated by config.Parse
	return telemetry.NewLogger(w, level)
}

func newTracing(lc fx.Lifecycle) (trace.TracerProvider, error) {
	t, err := telemetry.NewTracing(context.Background(), "atriumd")
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(t.Shutdown))
	return t.Provider, nil
}
