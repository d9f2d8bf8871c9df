package policy

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
)

// Rehearsal is one live decision to compare with the tenant's shadow
// version's: Shadow evaluates that version on the same input.
type Rehearsal struct {
	Tenant  *kernel.Tenant
	Name    string
	Version int
	Input   access.Input
	Live    access.Decision
	Shadow  func(context.Context) (access.Decision, error)
}

// Rehearser takes live decisions to compare with a shadow version. It must
// not hold the request up: Shadows queues them.
type Rehearser interface {
	Rehearse(r Rehearsal)
}

// ShadowOptions tune Shadows; zero values take the defaults.
type ShadowOptions struct {
	// Queue is how many rehearsals wait for the worker; more are skipped
	// (and counted). Default 1024.
	Queue int
	// PerSecond bounds the comparisons this replica makes per second, all
	// tenants together, and so the CPU shadowing takes from requests; more
	// are skipped (and counted). Default 200.
	PerSecond int
	// FlushEvery is how often this replica adds its comparisons to the
	// database, where every replica's meet. Default 1s.
	FlushEvery time.Duration
}

// Shadows runs tenants' shadow versions: the lifecycle (shadow.go) and the
// comparison of live decisions with the shadow version's. The comparison
// runs off the request path, in one worker fed by a bounded queue, so a
// shadow version costs a request no more than a channel send, and at most
// PerSecond comparisons a second, so it takes a bounded share of the CPU
// from requests; what is over the budget, or what the worker cannot keep
// up with, is skipped and counted: the report is then of a sample. Each replica counts
// its own comparisons and adds them to the tenant's record in the
// database every FlushEvery: the report is every replica's.
type Shadows struct {
	svc   *Service
	store ShadowStore
	log   *slog.Logger
	opts  ShadowOptions
	queue chan Rehearsal
	// budget is the comparisons this replica may still make.
	budget *rate.Limiter

	mu      sync.Mutex
	pending map[shadowKey]*pendingShadow

	compared      *prometheus.CounterVec
	disagreements *prometheus.CounterVec
	skipped       prometheus.Counter

	stop chan struct{}
	done sync.WaitGroup
}

type shadowKey struct {
	tenant  string
	name    string
	version int
}

type pendingShadow struct {
	tenant *kernel.Tenant
	delta  ShadowDelta
}

var (
	_ Rehearser = (*Shadows)(nil)
	_ Source    = (*Shadows)(nil)
)

// NewShadows returns the shadow versions' service over svc; reg, when set,
// receives its metrics. Start runs its worker; Stop ends it.
func NewShadows(svc *Service, store ShadowStore, log *slog.Logger, reg prometheus.Registerer, opts ShadowOptions) *Shadows {
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = time.Second
	}
	if opts.PerSecond <= 0 {
		opts.PerSecond = 200
	}
	s := &Shadows{svc: svc, store: store, log: log, opts: opts, queue: make(chan Rehearsal, opts.Queue),
		budget:  rate.NewLimiter(rate.Limit(opts.PerSecond), opts.PerSecond),
		pending: map[shadowKey]*pendingShadow{},
		compared: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_policy_shadow_decisions_total",
			Help: "Live decisions compared with a tenant's shadow policy version, by whether they agreed.",
		}, []string{"result"}),
		disagreements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_policy_shadow_disagreements_total",
			Help: "Live decisions a tenant's shadow policy version would have made differently, by the live outcome.",
		}, []string{"live"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "atrium_policy_shadow_skipped_total",
			Help: "Live decisions not compared with the shadow version: over the per-second budget, or the queue was full.",
		}),
	}
	if reg != nil {
		reg.MustRegister(s.compared, s.disagreements, s.skipped)
	}
	return s
}

// Rehearse queues r for comparison, or skips it when the budget is spent
// or the queue is full.
func (s *Shadows) Rehearse(r Rehearsal) {
	if !s.budget.Allow() {
		s.skipped.Inc()
		return
	}
	select {
	case s.queue <- r:
	default:
		s.skipped.Inc()
	}
}

// Start runs the worker and the periodic flush.
func (s *Shadows) Start() {
	s.stop = make(chan struct{})
	s.done.Add(1)
	go s.run()
}

// Stop ends the worker after storing what it counted.
func (s *Shadows) Stop() {
	if s.stop == nil {
		return
	}
	close(s.stop)
	s.done.Wait()
	s.stop = nil
}

func (s *Shadows) run() {
	defer s.done.Done()
	tick := time.NewTicker(s.opts.FlushEvery)
	defer tick.Stop()
	ctx := context.Background()
	for {
		select {
		case r := <-s.queue:
			s.compare(ctx, r)
		case <-tick.C:
			s.flush(ctx, "")
		case <-s.stop:
			s.flush(ctx, "")
			return
		}
	}
}

// compare evaluates the shadow version on r's input and counts the outcome.
// A shadow evaluation that fails is a deny, as it would be live.
func (s *Shadows) compare(ctx context.Context, r Rehearsal) {
	d, err := r.Shadow(ctx)
	if err != nil {
		d.Allow = false
	}
	disagree := d.Allow != r.Live.Allow
	result := "agreed"
	if disagree {
		result = "disagreed"
		live := "deny"
		if r.Live.Allow {
			live = "allow"
		}
		s.disagreements.WithLabelValues(live).Inc()
	}
	s.compared.WithLabelValues(result).Inc()
	k := shadowKey{r.Tenant.ID.String(), r.Name, r.Version}
	s.mu.Lock()
	p := s.pending[k]
	if p == nil {
		p = &pendingShadow{tenant: r.Tenant}
		s.pending[k] = p
	}
	p.delta.add(r.Input.Action, disagree, sampleOf(s.svc.clock.Now(), r.Input, r.Live, d))
	s.mu.Unlock()
}

// flushTenant stores this replica's comparisons for one tenant, after
// letting the worker drain what is queued now, so a report asked of this
// replica includes the decisions it made before.
func (s *Shadows) flushTenant(ctx context.Context, tenantID string) {
	for i := 0; i < 100 && len(s.queue) > 0; i++ {
		time.Sleep(time.Millisecond)
	}
	s.flush(ctx, tenantID)
}

// flush adds the pending comparisons (of tenantID only, when set) to the
// database. One that cannot be stored is logged and dropped: the
// comparison is a rehearsal's record, not worth holding memory for.
func (s *Shadows) flush(ctx context.Context, tenantID string) {
	s.mu.Lock()
	var take map[shadowKey]*pendingShadow
	for k, p := range s.pending {
		if tenantID == "" || k.tenant == tenantID {
			if take == nil {
				take = map[shadowKey]*pendingShadow{}
			}
			take[k] = p
			delete(s.pending, k)
		}
	}
	s.mu.Unlock()
	for k, p := range take {
		err := s.svc.uow.InTenant(ctx, p.tenant, func(ctx context.Context) error {
			return s.store.AddToShadow(ctx, k.name, k.version, p.delta)
		})
		if err != nil {
			s.log.WarnContext(ctx, "store shadow policy comparisons", "tenant", k.tenant, "module", k.name, "error", err)
		}
	}
}
