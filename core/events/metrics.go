package events

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the events' Prometheus series.
type Metrics struct {
	outboxDepth *prometheus.GaugeVec
	outboxAge   *prometheus.GaugeVec
	deliveries  *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	latency     *prometheus.HistogramVec
}

// NewMetrics returns the metrics, registered with reg when it is not nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		outboxDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "atrium_event_outbox_depth",
			Help: "Pending event deliveries in a tenant's outbox, as this replica last counted them.",
		}, []string{"tenant"}),
		outboxAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "atrium_event_outbox_oldest_age_seconds",
			Help: "Age of the oldest pending event delivery of a tenant (0: none), as this replica last saw it.",
		}, []string{"tenant"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_event_deliveries_total",
			Help: "Event delivery attempts by subscriber kind (plugin, webhook) and outcome (delivered, duplicate, retry, parked).",
		}, []string{"kind", "outcome"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_event_dead_letters_total",
			Help: "Event deliveries parked after their last allowed attempt, by subscriber kind.",
		}, []string{"kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "atrium_event_delivery_latency_seconds",
			Help:    "From an event's commit to its subscriber's handler committing (or its webhook answering 2xx).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.outboxDepth, m.outboxAge, m.deliveries, m.deadLetters, m.latency)
	}
	return m
}

func (m *Metrics) depth(tenant string, n int, oldest time.Time) {
	m.outboxDepth.WithLabelValues(tenant).Set(float64(n))
	age := 0.0
	if n > 0 && !oldest.IsZero() {
		age = time.Since(oldest).Seconds()
	}
	m.outboxAge.WithLabelValues(tenant).Set(age)
}
