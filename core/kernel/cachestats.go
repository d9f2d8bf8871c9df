package kernel

import "sync/atomic"

// CacheStats counts one cache's lookups, hits and misses, for the
// atrium_cache_requests_total metric (core/app collects them at scrape
// time, so a lookup costs one atomic add). The zero value is ready; a nil
// *CacheStats counts nothing.
type CacheStats struct{ hits, misses atomic.Uint64 }

// Record counts one lookup.
func (s *CacheStats) Record(hit bool) {
	switch {
	case s == nil:
	case hit:
		s.hits.Add(1)
	default:
		s.misses.Add(1)
	}
}

// Counts returns the lookups counted so far.
func (s *CacheStats) Counts() (hits, misses uint64) {
	if s == nil {
		return 0, 0
	}
	return s.hits.Load(), s.misses.Load()
}
