package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// poolCollector reads the pool's statistics at scrape time, so the numbers
// are never stale and cost nothing between scrapes.
type poolCollector struct {
	pool *pgxpool.Pool

	total, idle, acquired, constructing, max   *prometheus.Desc
	acquires, emptyAcquires, canceled, waitSec *prometheus.Desc
	newConns, lifetimeDestroy, idleDestroy     *prometheus.Desc
}

// NewPoolCollector exports pool statistics as atrium_db_pool_* metrics.
func NewPoolCollector(pool *pgxpool.Pool) prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("atrium_db_pool_"+name, help, nil, nil)
	}
	return &poolCollector{
		pool:            pool,
		total:           d("connections", "Connections open in the pool."),
		idle:            d("idle_connections", "Idle connections."),
		acquired:        d("acquired_connections", "Connections in use."),
		constructing:    d("constructing_connections", "Connections being opened."),
		max:             d("max_connections", "The pool's size limit."),
		acquires:        d("acquires_total", "Successful connection acquires."),
		emptyAcquires:   d("empty_acquires_total", "Acquires that had to wait for a connection."),
		canceled:        d("canceled_acquires_total", "Acquires canceled by their context."),
		waitSec:         d("acquire_wait_seconds_total", "Time spent waiting for connections."),
		newConns:        d("new_connections_total", "Connections opened."),
		lifetimeDestroy: d("max_lifetime_destroys_total", "Connections closed for reaching their maximum lifetime."),
		idleDestroy:     d("max_idle_destroys_total", "Connections closed for idling too long."),
	}
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.total, c.idle, c.acquired, c.constructing, c.max, c.acquires, c.emptyAcquires,
		c.canceled, c.waitSec, c.newConns, c.lifetimeDestroy, c.idleDestroy,
	} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.total, float64(s.TotalConns()))
	gauge(c.idle, float64(s.IdleConns()))
	gauge(c.acquired, float64(s.AcquiredConns()))
	gauge(c.constructing, float64(s.ConstructingConns()))
	gauge(c.max, float64(s.MaxConns()))
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.canceled, float64(s.CanceledAcquireCount()))
	counter(c.waitSec, s.AcquireDuration().Seconds())
	counter(c.newConns, float64(s.NewConnsCount()))
	counter(c.lifetimeDestroy, float64(s.MaxLifetimeDestroyCount()))
	counter(c.idleDestroy, float64(s.MaxIdleDestroyCount()))
}
