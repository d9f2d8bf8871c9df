// Package redis is Atrium's Redis infrastructure: the client REDIS_URL
// names, its readiness check, and state replicas must share (the sign-in
// rate limiter). Without REDIS_URL the same state is kept per process.
package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// New returns a client for url (redis://, rediss:// or unix://). It does
// not connect: Ping does, at start.
func New(url string) (*goredis.Client, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		var uerr *neturl.Error
		if errors.As(err, &uerr) { // it quotes the URL, password and all
			err = uerr.Err
		}
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	// A request waits on Redis at most about this long (and, once it
	// failed, not at all for a moment: Monitor); callers fall back.
	opts.DialTimeout = time.Second
	opts.ReadTimeout, opts.WriteTimeout, opts.MaxRetries, opts.DialerRetries = time.Second, time.Second, 1, 1
	return goredis.NewClient(opts), nil
}

// Ping proves the server answers, naming it (without credentials) if not.
func Ping(ctx context.Context, c *goredis.Client) error {
	if err := c.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w", c.Options().Addr, err)
	}
	return nil
}

var setLogger sync.Once

// routeLogs sends go-redis's own messages (dial failures) to log, at debug:
// failures that matter surface as errors of the calls. go-redis has one
// process-wide logger, so the first caller's log wins.
func routeLogs(log *slog.Logger) {
	setLogger.Do(func() { goredis.SetLogger(slogPrintf{log}) })
}

type slogPrintf struct{ log *slog.Logger }

func (l slogPrintf) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}
