package redis

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	goredis "github.com/redis/go-redis/v9"
)

// errDown is what calls get while Redis is taken for down.
var errDown = errors.New("redis: down (a recent call failed); not retried yet")

// downFor is how long after a failure calls fail at once: their callers
// use their in-process fallback instead of each request waiting out dial
// and read timeouts on a Redis that is gone.
const downFor = time.Second

// availability is a client hook that remembers Redis failing, and says so
// in a gauge.
type availability struct {
	downUntil atomic.Int64 // unix nanoseconds; 0 while up
	up        prometheus.Gauge
}

// Monitor has c fail fast for a moment after each failure and returns the
// gauge atrium_redis_up (1 while the last call reached Redis) to register.
func Monitor(c *goredis.Client) prometheus.Gauge {
	a := &availability{up: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "atrium_redis_up",
		Help: "1 while Redis answers; 0 while it is down and caches and rate limits are kept in process.",
	})}
	a.up.Set(1)
	c.AddHook(a)
	return a.up
}

func (a *availability) DialHook(next goredis.DialHook) goredis.DialHook { return next }

func (a *availability) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		if time.Now().UnixNano() < a.downUntil.Load() {
			return errDown
		}
		err := next(ctx, cmd)
		a.observe(ctx, err)
		return err
	}
}

func (a *availability) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		if time.Now().UnixNano() < a.downUntil.Load() {
			for _, cmd := range cmds {
				cmd.SetErr(errDown)
			}
			return errDown
		}
		err := next(ctx, cmds)
		a.observe(ctx, err)
		return err
	}
}

// observe counts an answer (a miss or an error reply included) as up, a
// failure to get one as down; a caller that gave up says nothing.
func (a *availability) observe(ctx context.Context, err error) {
	var reply goredis.Error
	switch {
	case err == nil, errors.Is(err, goredis.Nil), errors.As(err, &reply):
		a.downUntil.Store(0)
		a.up.Set(1)
	case ctx.Err() != nil:
	default:
		a.downUntil.Store(time.Now().Add(downFor).UnixNano())
		a.up.Set(0)
	}
}
