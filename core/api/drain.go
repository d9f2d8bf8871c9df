package api

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/atriumhq/atrium/core/kernel"
)

// A request's fate at shutdown: it runs until the drain deadline, when one
// still running is abandoned (its context canceled, its unit of work never
// committed, its answer 503) unless it already began to commit, which it
// then finishes. So a 503 at shutdown means "not written".
const (
	fateLive int32 = iota
	fateCommitting
	fateAbandoned
)

const ctxFate = "atrium.fate"

type fate struct {
	state  atomic.Int32
	cancel context.CancelFunc
}

// inflight tracks the requests being served, for shutdown.
type inflight struct {
	mu   sync.Mutex
	reqs map[*fate]struct{}
}

func newInflight() *inflight { return &inflight{reqs: map[*fate]struct{}{}} }

// track gives each request a fate and a context that shutdown can cancel
// and that ends at the route's timeout (timeoutOf; 0 or less is none): a
// database that stops answering mid-statement, or anything else that
// hangs, costs the client the timeout and a 504, not a wait without end.
func (in *inflight) track(timeoutOf func(*gin.Context) time.Duration) gin.HandlerFunc {
	return func(c *gin.Context) {
		var ctx context.Context
		var cancel context.CancelFunc
		if d := timeoutOf(c); d > 0 {
			ctx, cancel = context.WithTimeout(c.Request.Context(), d)
		} else {
			ctx, cancel = context.WithCancel(c.Request.Context())
		}
		defer cancel()
		f := &fate{cancel: cancel}
		in.mu.Lock()
		in.reqs[f] = struct{}{}
		in.mu.Unlock()
		defer func() {
			in.mu.Lock()
			delete(in.reqs, f)
			in.mu.Unlock()
		}()
		c.Set(ctxFate, f)
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// abandon abandons every request that has not begun to commit and returns
// how many it abandoned.
func (in *inflight) abandon() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for f := range in.reqs {
		if f.state.CompareAndSwap(fateLive, fateAbandoned) {
			f.cancel()
			n++
		}
	}
	return n
}

func fateOf(c *gin.Context) *fate {
	f, _ := c.Get(ctxFate)
	fa, _ := f.(*fate)
	return fa
}

// mayCommit claims the right to commit the request's unit of work; false
// once shutdown abandoned it.
func mayCommit(c *gin.Context) error {
	if f := fateOf(c); f != nil && !f.state.CompareAndSwap(fateLive, fateCommitting) {
		return errShuttingDown
	}
	return nil
}

func abandoned(c *gin.Context) bool {
	f := fateOf(c)
	return f != nil && f.state.Load() == fateAbandoned
}

// shutdownError answers an abandoned request: 503 with Retry-After, so
// the client retries (another replica) knowing nothing was written.
type shutdownError struct{ err *kernel.Error }

func (e shutdownError) Error() string           { return e.err.Error() }
func (e shutdownError) Unwrap() error           { return e.err }
func (shutdownError) RetryAfter() time.Duration { return time.Second }

var errShuttingDown error = shutdownError{kernel.E(kernel.KindUnavailable,
	"the server is shutting down: the request was not carried out, nothing was written; retry it")}
