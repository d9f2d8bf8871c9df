package audit

import "github.com/prometheus/client_golang/prometheus"

// Registerer is where the audit metrics go (a Prometheus registry).
type Registerer = prometheus.Registerer

type metrics struct {
	writes   *prometheus.CounterVec
	failures *prometheus.CounterVec
	sealed   prometheus.Counter
	sealErrs prometheus.Counter
}

func newMetrics(reg Registerer) *metrics {
	m := &metrics{
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_audit_writes_total", Help: "Audit records committed, by outcome.",
		}, []string{"outcome"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "atrium_audit_write_failures_total", Help: "Audit records that could not be written (their requests failed), by outcome.",
		}, []string{"outcome"}),
		sealed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "atrium_audit_sealed_total", Help: "Audit records sealed into their tenant's hash chain.",
		}),
		sealErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "atrium_audit_seal_failures_total", Help: "Sealing passes that failed (their records stay pending and are retried).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.writes, m.failures, m.sealed, m.sealErrs)
	}
	return m
}

func (m *metrics) written(o Outcome) { m.writes.WithLabelValues(string(o)).Inc() }
func (m *metrics) failed(o Outcome)  { m.failures.WithLabelValues(string(o)).Inc() }
