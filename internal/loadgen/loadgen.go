// Package loadgen drives an HTTP server with load and measures it: an open
// loop at a fixed rate, latency counted from each request's scheduled send
// time so that a stalled server cannot hide its queue (coordinated omission),
// and a closed loop of N clients, each sending its next request when the last
// one answered, for throughput.
package loadgen

import (
	"context"
	"math"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Op sends request number n (0, 1, 2, ... across all clients) and returns
// an error when it failed: the transport's or an unexpected status.
type Op func(ctx context.Context, n int) error

// Result is what one run of an Op measured.
type Result struct {
	// Requests were sent; Errors of them failed.
	Requests, Errors int
	// Elapsed is the run's length, from its first scheduled request to
	// the last answer.
	Elapsed time.Duration
	// FirstError is a sample of what failed, nil when nothing did.
	FirstError error
	// latencies of the requests that succeeded, sorted.
	latencies []time.Duration
}

// Throughput is the successful requests per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests-r.Errors) / r.Elapsed.Seconds()
}

// Percentile is the latency that q (0 < q <= 1) of the successful requests
// did not exceed (nearest rank), 0 when none succeeded.
func (r Result) Percentile(q float64) time.Duration {
	n := len(r.latencies)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q*float64(n))) - 1 // counted from 0
	return r.latencies[min(max(rank, 0), n-1)]
}

// recorder gathers the outcomes of concurrent requests.
type recorder struct {
	mu        sync.Mutex
	requests  int
	errors    int
	first     error
	latencies []time.Duration
}

func (r *recorder) add(lat time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if err != nil {
		r.errors++
		if r.first == nil {
			r.first = err
		}
		return
	}
	r.latencies = append(r.latencies, lat)
}

func (r *recorder) result(elapsed time.Duration) Result {
	slices.Sort(r.latencies)
	return Result{Requests: r.requests, Errors: r.errors, Elapsed: elapsed, FirstError: r.first, latencies: r.latencies}
}

// OpenLoop sends rate requests per second for d, each at its scheduled
// time whether or not earlier ones have answered, and waits for the last
// answer. A request's latency runs from when it was due, not from when it
// went out, so time spent queued behind a slow server (or a late generator)
// is counted. Cancelling ctx stops the schedule early.
func OpenLoop(ctx context.Context, rate int, d time.Duration, op Op) Result {
	n := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(max(rate, 1))
	var rec recorder
	var wg sync.WaitGroup
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				wg.Wait()
				return rec.result(time.Since(start))
			case <-timer.C:
			}
		}
		wg.Go(func() {
			err := op(ctx, i)
			rec.add(time.Since(due), err)
		})
	}
	wg.Wait()
	return rec.result(time.Since(start))
}

// ClosedLoop runs clients callers back to back for d: each sends its next
// request as soon as its last one answered. Latency is each request's own.
func ClosedLoop(ctx context.Context, clients int, d time.Duration, op Op) Result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var rec recorder
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n := int(next.Add(1) - 1)
				sent := time.Now()
				err := op(ctx, n)
				rec.add(time.Since(sent), err)
			}
		})
	}
	wg.Wait()
	return rec.result(time.Since(start))
}

// NewClient is an HTTP client that keeps up to conns connections to a host
// open between requests, so a loop of conns clients reuses them instead of
// dialling (and leaving sockets in TIME_WAIT) on each request.
func NewClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}
