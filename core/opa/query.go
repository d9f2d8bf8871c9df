package opa

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// query is a query compiled once against a compiled policy and evaluated
// with topdown directly: on a policy this small, the rego package's
// per-evaluation setup (options, metrics, results turned into interface{}
// values) costs about as much as the evaluation itself.
type query struct {
	compiler *ast.Compiler
	qc       ast.QueryCompiler
	body     ast.Body
	store    storage.Store // empty: policies get data from rules only
	// uncached skips topdown's per-evaluation cache of rule values: for
	// the base only, whose rules are each read once per evaluation, so the
	// cache costs allocations and saves nothing (results are the same
	// either way; a base that read a rule many times would only be slower).
	// Tenant rules keep it: a rule read many times must not be evaluated as
	// often, whatever a tenant writes.
	uncached bool
}

func prepareQuery(c *ast.Compiler, text string) (*query, error) {
	parsed, err := ast.ParseBodyWithOpts(text, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil, fmt.Errorf("parse query: %w", err)
	}
	qc := c.QueryCompiler()
	body, err := qc.Compile(parsed)
	if err != nil {
		return nil, fmt.Errorf("compile query: %w", err)
	}
	return &query{compiler: c, qc: qc, body: body, store: inmem.New()}, nil
}

// eval runs the query once and returns its only result: no result (an
// undefined) and several are errors, since every caller expects one.
func (q *query) eval(ctx context.Context, input *ast.Term, cancel topdown.Cancel, tracer topdown.QueryTracer) (topdown.QueryResult, error) {
	txn, err := q.store.NewTransaction(ctx)
	if err != nil {
		return nil, err
	}
	defer q.store.Abort(ctx, txn)
	tq := topdown.NewQuery(q.body).
		WithQueryCompiler(q.qc).
		WithCompiler(q.compiler).
		WithStore(q.store).
		WithTransaction(txn).
		WithInput(input).
		WithCancel(cancel).
		WithMetrics(metrics.NoOp()) // never read: the default allocates timers per evaluation
	if q.uncached {
		tq = tq.WithVirtualCache(noVirtualCache{})
	} else {
		rc := getRuleCache()
		defer putRuleCache(rc)
		tq = tq.WithVirtualCache(rc)
	}
	if tracer != nil {
		tq = tq.WithQueryTracer(tracer)
	}
	var result topdown.QueryResult
	n := 0
	err = tq.Iter(ctx, func(r topdown.QueryResult) error {
		result, n = r, n+1
		return nil
	})
	switch {
	case err != nil:
		return nil, err
	case n == 0:
		return nil, errUndefined
	case n > 1:
		return nil, fmt.Errorf("%d results, want one", n)
	}
	return result, nil
}

// noVirtualCache is a topdown.VirtualCache that keeps nothing: every lookup
// misses, so each rule is evaluated when it is referenced (see uncached).
type noVirtualCache struct{}

func (noVirtualCache) Push()                         {}
func (noVirtualCache) Pop()                          {}
func (noVirtualCache) Get(ast.Ref) (*ast.Term, bool) { return nil, false }
func (noVirtualCache) Put(ast.Ref, *ast.Term)        {}
func (noVirtualCache) Keys() []ast.Ref               { return nil }
