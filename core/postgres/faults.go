package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/sdk"
)

// Database faults: what says the server cannot serve now (shutting down,
// starting up, unreachable, out of connections, the connection lost) is the
// kernel's unavailable error, a 503 the client may retry, never a 500.

// serverUnavailable are the SQLSTATEs of a server that cannot serve now:
// class 08 (connection exception), admin_shutdown, crash_shutdown,
// cannot_connect_now (starting up, shutting down, in recovery) and
// too_many_connections.
func serverUnavailable(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "53300":
		return true
	}
	return len(code) == 5 && code[:2] == "08"
}

// isFault tells whether err says the database could not be reached or its
// connection was lost, rather than that it refused the statement.
func isFault(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) { // the server's own answer
		return serverUnavailable(pgErr.Code)
	}
	var connect *pgconn.ConnectError
	if errors.As(err, &connect) {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller's own cancellation or deadline
	}
	var netErr net.Error
	return pgconn.SafeToRetry(err) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &netErr)
}

// fault returns err as the kernel's unavailable error when it is a fault
// (isFault), and nil otherwise. An error already classified stays as it is.
func fault(err error) error {
	var ke *kernel.Error
	if err == nil || errors.As(err, &ke) || !isFault(err) {
		return nil
	}
	return kernel.Wrap(kernel.KindUnavailable, err, "the database is unavailable")
}

// classify is err with a fault made the kernel's unavailable error.
func classify(err error) error {
	if f := fault(err); f != nil {
		return f
	}
	return err
}

// pluginFault is fault for plugin SQL: the sdk's unavailable error, which
// the plugin may pass on as it is (a 503).
func pluginFault(err error) error {
	if !isFault(err) {
		return nil
	}
	return &sdk.Error{Kind: sdk.KindUnavailable, Message: "the database is unavailable", Err: err}
}

// acquireBound bounds the wait for a pool's connection. Installed as the
// pool's tracer (pgxpool calls it around every acquire: Acquire, Query,
// Exec, Begin, Ping), it bounds each use of the pool, whoever makes it: with
// the pool exhausted a request is refused with a 503 in that time instead of
// queueing for as long as the pool stays busy.
type acquireBound time.Duration

var _ pgxpool.AcquireTracer = acquireBound(0)

// pgx takes a pool's tracer as a query tracer; queries it leaves alone.
func (acquireBound) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (acquireBound) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (b acquireBound) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	bounded, cancel := context.WithTimeout(ctx, time.Duration(b))
	return &acquireContext{Context: bounded, caller: ctx, cancel: cancel, wait: time.Duration(b)}
}

func (acquireBound) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	if c, ok := ctx.(*acquireContext); ok {
		c.cancel()
	}
}

// acquireContext is an acquire's context: the caller's, ending at the bound
// at the latest. The pool returns its Err when the wait ends: past the
// bound (and not the caller's own end) that is the kernel's unavailable
// error, which still matches context.DeadlineExceeded.
type acquireContext struct {
	context.Context
	caller context.Context
	cancel context.CancelFunc
	wait   time.Duration
}

func (c *acquireContext) Err() error {
	err := c.Context.Err()
	if errors.Is(err, context.DeadlineExceeded) && c.caller.Err() == nil {
		return kernel.Wrap(kernel.KindUnavailable, err, "no database connection was free within %s", c.wait)
	}
	return err
}
