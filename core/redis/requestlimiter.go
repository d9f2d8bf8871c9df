package redis

import (
	"context"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"

	"github.com/atriumhq/atrium/core/tenancy"
)

// RequestLimiter is tenancy.RequestLimiter over Redis, so a tenant's limit
// holds across replicas: GCRA (the token bucket kept as one timestamp, the
// bucket's "theoretical arrival time"), one atomic script per request, on
// Redis's clock. While Redis cannot be reached, each replica limits in
// process (fallback), which it logs and counts: requests are never
// refused for want of Redis.
type RequestLimiter struct {
	rdb       *goredis.Client
	prefix    string
	fallback  tenancy.RequestLimiter
	log       *slog.Logger
	fallbacks prometheus.Counter
	warned    atomic.Int64 // when (unix seconds) the fallback was last logged
}

var _ tenancy.RequestLimiter = (*RequestLimiter)(nil)

// NewRequestLimiter stores buckets under prefix; reg, when set, receives
// its fallback counter.
func NewRequestLimiter(rdb *goredis.Client, prefix string, fallback tenancy.RequestLimiter, log *slog.Logger, reg prometheus.Registerer) *RequestLimiter {
	l := &RequestLimiter{rdb: rdb, prefix: prefix, fallback: fallback, log: log,
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "atrium_rate_limit_fallbacks_total",
			Help: "Tenant request rate decisions made in process because Redis could not be reached.",
		})}
	if reg != nil {
		reg.MustRegister(l.fallbacks)
	}
	return l
}

// gcra takes one request: ARGV are the interval between requests and the
// burst's span (interval times burst), in microseconds. It returns allowed
// (0 or 1), the microseconds until a request is allowed (when refused) and
// until the bucket is full, and the requests remaining.
var gcra = goredis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local span = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local next = tat + interval
local allow_at = next - span
if allow_at > now then
  return {0, allow_at - now, tat - now, 0}
end
redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.ceil((next - now) / 1000) + 1)
return {1, 0, next - now, math.floor((now - allow_at) / interval)}
`)

// Take implements tenancy.RequestLimiter.
func (l *RequestLimiter) Take(ctx context.Context, tenant uuid.UUID, limit tenancy.RateLimit) (tenancy.RateVerdict, error) {
	interval := math.Max(1e6/limit.PerSecond, 1)
	res, err := gcra.Run(ctx, l.rdb, []string{l.prefix + tenant.String()},
		int64(interval), int64(interval*float64(limit.Burst))).Int64Slice()
	if err == nil && len(res) != 4 {
		err = goredis.Nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return tenancy.RateVerdict{}, ctx.Err()
		}
		l.fallbacks.Inc()
		if now := time.Now().Unix(); l.warned.Swap(now) < now-10 { // once in ten seconds at most
			l.log.WarnContext(ctx, "tenant rate limits: redis unavailable, limiting in process", "error", err)
		}
		return l.fallback.Take(ctx, tenant, limit)
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	return tenancy.RateVerdict{Allowed: res[0] == 1, RetryAfter: us(res[1]), Reset: us(res[2]), Remaining: int(res[3])}, nil
}
