package transport_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/internal/hclogslog"
	"github.com/atriumhq/atrium/sdk/internal/testplugin/echo"
	"github.com/atriumhq/atrium/sdk/internal/wire"
	"github.com/atriumhq/atrium/sdk/transport"
)

// payload1KB is a 1 KiB JSON document of the shape the test plugin's echo
// route binds.
func payload1KB(t testing.TB) []byte {
	p := map[string]any{"id": "0195f3b2-7c4e-7d1a-9b2f-3c5d7e9f1a2b", "name": "Quarterly planning",
		"tags": []string{"planning", "q3", "roadmap"}, "count": 42}
	base, _ := json.Marshal(p)
	p["body"] = strings.Repeat("x", 1024-len(base)-len(`,"body":""`))
	out, err := json.Marshal(p)
	if err != nil || len(out) != 1024 {
		t.Fatalf("payload is %d bytes: %v", len(out), err)
	}
	return out
}

// launchBare starts the test plugin as a bare go-plugin echo, launched the
// way transport.Launch launches an SDK plugin.
func launchBare(b *testing.B) *echo.Client {
	cmd := exec.Command(pluginPath)
	cmd.Env = []string{"TESTPLUGIN_MODE=bare"}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          plugin.PluginSet{echo.Name: echo.Plugin{}},
		Cmd:              cmd,
		SecureConfig:     &plugin.SecureConfig{Checksum: pluginSum, Hash: sha256.New()},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		Logger:           hclogslog.New(slog.New(slog.NewTextHandler(io.Discard, nil))),
	})
	b.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		b.Fatal(err)
	}
	raw, err := rpc.Dispense(echo.Name)
	if err != nil {
		b.Fatal(err)
	}
	return raw.(*echo.Client)
}

// BenchmarkHop measures a host→plugin round trip with a 1 KiB JSON payload:
// through the SDK (Handle, Context.Bind, Context.JSON) and through a bare
// go-plugin gRPC echo, sequentially and with 8 concurrent callers.
func BenchmarkHop(b *testing.B) {
	payload := payload1KB(b)
	conn := launch(b, nil)
	bare := launchBare(b)
	req := &transport.Request{
		Route: route(b, conn, "POST", "/echo"), Method: "POST", Path: "/api/v1/testplugin/echo",
		Body:      payload,
		Principal: sdk.Principal{ID: "0195f3b2-0000-7000-8000-000000000001", Type: "user", Email: "a@example.com", Roles: []string{"member"}},
		Tenant:    sdk.Tenant{ID: "0195f3b2-0000-7000-8000-000000000002", Slug: "acme"},
		RequestID: "req-0123456789",
	}
	calls := map[string]func(ctx context.Context) error{
		"sdk": func(ctx context.Context) error {
			resp, err := conn.Handle(ctx, req, nil)
			if err == nil && len(resp.Body) != len(payload) {
				err = fmt.Errorf("echoed %d bytes", len(resp.Body))
			}
			return err
		},
		"bare": func(ctx context.Context) error {
			_, err := bare.Echo(ctx, payload)
			return err
		},
	}
	for _, kind := range []string{"sdk", "bare"} {
		for _, workers := range []int{1, 8} {
			name := fmt.Sprintf("%s/sequential", kind)
			if workers > 1 {
				name = fmt.Sprintf("%s/concurrent%d", kind, workers)
			}
			b.Run(name, func(b *testing.B) { measure(b, workers, calls[kind]) })
		}
	}
	// On a shared machine the load drifts between sub-benchmarks; calls that
	// alternate between the two paths see the same load, so their ratio is
	// the fairest figure.
	for _, workers := range []int{1, 8} {
		name := "interleaved/sequential"
		if workers > 1 {
			name = fmt.Sprintf("interleaved/concurrent%d", workers)
		}
		b.Run(name, func(b *testing.B) { interleave(b, workers, calls["sdk"], calls["bare"]) })
	}
}

// interleave has each of workers goroutines alternate one call of each
// path, and reports both paths' latencies and the ratio of sdk to bare.
func interleave(b *testing.B, workers int, sdkCall, bareCall func(context.Context) error) {
	ctx := context.Background()
	sdkLat := make([][]time.Duration, workers)
	bareLat := make([][]time.Duration, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for w := range workers {
		wg.Go(func() {
			timed := func(call func(context.Context) error, into *[]time.Duration) bool {
				t0 := time.Now()
				if err := call(ctx); err != nil {
					b.Error(err)
					return false
				}
				*into = append(*into, time.Since(t0))
				return true
			}
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				first, second := sdkCall, bareCall
				firstLat, secondLat := &sdkLat[w], &bareLat[w]
				if i%2 == 0 {
					first, second, firstLat, secondLat = bareCall, sdkCall, secondLat, firstLat
				}
				if !timed(first, firstLat) || !timed(second, secondLat) {
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	sdkAll, bareAll := slices.Concat(sdkLat...), slices.Concat(bareLat...)
	if len(sdkAll) == 0 || len(bareAll) == 0 {
		return
	}
	slices.Sort(sdkAll)
	slices.Sort(bareAll)
	pct := func(d []time.Duration, p float64) float64 { return float64(d[int(p*float64(len(d)-1))]) / 1e3 }
	mean := func(d []time.Duration) float64 {
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		return float64(sum) / float64(len(d))
	}
	b.ReportMetric(pct(sdkAll, 0.5), "sdk-p50-µs")
	b.ReportMetric(pct(sdkAll, 0.99), "sdk-p99-µs")
	b.ReportMetric(pct(bareAll, 0.5), "bare-p50-µs")
	b.ReportMetric(pct(bareAll, 0.99), "bare-p99-µs")
	b.ReportMetric(pct(sdkAll, 0.5)/pct(bareAll, 0.5), "p50-ratio")
	b.ReportMetric(mean(sdkAll)/mean(bareAll), "mean-ratio")
}

// measure runs b.N calls over workers goroutines and reports latency
// percentiles and throughput besides ns/op.
func measure(b *testing.B, workers int, call func(context.Context) error) {
	ctx := context.Background()
	for range 50 { // warm the connections
		if err := call(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	lat := make([][]time.Duration, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if err := call(ctx); err != nil {
					b.Error(err)
					return
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	all := slices.Concat(lat...)
	slices.Sort(all)
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "calls/s")
}
