package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/identity"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/pluginhost"
	"github.com/atriumhq/atrium/core/tenancy"
)

// cacheCollector reports the core's caches' lookups as
// atrium_cache_requests_total{cache,result}, read at scrape time from the
// counts each cache keeps.
type cacheCollector struct {
	desc   *prometheus.Desc
	caches map[string]*kernel.CacheStats
}

func (c cacheCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for name, s := range c.caches {
		hits, misses := s.Counts()
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(hits), name, "hit")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(misses), name, "miss")
	}
}

// registerCacheMetrics registers the collector of every cache the core keeps.
func registerCacheMetrics(reg prometheus.Registerer, tokens *identity.Tokens, standings *identity.Standings,
	tenants *tenancy.Resolver, roles *access.Resolver, policies *opa.Engine, plugins pluginhost.Services,
) error {
	return reg.Register(cacheCollector{
		desc: prometheus.NewDesc("atrium_cache_requests_total",
			"Lookups in the core's caches, by cache and whether the entry was there (hit) or had to be loaded (miss).",
			[]string{"cache", "result"}, nil),
		caches: map[string]*kernel.CacheStats{
			"tokens":   tokens.CacheStats(),
			"tenants":  tenants.CacheStats(),
			"standing": standings.CacheStats(),
			"roles":    roles.CacheStats(),
			"policies": policies.CacheStats(),
			"plugin":   plugins.CacheStats,
		},
	})
}
