package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

// TestSoak holds a steady mixed load on a core with a real plugin process
// for ATRIUM_SOAK_DURATION (make soak: 30 minutes): plugin reads and
// writes, core reads, sign-ins and policy uploads, about 50 requests a
// second. It samples what a leak would grow (the process's goroutines, live
// heap and open files, the database's connections, the plugin's resident
// memory) and fails when the last third of the run is not flat against the
// first, or when any request failed. Not in CI: a soak wants its length.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("ATRIUM_SOAK_DURATION"))
	if err != nil || d <= 0 {
		t.Skip("set ATRIUM_SOAK_DURATION (make soak) to run it")
	}
	every := max(d/60, time.Second)
	s := startPluginCoreLogging(t, func(c *config.Config) {
		c.LoginRateLimit = 1 << 30     // the load signs in again and again
		c.LoginIPRateLimit = 1 << 30   // from one address
		c.AccessTokenTTL = time.Minute // and its tokens expire during the run
	}, nil)
	s.install("notesplugin", "notes")
	s.mustRegister("notes", "notes")
	var token atomic.Pointer[string]
	tok := s.tenant("acme", "notes")
	token.Store(&tok)
	var first note
	s.call(http.MethodPost, "/api/v1/notes", tok, map[string]string{"text": "the note every read reads"}).want(t, http.StatusCreated, &first)

	var sent, failed atomic.Int64
	var failures sync.Map // status and path -> count, for the report
	op := func(i int) {
		tok := *token.Load()
		var a answer
		switch i % 20 {
		case 0, 1, 2, 3, 4, 5, 6, 7, 8, 9:
			a = s.send(http.MethodGet, "/api/v1/notes/"+strconv.FormatInt(first.ID, 10), tok, nil)
		case 10, 11, 12, 13:
			a = s.send(http.MethodPost, "/api/v1/notes", tok, map[string]string{"text": "soak " + strconv.Itoa(i)})
		case 14, 15, 16:
			a = s.send(http.MethodGet, "/api/v1/auth/me", tok, nil)
		case 17, 18:
			a = s.send(http.MethodPost, "/api/v1/auth/login", "", map[string]string{
				"tenant": "acme", "email": "admin@acme.test", "password": adminPassword,
			})
			var pair api.TokenResponse
			if a.status == http.StatusOK && json.Unmarshal(a.body, &pair) == nil && pair.AccessToken != "" {
				token.Store(&pair.AccessToken)
			}
		case 19:
			if i%200 == 19 { // a policy upload now and then: a compile and its tests
				a = s.send(http.MethodPut, "/api/v1/policies/guard", tok, map[string]string{"rego": guardPolicy, "tests": guardTests})
			} else {
				a = s.send(http.MethodGet, "/api/v1/users", tok, nil)
			}
		}
		sent.Add(1)
		if a.status < 200 || a.status >= 300 {
			failed.Add(1)
			key := strconv.Itoa(a.status) + " " + strings.SplitN(string(a.body), "\n", 2)[0]
			n, _ := failures.LoadOrStore(key, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	const workers, interval = 4, 80 * time.Millisecond // 50 requests a second
	for w := range workers {
		wg.Go(func() {
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for i := w; ; i += workers {
				select {
				case <-stop:
					return
				case <-tick.C:
					op(i)
				}
			}
		})
	}

	pid := s.plugin("notes").PID
	var samples []soakSample
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		time.Sleep(every)
		samples = append(samples, sample(t, s.db, pid))
		if len(samples) == 1 {
			writeHeapProfile(t, "first")
		}
	}
	writeHeapProfile(t, "last")
	close(stop)
	wg.Wait()

	t.Logf("%d requests, %d failed", sent.Load(), failed.Load())
	failures.Range(func(k, v any) bool {
		t.Logf("  %d× %s", v.(*atomic.Int64).Load(), k)
		return true
	})
	t.Logf("%8s %10s %12s %10s %8s %14s", "at", "goroutines", "live heap", "open files", "db conns", "plugin RSS")
	for i, x := range samples {
		t.Logf("%8s %10d %10.1fMB %10d %8d %12.1fMB", time.Duration(i+1)*every, x.goroutines, mb(x.heap), x.files, x.conns, mb(x.pluginRSS))
	}
	assert.Zero(t, failed.Load(), "every request succeeded")
	require.GreaterOrEqual(t, len(samples), 6, "a soak long enough to compare its thirds")
	third := len(samples) / 3
	early, late := samples[1:third+1], samples[len(samples)-third:] // the first sample is the warm-up's
	flat := func(what string, of func(soakSample) float64, slack func(float64) float64) {
		e, l := median(early, of), median(late, of)
		assert.LessOrEqual(t, l, e+slack(e), "%s grew: %.1f early, %.1f late", what, e, l)
	}
	flat("goroutines", func(x soakSample) float64 { return float64(x.goroutines) }, func(e float64) float64 { return max(20, e/10) })
	flat("live heap (MB)", func(x soakSample) float64 { return mb(x.heap) }, func(e float64) float64 { return 4 + e/4 })
	flat("open files", func(x soakSample) float64 { return float64(x.files) }, func(float64) float64 { return 10 })
	flat("database connections", func(x soakSample) float64 { return float64(x.conns) }, func(float64) float64 { return 5 })
	flat("plugin RSS (MB)", func(x soakSample) float64 { return mb(x.pluginRSS) }, func(e float64) float64 { return 8 + e/4 })
}

type soakSample struct {
	goroutines int
	heap       uint64 // live, after a collection
	files      int
	conns      int
	pluginRSS  uint64
}

func sample(t *testing.T, db string, pluginPID int) soakSample {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fds, _ := os.ReadDir("/proc/self/fd")
	conns, _ := strconv.Atoi(postgrestest.Exec(t, db, "SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = current_database()"))
	return soakSample{goroutines: runtime.NumGoroutine(), heap: m.HeapAlloc, files: len(fds), conns: conns, pluginRSS: rss(pluginPID)}
}

// rss is a process's resident memory in bytes, from /proc.
func rss(pid int) uint64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(status)) {
		if kb, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(kb), "kB")), 10, 64)
			return n * 1024
		}
	}
	return 0
}

// writeHeapProfile writes the live heap to $ATRIUM_SOAK_HEAP.name when
// that is set: go tool pprof -base its first profile against its last
// shows what grew.
func writeHeapProfile(t *testing.T, name string) {
	prefix := os.Getenv("ATRIUM_SOAK_HEAP")
	if prefix == "" {
		return
	}
	f, err := os.Create(prefix + "." + name)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, pprof.WriteHeapProfile(f))
}

func median(xs []soakSample, of func(soakSample) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = of(x)
	}
	slices.Sort(v)
	return v[len(v)/2]
}

func mb(b uint64) float64 { return float64(b) / (1 << 20) }
