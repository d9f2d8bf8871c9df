package audit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/atriumhq/atrium/core/kernel"
)

// Sealer gives committed records their places in their tenant's chain: the
// single sequencer per tenant. Holding the chain head's lock only while it
// seals a batch (never across a request's commit) keeps audited writes
// parallel; sealing a batch costs one transaction.
//
// Records are sealed moments after commit: a committed unit of work kicks
// its tenant, reads seal first, and a periodic sweep catches what a crashed
// replica left pending. Until sealed, a record is protected by the
// append-only rules but not yet by the chain.
type Sealer struct {
	store   Store
	tenants TenantLister
	log     *slog.Logger
	metrics *metrics
	sweep   time.Duration

	mu      sync.Mutex
	pending map[uuid.UUID]*kernel.Tenant
	wake    chan struct{}

	// one sealing pass per tenant at a time in this process
	locks sync.Map // uuid.UUID -> *sync.Mutex
}

// SealerOptions configure a Sealer.
type SealerOptions struct {
	Store Store
	// Tenants lists every tenant, for the sweep.
	Tenants TenantLister
	Logger  *slog.Logger
	Metrics Registerer
	// Sweep is how often every tenant is checked for pending records;
	// zero means a minute.
	Sweep time.Duration
}

// NewSealer returns a sealer; Run drives it.
func NewSealer(o SealerOptions) *Sealer {
	if o.Sweep <= 0 {
		o.Sweep = time.Minute
	}
	return &Sealer{store: o.Store, tenants: o.Tenants, log: o.Logger, metrics: newMetrics(o.Metrics), sweep: o.Sweep,
		pending: map[uuid.UUID]*kernel.Tenant{}, wake: make(chan struct{}, 1)}
}

// sealBatch bounds one sealing transaction.
const sealBatch = 2000

// sealGather is how long the sealer lets kicks gather before it seals.
const sealGather = 20 * time.Millisecond

// Kick asks for t's pending records to be sealed soon. It never blocks.
func (s *Sealer) Kick(t *kernel.Tenant) {
	s.mu.Lock()
	s.pending[t.ID] = t
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// SealNow seals every record of t pending when it is called.
func (s *Sealer) SealNow(ctx context.Context, t *kernel.Tenant) error {
	mu, _ := s.locks.LoadOrStore(t.ID, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	for {
		n, err := s.store.Seal(ctx, t, sealBatch, Seal)
		if err != nil {
			s.metrics.sealErrs.Inc()
			return err
		}
		s.metrics.sealed.Add(float64(n))
		if n < sealBatch {
			return nil
		}
	}
}

// Run seals kicked tenants as they come and sweeps every tenant
// periodically, until ctx ends. Run it in one goroutine per process;
// replicas may run theirs at once (the head's lock serialises them).
func (s *Sealer) Run(ctx context.Context) {
	sweep := time.NewTicker(s.sweep)
	defer sweep.Stop()
	s.sweepAll(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			// Let the kicks of a busy moment gather: one transaction (and
			// one flush to disk) then seals what many commits left.
			select {
			case <-ctx.Done():
				return
			case <-time.After(sealGather):
			}
			s.sealPending(ctx)
		case <-sweep.C:
			s.sweepAll(ctx)
		}
	}
}

func (s *Sealer) sealPending(ctx context.Context) {
	s.mu.Lock()
	batch := s.pending
	s.pending = make(map[uuid.UUID]*kernel.Tenant, len(batch))
	s.mu.Unlock()
	for _, t := range batch {
		if err := s.SealNow(ctx, t); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "audit sealing failed; will retry", "tenant", t.Slug, "error", err)
		}
	}
}

func (s *Sealer) sweepAll(ctx context.Context) {
	ts, err := s.tenants(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.WarnContext(ctx, "audit sweep: list tenants", "error", err)
		}
		return
	}
	for _, t := range ts {
		s.Kick(t)
	}
}
