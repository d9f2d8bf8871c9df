package postgres

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Listener receives PostgreSQL notifications (LISTEN/NOTIFY) on a connection
// of its own and hands their payloads to handlers. It is how replicas learn
// of changes others made. After a lost connection it reconnects with
// backoff and calls each handler with Missed, since notifications sent
// meanwhile are gone.
type Listener struct {
	pool     *pgxpool.Pool
	log      *slog.Logger
	handlers map[string][]func(payload string)

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// Missed is the payload handlers get when notifications may have been lost.
const Missed = "*"

// NewListener returns a listener; register handlers with On before Start.
func NewListener(pool *pgxpool.Pool, log *slog.Logger) *Listener {
	return &Listener{pool: pool, log: log, handlers: map[string][]func(string){}}
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
	backoff := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		err := l.listen(ctx, !first)
		first = false
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("notification listener lost its connection; reconnecting", "error", err, "in", backoff.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

func (l *Listener) listen(ctx context.Context, missed bool) error {
	conn, err := pgx.ConnectConfig(ctx, l.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for ch := range l.handlers {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	if missed { // only now listening again: whatever happened in between is unknown
		for _, fns := range l.handlers {
			for _, fn := range fns {
				fn(Missed)
			}
		}
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
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
