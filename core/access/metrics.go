package access

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// decisionMetrics count and time the request path's decisions.
type decisionMetrics struct {
	decisions *prometheus.CounterVec
	duration  prometheus.Histogram
}

func newDecisionMetrics(reg prometheus.Registerer) decisionMetrics {
	m := decisionMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_policy_decisions_total",
			Help: "Access decisions by outcome (allow, deny, error: none could be made) and source (policy: the base and the tenant's policy; " +
				"failed: the tenant's policy failed and the decision fails closed; fallback: the base alone, for a tenant admin's policy repair).",
		}, []string{"outcome", "source"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "atrium_policy_decision_duration_seconds",
			Help:    "Time to make one access decision, the policy engine's evaluation included.",
			Buckets: []float64{5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1},
		}),
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.duration)
	}
	return m
}

func (m decisionMetrics) observe(start time.Time, outcome, source string) {
	m.duration.Observe(time.Since(start).Seconds())
	m.decisions.WithLabelValues(outcome, source).Inc()
}
