package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// codeQueryCanceled is a statement canceled in the server: at its
// request's deadline (cancelAtContextEnd) or at the statement timeout.
const codeQueryCanceled = "57014"

// cancelWait bounds how long a canceled statement may take to end: past
// it, the connection is broken off, as pgx does by default at once.
const cancelWait = 2 * time.Second

// cancelAtContextEnd makes a plugin statement whose context ends (the
// request's deadline passed) stop in the server too: pgx's default only
// breaks the connection off, and the server's backend would wait on, behind
// the lock that held it up, until it next wrote to the socket. The server
// answers a cancel request by ending the statement with 57014, which
// pluginError makes a timeout, and the connection stays usable.
func cancelAtContextEnd(cc *pgconn.Config) {
	cc.BuildContextWatcherHandler = func(conn *pgconn.PgConn) ctxwatch.Handler {
		return &cancelRequest{conn: conn}
	}
}

// cancelRequest is pgconn's CancelRequestContextWatcherHandler, but for its
// dial: a cancel request opens a connection of its own, which the server
// closes at once and which starts no session, so it takes no place among
// the plugins' connections (isCancelDial). Counted, it would wait for a
// place that the statements it is to cancel hold, past the deadline.
type cancelRequest struct {
	conn *pgconn.PgConn
	stop context.CancelFunc
	done chan struct{}
}

type cancelDialKey struct{}

// isCancelDial tells whether a dial is a cancel request's.
func isCancelDial(ctx context.Context) bool { return ctx.Value(cancelDialKey{}) != nil }

func (h *cancelRequest) HandleCancel(context.Context) {
	deadline := time.Now().Add(cancelWait)
	_ = h.conn.Conn().SetDeadline(deadline)
	ctx, stop := context.WithDeadline(context.WithValue(context.Background(), cancelDialKey{}, true), deadline)
	h.stop, h.done = stop, make(chan struct{})
	go func() {
		defer close(h.done)
		if h.conn.CancelRequest(ctx) == nil {
			// The server may act on the request a moment after taking it:
			// wait, or it could cancel the connection's next statement
			// (as pgx's handler does).
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
}

func (h *cancelRequest) HandleUnwatchAfterCancel() {
	<-h.done
	h.stop()
	_ = h.conn.Conn().SetDeadline(time.Time{})
}
