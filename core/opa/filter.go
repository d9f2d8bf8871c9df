package opa

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/policy"
)

// A list is filtered by partial evaluation: the tenant's deny and allow
// sets are evaluated for the list's action with everything known but the
// resource (input.resource.id, owner_id and attributes), and what remains,
// each a disjunction of conjunctions over the resource, is translated to SQL
// (filtersql.go). The base policy reads only the action and the subject's
// permissions (memoisable, base.go), so its part is known outright.
//
// The partial result depends on the policy and on what the policy could
// read of the known input: it is kept per tenant policy (a new revision, or
// an invalidation, starts afresh) and per action, resource type, subject
// and tenant settings, and per request too when the policy reads
// input.request (then it is evaluated per request). Tenant Rego is as
// untrusted here as in a decision: the compiled query is the sandboxed one,
// the evaluation runs under ten deadlines in one of the tenant's evaluation
// slots and is abandoned at it, a panic fails it, and its result is bounded
// (a larger one falls back to deciding each row).

// partialResult is the tenant's deny and allow conditions on a resource.
// An empty body is always true; no bodies, never.
type partialResult struct {
	deny, allow []ast.Body
	whole       bool // false: too large to translate; every row is decided
}

// partialFactor is how many decision deadlines a partial evaluation has:
// it does more than a decision, and once per policy and subject, not per
// request.
const partialFactor = 10

// Bounds on a partial result kept and translated.
const (
	maxPartialBodies = 256
	maxPartialTerms  = 8192
	filterCacheSize  = 1024 // per tenant policy
)

// filterCache keeps a tenant policy's partial results. It lives on the
// tenantPolicy, so it goes with it when the policy changes.
type filterCache struct {
	once         sync.Once
	cache        *lru.Cache[string, *partialResult]
	readsRequest bool
	deny, allow  []ast.Ref
}

func (c *filterCache) init(q *query) {
	c.once.Do(func() {
		c.cache, _ = lru.New[string, *partialResult](filterCacheSize)
		if q == nil {
			return
		}
		mods := make([]*ast.Module, 0, len(q.compiler.Modules))
		for _, m := range q.compiler.Modules {
			mods = append(mods, m)
		}
		c.deny, c.allow = decisionPaths(mods)
		c.readsRequest = readsInput(mods, requestRef)
	})
}

var (
	requestRef    = ast.MustParseRef("input.request")
	filterUnknown = []*ast.Term{
		ast.MustParseTerm("input.resource.id"),
		ast.MustParseTerm("input.resource.owner_id"),
		ast.MustParseTerm("input.resource.attributes"),
	}
)

// readsInput tells whether any rule may read under prefix: a ref to it or
// below it, or input whole (a variable, or a ref of its root alone).
func readsInput(mods []*ast.Module, prefix ast.Ref) bool {
	found := false
	vis := ast.NewGenericVisitor(func(x any) bool {
		switch v := x.(type) {
		case ast.Ref:
			if v[0].Value.Compare(inputVar) == 0 && (len(v) == 1 || v.HasPrefix(prefix) || prefix.HasPrefix(v)) {
				found = true
			}
		case ast.Var:
			if v.Equal(inputVar) {
				found = true
			}
		}
		return found
	})
	for _, m := range mods {
		for _, r := range m.Rules {
			vis.Walk(r)
		}
	}
	return found
}

// Filter is the condition a list's rows must meet under the tenant's
// policy. See access.Filterer.
func (d *Decider) Filter(ctx context.Context, tenantID string, in access.Input, cols access.ListColumns, argOffset int) (access.Filter, error) {
	return d.engine.Filter(ctx, tenantID, d.src, in, cols, argOffset)
}

var _ access.Filterer = (*Decider)(nil)

// Filter is the condition a list's rows must meet: in's resource has only
// its type; the rows' id, owner and attributes are the columns cols names.
func (e *Engine) Filter(ctx context.Context, tenantID string, src policy.Source, in access.Input, cols access.ListColumns, argOffset int) (access.Filter, error) {
	tp, err := e.tenantPolicy(ctx, tenantID, src)
	if err != nil {
		return access.Filter{}, err
	}
	f := access.Filter{PolicyVersion: tp.version}
	if tp.err != nil {
		return f, tenantFailed(fmt.Errorf("tenant policy at revision %d: %w", tp.revision, tp.err))
	}
	if e.base.memo == nil { // the base may read the resource: decide each row
		f.SQL, f.Fallback = "TRUE", true
		return f, nil
	}
	b, err := e.baseOnly(ctx, in)
	if err != nil {
		return f, err
	}
	var p *partialResult
	if tp.query != nil {
		if p, err = e.partial(ctx, tp, in); err != nil {
			return f, tenantFailed(err)
		}
	} else {
		p = &partialResult{whole: true}
	}
	t := newTranslator(cols, argOffset)
	f.SQL, f.Fallback, err = t.visible(in.Action, b, p)
	f.Params = t.params
	return f, err
}

// baseOnly is the base's result for in's action and permissions.
func (e *Engine) baseOnly(ctx context.Context, in access.Input) (baseResult, error) {
	var buf [512]byte
	key := appendName(appendNames(buf[:0], in.Subject.Permissions), in.Action)
	if b, ok := e.base.memo.get(key); ok {
		return b, nil
	}
	attrs, err := inputAttributes(in)
	if err != nil {
		return baseResult{}, err
	}
	input := attrs.input(in, e.terms)
	defer input.release()
	w := startWatch(e.opts.Deadline)
	defer w.stop(false)
	b, err := evalBase(ctx, e.base.query, input.term, w.cancel, nil)
	if err != nil {
		return b, err
	}
	e.base.memo.put(key, b)
	return b, nil
}

// partial returns the tenant's conditions for in, from the cache or
// evaluated.
func (e *Engine) partial(ctx context.Context, tp *tenantPolicy, in access.Input) (*partialResult, error) {
	fc := &tp.filters
	fc.init(tp.query)
	key, err := partialKey(in, fc.readsRequest)
	if err != nil {
		return nil, err
	}
	if p, ok := fc.cache.Get(key); ok {
		return p, nil
	}
	v, err, _ := e.flight.Do("filter:"+tp.tenant+":"+tp.version+":"+key, func() (any, error) {
		return e.evalPartial(ctx, tp, fc, in)
	})
	if err != nil {
		return nil, err
	}
	p := v.(*partialResult)
	fc.cache.Add(key, p)
	return p, nil
}

// partialKey is what the partial result may depend on, hashed.
func partialKey(in access.Input, withRequest bool) (string, error) {
	k := struct {
		Action, Type string
		Subject      access.Subject
		Settings     map[string]any
		Request      *access.RequestInput `json:",omitempty"`
	}{Action: in.Action, Type: in.Resource.Type, Subject: in.Subject, Settings: in.Tenant.Settings}
	if withRequest {
		k.Request = &in.Request
	}
	raw, err := json.Marshal(k)
	if err != nil {
		return "", fmt.Errorf("filter key: %w", err)
	}
	sum := sha256.Sum256(raw)
	return string(sum[:]), nil
}

var errPartialDeadline = errors.New("tenant policy: partial evaluation did not finish in time")

// evalPartial partially evaluates the tenant's deny and allow sets on a
// goroutine of its own, in one of the tenant's slots, and waits for it
// only until the deadline.
func (e *Engine) evalPartial(ctx context.Context, tp *tenantPolicy, fc *filterCache, in access.Input) (*partialResult, error) {
	attrs, err := inputAttributes(in)
	if err != nil {
		return nil, err
	}
	doc := attrs.input(in, e.terms)
	input, err := ast.ValueToInterface(doc.term.Value, nil) // a copy: doc is recycled
	doc.release()
	if err != nil {
		return nil, err
	}
	parsed, err := ast.InterfaceToValue(input)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, partialFactor*e.opts.Deadline)
	defer cancel()
	if tp.slots != nil {
		select {
		case tp.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, errPartialDeadline
		}
	}
	type outcome struct {
		p   *partialResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if tp.slots != nil {
				<-tp.slots
			}
		}()
		var o outcome
		defer func() { done <- o }()
		defer recoverInvalid(&o.err)
		o.p, o.err = runPartial(ctx, tp.query.compiler, parsed, fc)
	}()
	select {
	case o := <-done:
		return o.p, o.err
	case <-ctx.Done():
		return nil, errPartialDeadline
	}
}

func runPartial(ctx context.Context, c *ast.Compiler, input ast.Value, fc *filterCache) (*partialResult, error) {
	p := &partialResult{whole: true}
	terms := 0
	run := func(refs []ast.Ref) ([]ast.Body, error) {
		var out []ast.Body
		for _, ref := range refs {
			q := ast.NewBody(ast.NewExpr(ast.NewTerm(ref.Append(ast.VarTerm(ast.WildcardPrefix + "x")))))
			r := rego.New(rego.Compiler(c), rego.Store(inmem.New()), rego.ParsedQuery(q),
				rego.ParsedInput(input), rego.ParsedUnknowns(filterUnknown))
			pq, err := r.Partial(ctx)
			if err != nil {
				return nil, err
			}
			for _, b := range pq.Queries {
				terms += bodySize(b)
			}
			out = append(out, pq.Queries...)
			if len(out) > maxPartialBodies || terms > maxPartialTerms {
				p.whole = false
				return nil, nil
			}
		}
		return out, nil
	}
	var err error
	if p.deny, err = run(fc.deny); err != nil || !p.whole {
		return p, err
	}
	p.allow, err = run(fc.allow)
	return p, err
}

func bodySize(b ast.Body) int {
	n := 0
	ast.WalkTerms(b, func(*ast.Term) bool { n++; return false })
	return n
}
