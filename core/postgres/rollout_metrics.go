package postgres

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// rolloutMetrics are the atrium_tenant_migrations_* metrics. Without a
// registerer they are still updated, just never exported.
type rolloutMetrics struct {
	tenants  *prometheus.CounterVec
	duration prometheus.Histogram
	behind   prometheus.Gauge
}

func newRolloutMetrics(reg prometheus.Registerer) *rolloutMetrics {
	m := &rolloutMetrics{
		tenants: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_tenant_migrations_tenants_total",
			Help: "Tenants a migration rollout worked on, by outcome.",
		}, []string{"outcome"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "atrium_tenant_migrations_duration_seconds",
			Help:    "Time to migrate one tenant, every component included.",
			Buckets: prometheus.ExponentialBuckets(0.005, 4, 8), // 5ms to 82s
		}),
		behind: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "atrium_tenant_migrations_behind",
			Help: "Tenants behind the latest migrations when the last rollout started, less those it has brought up to date.",
		}),
	}
	if reg != nil {
		// Several rollouts in one process share the metrics.
		m.tenants = register(reg, m.tenants)
		m.duration = register(reg, m.duration)
		m.behind = register(reg, m.behind)
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	err := reg.Register(c)
	var dup prometheus.AlreadyRegisteredError
	if errors.As(err, &dup) {
		if existing, ok := dup.ExistingCollector.(C); ok {
			return existing
		}
	}
	if err != nil {
		panic(err) // a clash with another metric of that name is a programming error
	}
	return c
}

func (m *rolloutMetrics) observe(res tenantResult) {
	m.tenants.WithLabelValues(outcomeLabel(res.outcome)).Inc()
	m.duration.Observe(res.duration.Seconds())
	if res.outcome == RolloutMigrated || res.outcome == RolloutUpToDate {
		m.behind.Dec()
	}
}

func outcomeLabel(o RolloutOutcome) string {
	switch o {
	case RolloutUpToDate:
		return "up_to_date"
	case RolloutSkipped:
		return "skipped"
	default:
		return string(o)
	}
}
