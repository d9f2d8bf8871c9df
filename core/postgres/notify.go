package postgres

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// Listener receives PostgreSQL notifications (LISTEN/NOTIFY) on a connection
// of its own and hands their payloads to handlers. It is how replicas learn
// of changes others made. After a lost connection it reconnects with a short
// backoff and calls each handler with Missed, since notifications sent
// meanwhile are gone.
type Listener struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	handlers map[string][]func(payload string)

	reconnects prometheus.Counter
	listening  prometheus.Gauge

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Missed is the payload handlers get when notifications may have been lost.
const Missed = "*"

// Reconnect backoff: every moment without a connection is a moment other
// replicas' changes go unseen, so retries stay frequent; a connection that
// got as far as listening starts the next outage's backoff afresh. The cap
// bounds how late a replica listens again after the database returns, so
// it stays well under the second in which a change must be in force
// everywhere (at 1 s, 944 ms was measured after an outage).
const (
	reconnectFirst = 100 * time.Millisecond
	reconnectMax   = 250 * time.Millisecond
	connectTimeout = 5 * time.Second
)

// NewListener returns a listener; register handlers with On before Start.
func NewListener(pool *pgxpool.Pool, log *slog.Logger) *Listener {
	return &Listener{
		pool: pool, log: log, handlers: map[string][]func(string){},
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "atrium_notify_listener_reconnects_total",
			Help: "Times the change-notification listener listened again after losing its connection.",
		}),
		listening: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "atrium_notify_listener_listening",
			Help: "1 while the change-notification listener is listening, 0 while it is reconnecting.",
		}),
	}
}

// Collectors are the listener's metrics.
func (l *Listener) Collectors() []prometheus.Collector {
	return []prometheus.Collector{l.reconnects, l.listening}
}

// On registers fn for a channel.
func (l *Listener) On(channel string, fn func(payload string)) {
	l.handlers[channel] = append(l.handlers[channel], fn)
}

// Start listens in the background until Stop.
func (l *Listener) Start(context.Context) error {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.done.Go(func() { l.loop(ctx) })
	return nil
}

// Stop ends listening.
func (l *Listener) Stop(context.Context) error {
	if l.cancel != nil {
		l.cancel()
		l.done.Wait()
	}
	return nil
}

func (l *Listener) loop(ctx context.Context) {
	backoff := reconnectFirst
	var lost time.Time // when the connection was lost; zero before the first
	for ctx.Err() == nil {
		listened, err := l.listen(ctx, lost)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = reconnectFirst
			lost = time.Now()
			l.log.Warn("notification listener lost its connection; reconnecting", "error", err)
		} else if lost.IsZero() {
			lost = time.Now() // never listened: the caches are empty, but say so
			l.log.Warn("notification listener cannot connect; retrying", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, reconnectMax)
	}
}

// listen connects, listens and dispatches until the connection fails;
// listened says whether it got as far as listening. lost is when an earlier
// connection was lost (zero on the first).
func (l *Listener) listen(ctx context.Context, lost time.Time) (listened bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, l.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	for ch := range l.handlers {
		if _, err := conn.Exec(cctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return false, err
		}
	}
	l.listening.Set(1)
	defer l.listening.Set(0)
	if !lost.IsZero() { // only now listening again: whatever happened in between is unknown
		for _, fns := range l.handlers {
			for _, fn := range fns {
				fn(Missed)
			}
		}
		l.reconnects.Inc()
		l.log.Info("notification listener reconnected; invalidated every cache it keeps fresh",
			"down_ms", time.Since(lost).Milliseconds())
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return true, nil
			}
			return true, err
		}
		for _, fn := range l.handlers[n.Channel] {
			fn(n.Payload)
		}
	}
}

// notifyTenant queues "the unit of work's tenant changed" on channel;
// PostgreSQL delivers it only if the unit of work commits, to every
// listening replica including this one.
func notifyTenant(ctx context.Context, tx *Tx, channel string) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", channel, tx.Tenant().ID.String())
	return err
}
