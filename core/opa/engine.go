package opa

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/policies"
)

// Options tune the engine; zero values take the defaults.
type Options struct {
	// Base holds the base policy's modules; default policies.Base.
	Base fs.FS
	// CacheSize is how many tenants' compiled policies are kept (least
	// recently used go first); default 4096.
	CacheSize int
	// Deadline bounds one decision, base and tenant together; default 50ms.
	Deadline time.Duration
	// Cooldown is how long a tenant's decisions are denied without
	// evaluating after two of its evaluations in a row ran past the
	// deadline; then one evaluates, alone, to see (breaker.go). Default 1s;
	// negative: none.
	Cooldown time.Duration
	// RecheckAfter is how long a cached tenant policy is used before its
	// revision is asked again. Invalidate drops it at once; this bounds how
	// stale a replica can be if an invalidation is lost. Default 30s;
	// negative asks on every decision.
	RecheckAfter time.Duration
	// TestTimeout bounds each uploaded test; CheckTimeout a whole Check.
	// Defaults 1s and 10s.
	TestTimeout, CheckTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Base == nil {
		o.Base = policies.Base
	}
	if o.CacheSize <= 0 {
		o.CacheSize = 4096
	}
	if o.Deadline <= 0 {
		o.Deadline = 50 * time.Millisecond
	}
	if o.Cooldown == 0 {
		o.Cooldown = time.Second
	}
	if o.Cooldown < 0 {
		o.Cooldown = 0
	}
	if o.RecheckAfter == 0 {
		o.RecheckAfter = 30 * time.Second
	}
	if o.TestTimeout <= 0 {
		o.TestTimeout = time.Second
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 10 * time.Second
	}
	return o
}

// Engine is the policy engine: the base policy, prepared once, and each
// tenant's policy, compiled lazily in a compiler of its own and cached.
// It is safe for concurrent use.
type Engine struct {
	opts   Options
	base   *basePolicy
	cache  *lru.Cache[string, *tenantPolicy]
	flight singleflight.Group
	terms  *inputTerms
	shared sharedQueries
	now    func() time.Time
	// runaways are the breakers of tenants whose policy ran past its
	// deadline lately (breaker.go); checks, the checks that did (check.go).
	runaways runaways
	checks   stuckChecks
	// stats counts lookups of compiled tenant policies (shadow.go).
	stats kernel.CacheStats

	mu     sync.RWMutex
	epochs map[string]uint64 // bumped by Invalidate, per tenant
	global uint64            // bumped by InvalidateAll
}

// epoch tells whether a tenant's policy was invalidated since a point: a
// compilation that began before an invalidation is never cached after it.
type epoch struct{ tenant, global uint64 }

var _ policy.Compiler = (*Engine)(nil)

// New compiles the base policy and returns the engine.
func New(opts Options) (*Engine, error) {
	opts = opts.withDefaults()
	base, err := loadBase(opts.Base)
	if err != nil {
		return nil, err
	}
	cache, err := lru.New[string, *tenantPolicy](opts.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("policy cache: %w", err)
	}
	return &Engine{opts: opts, base: base, cache: cache, terms: newInputTerms(), now: time.Now, epochs: map[string]uint64{}}, nil
}

// BaseVersion identifies the base policy in decisions' policy versions.
func (e *Engine) BaseVersion() string { return e.base.version }

// Invalidate forgets the tenant's compiled policy: call it when the tenant
// changes its policy (the policy service does, after commit) or when
// another replica says it did.
func (e *Engine) Invalidate(tenantID string) {
	e.mu.Lock()
	e.epochs[tenantID]++
	e.mu.Unlock()
	e.cache.Remove(tenantID)
}

// InvalidateAll forgets every compiled policy, for when invalidations may
// have been missed.
func (e *Engine) InvalidateAll() {
	e.mu.Lock()
	e.global++
	e.mu.Unlock()
	e.cache.Purge()
}

func (e *Engine) epoch(tenantID string) epoch {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return epoch{e.epochs[tenantID], e.global}
}

// Check compiles a tenant's complete module set as it would become, in the
// sandbox, and runs every module's tests, within CheckTimeout (check.go).
// See policy.Compiler.
func (e *Engine) Check(ctx context.Context, modules []policy.Module) error {
	ctx, cancel := context.WithTimeout(ctx, e.opts.CheckTimeout)
	defer cancel()
	return e.checks.run(ctx, func() error {
		if _, err := compileTenant(modules); err != nil {
			return err
		}
		return e.runTests(ctx, modules)
	})
}

// Evaluate decides in for the tenant. See policy.Compiler.
func (e *Engine) Evaluate(ctx context.Context, tenantID string, src policy.Source, in access.Input, explain bool) (access.Decision, error) {
	tp, err := e.tenantPolicy(ctx, tenantID, src)
	if err != nil {
		return access.Decision{Reasons: []string{"the tenant policy could not be loaded"},
			PolicyVersion: e.version(-1)}, err
	}
	return e.decide(ctx, tp, in, explain, false)
}

// Try decides in under the base policy and modules, a tenant's set as it
// would become: compiled (or found among the sets compiled already),
// evaluated under the deadline like a decision, and never made the tenant's
// policy. See policy.Compiler.
func (e *Engine) Try(ctx context.Context, modules []policy.Module, in access.Input) (access.Decision, error) {
	tp := &tenantPolicy{
		// Its own breaker: a candidate that runs away does not cool the
		// tenant's decisions down.
		tenant:  "candidate:" + in.Tenant.ID,
		version: "base:" + e.base.version + "+tenant:candidate",
		slots:   make(chan struct{}, evaluationSlots()),
	}
	if len(modules) > 0 {
		key := setKey(modules)
		if tp.query = e.shared.get(key); tp.query == nil {
			var err error
			if tp.query, err = compileTenant(modules); err != nil {
				return access.Decision{Reasons: []string{"the tenant policy does not compile"}, PolicyVersion: tp.version}, err
			}
			e.shared.put(key, tp.query)
		}
	}
	return e.decide(ctx, tp, in, false, false)
}

// tenantPolicy returns the tenant's compiled policy, from the cache while
// it is known current, compiling it (once, however many ask) otherwise.
func (e *Engine) tenantPolicy(ctx context.Context, tenantID string, src policy.Source) (*tenantPolicy, error) {
	epoch := e.epoch(tenantID)
	now := e.now()
	// Peek only read-locks the cache; its recency is kept to the second,
	// so decisions on every core do not queue on one lock.
	tp, ok := e.cache.Peek(tenantID)
	if ok && now.UnixNano()-tp.used.Load() > int64(time.Second) {
		tp.used.Store(now.UnixNano())
		e.cache.Get(tenantID)
	}
	if ok && tp.epoch == epoch && e.opts.RecheckAfter > 0 &&
		now.Sub(time.Unix(0, tp.confirmed.Load())) < e.opts.RecheckAfter {
		e.stats.Record(true)
		return tp, nil
	}
	if ok && tp.epoch == epoch {
		rev, err := src.Revision(ctx, tenantID)
		if err != nil {
			return nil, fmt.Errorf("tenant policy revision: %w", err)
		}
		if rev == tp.revision {
			e.stats.Record(true)
			tp.confirmed.Store(e.now().UnixNano())
			return tp, nil
		}
	}
	e.stats.Record(false)
	key := fmt.Sprintf("%s@%d.%d", tenantID, epoch.tenant, epoch.global)
	v, err, _ := e.flight.Do(key, func() (any, error) {
		set, err := src.Active(ctx, tenantID)
		if err != nil {
			return nil, fmt.Errorf("tenant policy: %w", err)
		}
		tp := &tenantPolicy{tenant: tenantID, revision: set.Revision, version: e.version(set.Revision), epoch: epoch,
			slots: make(chan struct{}, evaluationSlots()), repairSlot: make(chan struct{}, 1)}
		key := setKey(set.Modules)
		if tp.query = e.shared.get(key); tp.query == nil {
			tp.query, tp.err = compileTenant(set.Modules)
			if tp.err != nil && !errors.Is(tp.err, policy.ErrInvalid) {
				return nil, tp.err // the engine's failure, not the policy's: not cached
			}
			if tp.query != nil {
				e.shared.put(key, tp.query)
			}
		}
		if tp.shadow, err = e.loadShadow(tenantID, set); err != nil {
			return nil, err
		}
		tp.confirmed.Store(e.now().UnixNano())
		if e.epoch(tenantID) == epoch { // not invalidated meanwhile
			e.cache.Add(tenantID, tp)
		}
		return tp, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*tenantPolicy), nil
}

func (e *Engine) version(revision int64) string {
	if revision < 0 {
		return "base:" + e.base.version + "+tenant:unknown"
	}
	return fmt.Sprintf("base:%s+tenant:%d", e.base.version, revision)
}
