package loadgen_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/internal/loadgen"
)

// get is an Op that GETs url with client and wants a 200.
func get(client *http.Client, url string) loadgen.Op {
	return func(ctx context.Context, _ int) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

// slowServer answers 200 after delay, and counts requests and the most it
// served at once.
type slowServer struct {
	delay         time.Duration
	served        atomic.Int64
	inFlight, max atomic.Int64
}

func (s *slowServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	now := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.max.Load()
		if now <= m || s.max.CompareAndSwap(m, now) {
			break
		}
	}
	time.Sleep(s.delay)
	s.served.Add(1)
}

func TestOpenLoopSendsAtTheRateWithoutWaitingForAnswers(t *testing.T) {
	srv := &slowServer{delay: 200 * time.Millisecond}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	start := time.Now()
	res := loadgen.OpenLoop(context.Background(), 100, 500*time.Millisecond, get(loadgen.NewClient(100), ts.URL))
	took := time.Since(start)

	assert.Equal(t, 50, res.Requests)
	assert.Equal(t, 0, res.Errors)
	assert.EqualValues(t, 50, srv.served.Load())
	// A closed loop of one would take 50 x 200 ms; the schedule does not wait.
	assert.Less(t, took, 2*time.Second)
	assert.GreaterOrEqual(t, srv.max.Load(), int64(10), "requests overlap: each is sent when due")
	assert.GreaterOrEqual(t, res.Percentile(0.5), 200*time.Millisecond)
}

func TestOpenLoopCountsLatencyFromTheSchedule(t *testing.T) {
	// One connection and 20 ms a request: requests due every 10 ms queue in
	// the client, and the last of 20 answers at least 400 ms after the first
	// was due, so at least 210 ms after it was due itself: the wait is
	// counted, where the server's own time is 20 ms throughout.
	ts := httptest.NewServer(&slowServer{delay: 20 * time.Millisecond})
	defer ts.Close()
	client := loadgen.NewClient(1)
	client.Transport.(*http.Transport).MaxConnsPerHost = 1

	res := loadgen.OpenLoop(context.Background(), 100, 200*time.Millisecond, get(client, ts.URL))

	require.Equal(t, 20, res.Requests)
	assert.Equal(t, 0, res.Errors)
	assert.GreaterOrEqual(t, res.Percentile(1), 210*time.Millisecond)
}

func TestOpenLoopStopsWhenCancelled(t *testing.T) {
	ts := httptest.NewServer(&slowServer{})
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()

	start := time.Now()
	res := loadgen.OpenLoop(ctx, 100, 10*time.Second, get(loadgen.NewClient(10), ts.URL))

	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Less(t, res.Requests, 100)
}

func TestClosedLoopRunsNClientsAndCountsErrors(t *testing.T) {
	srv := &slowServer{delay: 5 * time.Millisecond}
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		srv.ServeHTTP(w, r)
	}))
	defer ts.Close()

	res := loadgen.ClosedLoop(context.Background(), 8, 300*time.Millisecond, get(loadgen.NewClient(8), ts.URL))

	assert.EqualValues(t, n.Load(), res.Requests)
	assert.EqualValues(t, res.Requests/3, res.Errors)
	require.Error(t, res.FirstError)
	assert.Contains(t, res.FirstError.Error(), "status 503")
	assert.EqualValues(t, 8, srv.max.Load(), "8 clients, each one request at a time")
	// Each client does at most 300 ms / 5 ms successful requests.
	assert.InDelta(t, float64(res.Requests-res.Errors)/res.Elapsed.Seconds(), res.Throughput(), 0.001)
	assert.Greater(t, res.Throughput(), 100.0)
	assert.Less(t, res.Throughput(), 8*1000/5.0)
	assert.GreaterOrEqual(t, res.Percentile(0.5), 5*time.Millisecond)
}

func TestClosedLoopNumbersRequestsOnce(t *testing.T) {
	var seen [4096]atomic.Int32
	res := loadgen.ClosedLoop(context.Background(), 4, 20*time.Millisecond, func(_ context.Context, n int) error {
		if n >= len(seen) {
			return errors.New("too many")
		}
		seen[n].Add(1)
		time.Sleep(time.Millisecond)
		return nil
	})
	require.Zero(t, res.Errors)
	for i := range res.Requests {
		assert.EqualValues(t, 1, seen[i].Load(), "request %d", i)
	}
}
