package pluginhost

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/atriumhq/atrium/internal/listquery"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// hostWork serves a request's host calls through svc and keeps count of
// those in flight. A plugin whose host call is still running when its
// deadline passes is waiting on the host (its SQL behind another
// transaction's lock, a slow store), not hung: killing it would fail every
// other request it serves, and the breaker would stop it for all tenants
// because of one tenant's data.
type hostWork struct {
	svc      transport.Services
	deadline time.Time

	mu      sync.Mutex
	running int       // calls begun before the deadline, still running
	lastEnd time.Time // when the last of those ended
	ranSQL  bool      // a statement was sent
	first   *firstStatement
}

var _ transport.Services = (*hostWork)(nil)

func newHostWork(svc transport.Services, deadline time.Time) *hostWork {
	return &hostWork{svc: svc, deadline: deadline}
}

// begin counts a call in flight until the returned func runs. A call made
// after the deadline is not counted: the plugin is then working past its
// deadline, not waiting on the host.
func (w *hostWork) begin() func() {
	if !time.Now().Before(w.deadline) {
		return func() {}
	}
	w.mu.Lock()
	w.running++
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		w.running--
		w.lastEnd = time.Now()
		w.mu.Unlock()
	}
}

// waitedOnHost tells whether the plugin was waiting on the host at its
// deadline: a host call it made before the deadline was still running then.
func (w *hostWork) waitedOnHost() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.running > 0 || !w.lastEnd.Before(w.deadline)
}

// noteSQL keeps the request's first statement, when it is a query, for
// the route's prefetch to learn from.
func (w *hostWork) noteSQL(sql string, args []any, query bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ranSQL {
		return
	}
	w.ranSQL = true
	if query {
		w.first = &firstStatement{sql: sql, args: args}
	}
}

// firstStatement returns the request's first statement if it was a query.
func (w *hostWork) firstStatement() *firstStatement {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.first
}

func (w *hostWork) Query(ctx context.Context, sql string, args []any) (*transport.ResultSet, error) {
	w.noteSQL(sql, args, true)
	defer w.begin()()
	return w.svc.Query(ctx, sql, args)
}

// ListQuery runs a policy-filtered list; never learned for a prefetch, which
// would run it unfiltered.
func (w *hostWork) ListQuery(ctx context.Context, sql string, args []any, f *listquery.PolicyFilter) (*transport.ResultSet, error) {
	w.noteSQL("", nil, false)
	defer w.begin()()
	lq, ok := w.svc.(transport.ListQuerier)
	if !ok {
		return nil, errors.New("list filter: the request's services do not filter lists")
	}
	return lq.ListQuery(ctx, sql, args, f)
}

func (w *hostWork) Exec(ctx context.Context, sql string, args []any) (int64, error) {
	w.noteSQL(sql, nil, false)
	defer w.begin()()
	return w.svc.Exec(ctx, sql, args)
}

func (w *hostWork) Batch(ctx context.Context, stmts []transport.Statement) ([]*transport.ResultSet, error) {
	w.noteSQL("", nil, false)
	defer w.begin()()
	return w.svc.Batch(ctx, stmts)
}

func (w *hostWork) CacheGet(ctx context.Context, key string) ([]byte, bool, error) {
	defer w.begin()()
	return w.svc.CacheGet(ctx, key)
}

func (w *hostWork) CacheSet(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	defer w.begin()()
	return w.svc.CacheSet(ctx, key, value, ttl)
}

func (w *hostWork) CacheDelete(ctx context.Context, key string) error {
	defer w.begin()()
	return w.svc.CacheDelete(ctx, key)
}

func (w *hostWork) BlobPut(ctx context.Context, key, contentType string, data []byte) error {
	defer w.begin()()
	return w.svc.BlobPut(ctx, key, contentType, data)
}

func (w *hostWork) BlobGet(ctx context.Context, key string) ([]byte, string, error) {
	defer w.begin()()
	return w.svc.BlobGet(ctx, key)
}

func (w *hostWork) BlobDelete(ctx context.Context, key string) error {
	defer w.begin()()
	return w.svc.BlobDelete(ctx, key)
}

func (w *hostWork) Authorize(ctx context.Context, action string, res sdk.Resource) (bool, error) {
	defer w.begin()()
	return w.svc.Authorize(ctx, action, res)
}

func (w *hostWork) Audit(ctx context.Context, detail map[string]any) error {
	defer w.begin()()
	return w.svc.Audit(ctx, detail)
}
