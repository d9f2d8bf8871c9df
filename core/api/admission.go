package api

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atriumhq/atrium/core/kernel"
)

// tenantGate bounds the requests of one tenant served at once. A tenant
// sending far more than the others, or whose requests wait on a lock or a
// slow query, then holds at most that many units of work, and so at most
// that many connections of the shared pool and of the plugins' (and as
// much of the CPU as that many requests use): the other tenants' requests
// find the rest free instead of queueing behind it. A request past the
// bound waits its turn, first come first served within its tenant, for at
// most wait, and is then refused with 503 tenant_busy.
type tenantGate struct {
	max  int
	wait time.Duration
	m    gateMetrics

	mu      sync.Mutex
	tenants map[uuid.UUID]*tenantSlots
}

// tenantSlots are one tenant's places. The entry lives while a request
// holds or waits for a place, so the map holds only active tenants.
type tenantSlots struct {
	held  chan struct{} // one element per request served
	users int           // requests holding or waiting for a place
}

// gateMetrics count admissions by outcome, never by tenant.
type gateMetrics struct {
	admissions *prometheus.CounterVec
	waiting    prometheus.Gauge
}

// newTenantGate returns a gate of max places per tenant; nil (no bound)
// when max is 0.
func newTenantGate(max int, wait time.Duration, reg prometheus.Registerer) *tenantGate {
	if max <= 0 {
		return nil
	}
	g := &tenantGate{max: max, wait: wait, tenants: map[uuid.UUID]*tenantSlots{}, m: gateMetrics{
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_tenant_admissions_total",
			Help: "Tenant requests by how they were admitted: at once, after waiting for a place their tenant held, or refused (503 tenant_busy).",
		}, []string{"outcome"}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "atrium_tenant_admissions_waiting",
			Help: "Tenant requests waiting for a place their tenant holds.",
		}),
	}}
	reg.MustRegister(g.m.admissions, g.m.waiting)
	return g
}

// enter takes one of t's places, waiting for one at most g.wait, and
// returns the function that gives it back.
func (g *tenantGate) enter(ctx context.Context, t *kernel.Tenant) (leave func(), err error) {
	if g == nil {
		return func() {}, nil
	}
	g.mu.Lock()
	s := g.tenants[t.ID]
	if s == nil {
		s = &tenantSlots{held: make(chan struct{}, g.max)}
		g.tenants[t.ID] = s
	}
	s.users++
	g.mu.Unlock()
	leave = func() {
		<-s.held
		g.drop(t.ID, s)
	}
	select {
	case s.held <- struct{}{}:
		g.m.admissions.WithLabelValues("immediate").Inc()
		return leave, nil
	default:
	}
	g.m.waiting.Inc()
	defer g.m.waiting.Dec()
	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	// Blocked senders on a channel are served in the order they came.
	select {
	case s.held <- struct{}{}:
		g.m.admissions.WithLabelValues("waited").Inc()
		return leave, nil
	case <-timer.C:
		g.drop(t.ID, s)
		g.m.admissions.WithLabelValues("refused").Inc()
		return nil, kernel.E(kernel.KindUnavailable, "tenant %s has %d requests in progress and none ended within %s", t.Slug, g.max, g.wait).
			WithCode("tenant_busy")
	case <-ctx.Done():
		g.drop(t.ID, s)
		return nil, ctx.Err()
	}
}

func (g *tenantGate) drop(id uuid.UUID, s *tenantSlots) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.users--; s.users == 0 {
		delete(g.tenants, id)
	}
}
