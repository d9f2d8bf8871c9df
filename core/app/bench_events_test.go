package app_test

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/core/tenancy"
)

// TestEventThroughputAndLatency measures the events' figures of
// docs/events.md: events committed and delivered per second for one tenant
// and for 100, and the commit-to-handler latency at a steady 500 events/s.
// It runs when ATRIUM_BENCH_EVENTS=1 (a few minutes):
//
//	ATRIUM_BENCH_EVENTS=1 go test -run '^TestEventThroughputAndLatency$' -v -timeout 30m ./core/app
func TestEventThroughputAndLatency(t *testing.T) {
	if os.Getenv("ATRIUM_BENCH_EVENTS") != "1" {
		t.Skip("a benchmark: ATRIUM_BENCH_EVENTS=1 runs it")
	}
	s, admin := eventsCore(t, "bench0", nil)

	// Steady rate first, on a quiet core: 500 events a second for 10 s,
	// as ATRIUM_BENCH_EVENTS_BATCH events (default 5) per request.
	const rate, seconds = 500, 10
	batch := 5
	if b, err := strconv.Atoi(os.Getenv("ATRIUM_BENCH_EVENTS_BATCH")); err == nil && b > 0 {
		batch = b
	}
	var firstErr atomic.Value
	lat, errs := openLoop(rate/batch, seconds*time.Second, func() error {
		r := s.call(http.MethodPost, "/api/v1/relay", admin, map[string]any{"count": batch})
		if r.err != nil || r.status != http.StatusNoContent {
			firstErr.CompareAndSwap(nil, r.String())
			return fmt.Errorf("%s", r)
		}
		return nil
	})
	require.Zero(t, errs, "first: %v", firstErr.Load())
	s.waitApplied(admin, rate*seconds, time.Minute)
	q := latencies(t, s.db, "bench0")
	t.Logf("steady %d events/s (%d requests/s of %d) for %ds: %d events, commit-to-handler p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms; request p50 %.1f ms p99 %.1f ms",
		rate, rate/batch, batch, seconds, len(q), percentile(q, .5), percentile(q, .9), percentile(q, .99), percentile(q, 1), percentile(lat, .5), percentile(lat, .99))

	// Throughput, one tenant: 8 clients emitting 50 events a request.
	committed, delivered := throughput(t, s, []string{"bench0"}, map[string]string{"bench0": admin}, 5*time.Second)
	t.Logf("one tenant: %.0f events/s committed, %.0f events/s delivered", committed, delivered)

	// Throughput, 100 tenants.
	slugs := []string{}
	tokens := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range 100 {
		slug := "bench" + strconv.Itoa(i+1)
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			tok := s.tenant(slug, "relay")
			mu.Lock()
			slugs, tokens[slug] = append(slugs, slug), tok
			mu.Unlock()
		})
	}
	wg.Wait()
	committed, delivered = throughput(t, s, slugs, tokens, 5*time.Second)
	t.Logf("100 tenants: %.0f events/s committed, %.0f events/s delivered", committed, delivered)
}

// latencies are the commit-to-handler delays (ms) of every event the relay
// applied in the tenant: from events_append, just before COMMIT, to the
// handler's write.
func latencies(t *testing.T, db, slug string) []float64 {
	schema := tenancy.SchemaName(slug)
	raw := postgrestest.Exec(t, db, `SELECT string_agg((extract(epoch FROM a.at - o.occurred_at) * 1000)::text, ',')
		FROM `+schema+`.relay_applied a JOIN `+schema+`.outbox o ON o.event_id = a.event_id::uuid`)
	var out []float64
	for f := range strings.SplitSeq(raw, ",") {
		v, err := strconv.ParseFloat(f, 64)
		require.NoError(t, err)
		out = append(out, v)
	}
	return out
}

// throughput emits from 8 clients over the tenants for d and returns the
// events committed per second, and delivered per second (from the first
// request to the last event applied).
func throughput(t *testing.T, s *pluginServer, slugs []string, tokens map[string]string, d time.Duration) (float64, float64) {
	before := 0
	for _, slug := range slugs {
		before += count(t, s.db, slug)
	}
	var emitted atomic.Int64
	var next atomic.Int64
	start := time.Now()
	closedLoop(8, d, func() error {
		slug := slugs[int(next.Add(1))%len(slugs)]
		r := s.call(http.MethodPost, "/api/v1/relay", tokens[slug], map[string]any{"count": 50})
		if r.err != nil || r.status != http.StatusNoContent {
			return fmt.Errorf("%s", r)
		}
		emitted.Add(50)
		return nil
	})
	committedFor := time.Since(start)
	want := before + int(emitted.Load())
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(50 * time.Millisecond) {
		got := 0
		for _, slug := range slugs {
			got += count(t, s.db, slug)
		}
		if got >= want {
			break
		}
		require.True(t, time.Now().Before(deadline), "%d of %d delivered", got, want)
	}
	return float64(emitted.Load()) / committedFor.Seconds(), float64(emitted.Load()) / time.Since(start).Seconds()
}

func count(t *testing.T, db, slug string) int {
	n, err := strconv.Atoi(postgrestest.Exec(t, db, "SELECT count(*) FROM "+tenancy.SchemaName(slug)+".relay_applied"))
	require.NoError(t, err)
	return n
}
