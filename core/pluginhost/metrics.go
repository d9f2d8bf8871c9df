package pluginhost

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Registerer is where the plugin metrics go (a Prometheus registry).
type Registerer = prometheus.Registerer

type metrics struct {
	calls    *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	restarts *prometheus.CounterVec
	state    *prometheus.GaugeVec
	prefetch *prometheus.CounterVec
}

func newMetrics(reg Registerer) *metrics {
	m := &metrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_plugin_calls_total", Help: "Requests sent to plugins, by plugin and outcome (ok, error, timeout, unavailable).",
		}, []string{"plugin", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "atrium_plugin_call_duration_seconds", Help: "Time plugins took to answer, host services included.",
			Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"plugin"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_plugin_restarts_total", Help: "Plugin processes that exited and were restarted.",
		}, []string{"plugin"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "atrium_plugin_state", Help: "1 for each plugin's current state.",
		}, []string{"plugin", "state"}),
		prefetch: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_plugin_prefetches_total",
			Help: "Statements the host ran ahead of a read handler, by plugin and outcome (used, unused by the handler, failed and rolled back).",
		}, []string{"plugin", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.latency, m.restarts, m.state, m.prefetch)
	}
	return m
}

func (m *metrics) call(plugin, outcome string, took time.Duration) {
	m.calls.WithLabelValues(plugin, outcome).Inc()
	if took > 0 {
		m.latency.WithLabelValues(plugin).Observe(took.Seconds())
	}
}

func (m *metrics) prefetched(plugin, outcome string) {
	m.prefetch.WithLabelValues(plugin, outcome).Inc()
}

func (m *metrics) setState(plugin string, s State) {
	for _, st := range []State{StateStarting, StateRunning, StateRestarting, StateFailed, StateStopped} {
		v := 0.0
		if st == s {
			v = 1
		}
		m.state.WithLabelValues(plugin, string(st)).Set(v)
	}
}
