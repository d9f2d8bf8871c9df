package redis

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/health"
	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/core/tenancy"
)

// Module provides the Redis client when REDIS_URL is set (nil otherwise:
// its users keep their state in process), its readiness check, and the
// sign-in Limiter and the plugins' cache: over Redis when configured, in
// process otherwise.
var Module = fx.Module("redis",
	fx.Provide(
		newClient,
		fx.Annotate(readiness, fx.ResultTags(`group:"readiness,flatten"`)),
		fx.Annotate(newLimiter, fx.As(new(identity.Limiter))),
		fx.Annotate(newCache, fx.As(new(pluginhost.Cache))),
		newRequestLimiter,
	),
)

// keyPrefix namespaces Atrium's keys in a shared Redis.
const keyPrefix = "atrium:"

func newClient(lc fx.Lifecycle, cfg config.Config, reg *prometheus.Registry, log *slog.Logger) (*goredis.Client, error) {
	if cfg.RedisURL == "" {
		return nil, nil
	}
	routeLogs(log)
	c, err := New(cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	reg.MustRegister(Monitor(c))
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			err := Ping(ctx, c)
			var refused goredis.Error
			switch {
			case err == nil:
			case errors.As(err, &refused):
				// It answered and refused us (a password, a database
				// number): a configuration mistake, said at start.
				_ = c.Close() // fx runs no OnStop for a hook whose OnStart failed
				return err
			default:
				// Redis is optional while serving, so at start too: a
				// replica restarted during a Redis outage serves, degraded.
				log.Warn("Redis does not answer; starting degraded: caches and sign-in rate limits are kept in process until it does", "error", err)
			}
			return nil
		},
		OnStop: func(context.Context) error { return c.Close() },
	})
	return c, nil
}

// readiness reports Redis only where it is configured, as optional: its
// users fall back in process, so Redis down degrades a replica, and must
// not take every replica out of the load balancer at once.
func readiness(c *goredis.Client) []health.Check {
	if c == nil {
		return nil
	}
	return []health.Check{{Name: "redis", Optional: true, Probe: func(ctx context.Context) error { return c.Ping(ctx).Err() }}}
}

// newCache is the plugins' cache: in Redis when configured (in process
// while it is down), in process otherwise.
func newCache(c *goredis.Client) pluginhost.Cache {
	local := pluginhost.NewMemoryCache(100_000)
	if c == nil {
		return local
	}
	return NewCache(c, keyPrefix+"cache:", local)
}

// newRequestLimiter keeps tenants to their request rate limits: in Redis
// when configured (in process while it is down), in process otherwise.
func newRequestLimiter(c *goredis.Client, log *slog.Logger, reg *prometheus.Registry) tenancy.RequestLimiter {
	local := tenancy.NewMemoryRequestLimiter(100_000)
	if c == nil {
		return local
	}
	return NewRequestLimiter(c, keyPrefix+"tenantrate:", local, log, reg)
}

func newLimiter(c *goredis.Client, cfg config.Config, log *slog.Logger) identity.Limiter {
	local := identity.NewMemoryLimiter(cfg.LoginRateLimit, cfg.LoginRateWindow, kernel.SystemClock{})
	if c == nil {
		return local
	}
	return NewLimiter(c, keyPrefix+"ratelimit:", cfg.LoginRateLimit, cfg.LoginRateWindow, local, log)
}
