package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/audit"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/health"
	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/tenancy"
	"github.com/atriumhq/atrium/migrations"
)

// Module provides the shared pool. On start it proves the database reachable
// and migrates the platform schema; on stop it closes the pool.
var Module = fx.Module("postgres",
	fx.Provide(
		newPool,
		fx.Annotate(readiness, fx.ResultTags(`group:"readiness"`)),
		fx.Annotate(NewUnitOfWork, fx.As(fx.Self()), fx.As(new(kernel.Transactor))),
		func() (*MigrationSet, error) { return LoadMigrations("core", migrations.Tenant, "tenant") },
		fx.Annotate(NewTenantStore, fx.As(fx.Self()), fx.As(new(tenancy.Store))),
		fx.Annotate(NewAuditStore, fx.As(fx.Self()), fx.As(new(audit.Store))),
		fx.Annotate(NewKeyStore, fx.As(new(identity.KeyStore))),
		fx.Annotate(NewOperatorStore, fx.As(new(identity.OperatorStore))),
		fx.Annotate(func() UserStore { return UserStore{} }, fx.As(new(identity.UserStore))),
		fx.Annotate(func() DirectoryStore { return DirectoryStore{} }, fx.As(new(identity.DirectoryStore))),
		fx.Annotate(func() ServiceAccountStore { return ServiceAccountStore{} }, fx.As(new(identity.ServiceAccountStore))),
		fx.Annotate(func() RoleStore { return RoleStore{} }, fx.As(new(access.RoleStore))),
		newListener,
		newPluginConns,
	),
	fx.Invoke(rolloutOnStart, preloadKeys),
)

// preloadKeys reads the installation's secret and ID at start, once the
// platform schema is migrated: no request then waits for a connection of
// its own to derive a key or name a plugin's role (inside a unit of work,
// which holds one already, that wait could last as long as the pool is
// exhausted by requests doing the same).
func preloadKeys(lc fx.Lifecycle, ts *TenantStore, as *AuditStore) {
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		if _, err := ts.keys.load(ctx, nil); err != nil {
			return fmt.Errorf("read the installation's secret: %w", err)
		}
		if _, err := ts.Installation(ctx); err != nil {
			return fmt.Errorf("read the installation's ID: %w", err)
		}
		_, err := as.keys.load(ctx, nil)
		return err
	}))
}

// newPluginConns are the plugins' connections, bounded like the core's
// pool, each statement by the plugin call's timeout. At start it reports
// plugin roles that hold more than a plugin may.
func newPluginConns(lc fx.Lifecycle, pool *pgxpool.Pool, ts *TenantStore, cfg config.Config, log *slog.Logger) *PluginConns {
	c := NewPluginConns(pool, ts.keys, ts.Installation,
		PluginConnOptions{MaxConns: int(cfg.DBMaxConns), StatementTimeout: cfg.PluginTimeout, AcquireTimeout: cfg.DBAcquireTimeout}, log)
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error { return CheckPluginRoles(ctx, pool, log) },
		OnStop:  func(context.Context) error { c.Close(); return nil },
	})
	return c
}

// rolloutOnStart brings every tenant schema up to this binary's migrations
// once the platform schema is migrated. A tenant that fails is logged and
// counted (atrium_tenant_migrations_*), not fatal: one broken tenant must
// not keep the others offline. `atriumd migrate` does the same on demand.
func rolloutOnStart(lc fx.Lifecycle, pool *pgxpool.Pool, core *MigrationSet, reg *prometheus.Registry, log *slog.Logger) {
	r := NewRollout(pool, []*MigrationSet{core}, RolloutOptions{Registerer: reg})
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		sum, err := r.Run(ctx, nil)
		if err != nil {
			return fmt.Errorf("tenant migrations: %w", err)
		}
		for _, f := range sum.Failed {
			log.Error("tenant migration failed", "tenant", f.Tenant, "component", f.Component, "error", f.Err)
		}
		if sum.Migrated > 0 || len(sum.Failed) > 0 || len(sum.Skipped) > 0 {
			log.Info("tenant migrations", "tenants", sum.Tenants, "migrated", sum.Migrated, "failed", len(sum.Failed),
				"skipped", len(sum.Skipped), "duration_ms", sum.Duration.Milliseconds())
		}
		return nil
	}))
}

func newListener(lc fx.Lifecycle, direct DirectPool, reg *prometheus.Registry, log *slog.Logger) *Listener {
	l := NewListener(direct.Pool, log)
	reg.MustRegister(l.Collectors()...)
	lc.Append(fx.Hook{OnStart: l.Start, OnStop: l.Stop})
	return l
}

func readiness(pool *pgxpool.Pool) health.Check {
	return health.Check{Name: "database", Probe: pool.Ping}
}

// DirectPool reaches PostgreSQL itself, for what a transaction pooler
// cannot carry: the change listener's LISTEN and the platform schema's
// migrations (a session advisory lock, settings at connection start). It is
// the shared pool unless ATRIUM_DATABASE_DIRECT_URL is set.
type DirectPool struct{ *pgxpool.Pool }

// NewPools returns the shared pool for cfg and the direct one (the same
// pool when DATABASE_URL reaches PostgreSQL itself). Neither has dialled yet.
// Queries, when set, observes the shared pool's statements' durations.
func NewPools(cfg config.Config, acquireTimeout time.Duration, queries prometheus.Observer) (*pgxpool.Pool, DirectPool, error) {
	pooled := cfg.DatabaseDirectURL != ""
	pool, err := NewPool(cfg.DatabaseURL, PoolOptions{MaxConns: cfg.DBMaxConns, AcquireTimeout: acquireTimeout, TransactionPooler: pooled,
		Queries: queries})
	if err != nil {
		return nil, DirectPool{}, err
	}
	if !pooled {
		return pool, DirectPool{pool}, nil
	}
	// The listener's connection is its own; migrations take two at most.
	direct, err := NewPool(cfg.DatabaseDirectURL, PoolOptions{MaxConns: 2, AcquireTimeout: acquireTimeout})
	if err != nil {
		pool.Close()
		return nil, DirectPool{}, fmt.Errorf("ATRIUM_DATABASE_DIRECT_URL: %w", err)
	}
	return pool, DirectPool{direct}, nil
}

func newPool(lc fx.Lifecycle, cfg config.Config, reg *prometheus.Registry, log *slog.Logger) (*pgxpool.Pool, DirectPool, error) {
	queries := NewQueryDurations()
	pool, direct, err := NewPools(cfg, cfg.DBAcquireTimeout, queries)
	if err != nil {
		return nil, DirectPool{}, err
	}
	reg.MustRegister(queries)
	closeAll := func() {
		pool.Close()
		if direct.Pool != pool {
			direct.Close()
		}
	}
	reg.MustRegister(NewPoolCollector(pool))
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			err := Ping(ctx, pool)
			if err == nil && direct.Pool != pool {
				err = Ping(ctx, direct.Pool)
			}
			if err == nil {
				err = MigrateSchema(ctx, direct.Pool, migrations.Core, "core", PlatformSchema, log)
			}
			if err != nil {
				closeAll() // fx runs no OnStop for a hook whose OnStart failed
			}
			return err
		},
		OnStop: func(context.Context) error {
			closeAll()
			return nil
		},
	})
	return pool, direct, nil
}
