package pluginhost

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/atriumhq/atrium/sdk/transport"
)

// A plugin read costs two round trips between the processes: the request
// goes to the plugin, and the plugin's first statement comes back to the
// host. Most read handlers begin the same way every time: a GET of
// /projects/{id} first selects the project whose id is the path's. The
// host learns that statement per route, and once it has seen it begin the
// same route prefetchAfter times in a row, it runs it itself, in the
// request's unit of work, before it calls the plugin, and sends the result
// with the request; the SDK answers the handler's first statement from it
// when it is that very statement with those very arguments, and calls the
// host for anything else.
//
// What makes it safe: only routes that do not mutate are prefetched, and
// their unit of work is a READ ONLY transaction, so PostgreSQL refuses any
// write a prefetched statement could make; the statement runs through the
// same guard, as the same role, as the plugin's would, after the route's
// permission was decided, and its arguments are the request's path
// parameters; running it a moment earlier than the handler would is what
// any concurrent transaction could already have made it see. A statement
// that fails is rolled back before the plugin is called, as if it had
// never run. A prefetch the handler does not use costs one query and
// makes the host wait longer before the next (prefetchAfter doubles with
// each miss).
const prefetchAfter = 3

// prefetch runs the statement learned for m's route, if any, under the
// call's deadline. A statement that fails is left out (and rolled back);
// the error is the unit of work's, unusable after a failed rollback.
func (h *Host) prefetch(ctx context.Context, deadline time.Time, m Match, svc transport.Services, learned *prefetcher) (*transport.Prefetch, error) {
	run, ok := svc.(prefetchRunner)
	if !ok {
		return nil, nil
	}
	sql, args, ok := learned.plan(m.Index, m.Params)
	if !ok {
		return nil, nil
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	rs, err := run.prefetch(ctx, sql, args)
	switch {
	case err != nil:
		return nil, err
	case rs == nil:
		learned.outcome(m.Index, false)
		h.metrics.prefetched(m.Plugin, "failed")
		return nil, nil
	}
	return &transport.Prefetch{SQL: sql, Args: args, Result: rs}, nil
}

// learn records what became of a prefetch, or what the handler ran first
// when there was none.
func (h *Host) learn(m Match, sent *transport.Prefetch, work *hostWork, learned *prefetcher) {
	if sent == nil {
		learned.observe(m.Index, work.firstStatement(), m.Params, m.Names)
		return
	}
	learned.outcome(m.Index, sent.Used)
	outcome := "unused"
	if sent.Used {
		outcome = "used"
	}
	h.metrics.prefetched(m.Plugin, outcome)
}

// prefetcher learns the first statements of one plugin process's routes.
type prefetcher struct {
	mu     sync.Mutex
	routes []guess
}

// guess is what a route's handler runs first.
type guess struct {
	sql    string
	params []argFrom // where each argument comes from, in order
	seen   int       // requests in a row that began with it
	misses int       // prefetches the handler did not use
}

func newPrefetcher(routes int) *prefetcher {
	return &prefetcher{routes: make([]guess, routes)}
}

// plan returns the statement to prefetch for a request of route, with its
// arguments taken from the request's path parameters.
func (p *prefetcher) plan(route int, params map[string]string) (string, []any, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if route < 0 || route >= len(p.routes) {
		return "", nil, false
	}
	g := &p.routes[route]
	if g.sql == "" || g.seen < prefetchAfter<<min(g.misses, 10) {
		return "", nil, false
	}
	args := make([]any, len(g.params))
	for i, from := range g.params {
		v, ok := from.value(params)
		if !ok {
			return "", nil, false
		}
		args[i] = v
	}
	return g.sql, args, true
}

// argFrom is a path parameter as an argument: the handler passed it as it
// came, or parsed as an integer (a string and an int64 arrive differently,
// and the plugin compares what it would send).
type argFrom struct {
	param string
	isInt bool
}

func (a argFrom) value(params map[string]string) (any, bool) {
	v, ok := params[a.param]
	if !ok || !a.isInt {
		return v, ok
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil
}

// outcome records what became of a prefetch: one the handler did not use
// is forgotten, and the route has to be learned again, for longer.
func (p *prefetcher) outcome(route int, used bool) {
	if used {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if route >= 0 && route < len(p.routes) {
		g := &p.routes[route]
		g.sql, g.params, g.seen = "", nil, 0
		g.misses++
	}
}

// observe learns from a request that had no prefetch: the statement its
// handler ran first, if a query whose every argument is one of the path's
// parameters (names, in path order, decides between equal values).
func (p *prefetcher) observe(route int, first *firstStatement, params map[string]string, names []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if route < 0 || route >= len(p.routes) {
		return
	}
	g := &p.routes[route]
	from, ok := first.fromParams(params, names)
	switch {
	case !ok:
		g.sql, g.params, g.seen = "", nil, 0
	case g.sql == first.sql && slices.Equal(g.params, from):
		g.seen++
	default:
		g.sql, g.params, g.seen = first.sql, from, 1
	}
}

// firstStatement is the first statement of a request's handler, when it
// was a query.
type firstStatement struct {
	sql  string
	args []any
}

// fromParams finds the path parameter each argument is; ok is false for
// no statement, or an argument that is none of them.
func (f *firstStatement) fromParams(params map[string]string, names []string) ([]argFrom, bool) {
	if f == nil {
		return nil, false
	}
	from := make([]argFrom, len(f.args))
	for i, a := range f.args {
		var text string
		switch v := a.(type) {
		case string:
			text = v
		case int64:
			text, from[i].isInt = strconv.FormatInt(v, 10), true
		default:
			return nil, false
		}
		j := slices.IndexFunc(names, func(n string) bool { return params[n] == text })
		if j < 0 {
			return nil, false
		}
		from[i].param = names[j]
	}
	return from, true
}

// prefetchRunner runs a prefetch for a request (request implements it).
type prefetchRunner interface {
	prefetch(ctx context.Context, sql string, args []any) (*transport.ResultSet, error)
}

// prefetch runs sql as the plugin's statement would run. A statement that
// fails is rolled back, leaving the unit of work as if it had not run, and
// the result is nil; the error is the rollback's, when that fails too.
func (r *request) prefetch(ctx context.Context, sql string, args []any) (*transport.ResultSet, error) {
	rs, err := r.Query(ctx, sql, args)
	if err == nil {
		return rs, nil
	}
	return nil, r.s.SQL.Rollback(ctx, r.plugin)
}
