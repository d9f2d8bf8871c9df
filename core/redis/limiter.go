package redis

import (
	"context"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/atriumhq/atrium/core/identity"
)

// Limiter is identity.Limiter over Redis, so every replica counts against
// one limit: fixed windows, one atomic script per attempt.
type Limiter struct {
	rdb    *goredis.Client
	prefix string
	limit  int64
	window time.Duration
	// fallback counts while Redis is unreachable: a per-replica limit
	// beats both refusing every sign-in and allowing every guess.
	fallback identity.Limiter
	log      *slog.Logger
}

var _ identity.Limiter = (*Limiter)(nil)

// NewLimiter allows limit attempts per key in each window; keys are stored
// under prefix.
func NewLimiter(rdb *goredis.Client, prefix string, limit int, window time.Duration, fallback identity.Limiter, log *slog.Logger) *Limiter {
	return &Limiter{rdb: rdb, prefix: prefix, limit: int64(limit), window: window, fallback: fallback, log: log}
}

// take counts an attempt and returns the count and the window's remaining
// milliseconds. The expiry is set with the first attempt only, so a window
// has a fixed end; a key left without one (never expected) gets one.
var take = goredis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// Take implements identity.Limiter.
func (l *Limiter) Take(ctx context.Context, key string) (time.Duration, error) {
	res, err := take.Run(ctx, l.rdb, []string{l.prefix + key}, l.window.Milliseconds()).Int64Slice()
	if err == nil && len(res) != 2 {
		err = goredis.Nil
	}
	if err != nil {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		l.log.WarnContext(ctx, "rate limiter: redis unavailable, counting in process", "error", err)
		return l.fallback.Take(ctx, key)
	}
	if res[0] > l.limit {
		return max(time.Duration(res[1])*time.Millisecond, time.Millisecond), nil
	}
	return 0, nil
}

// Reset implements identity.Limiter.
func (l *Limiter) Reset(ctx context.Context, key string) error {
	_ = l.fallback.Reset(ctx, key)
	return l.rdb.Del(ctx, l.prefix+key).Err()
}
