package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReportMediansAndRatios(t *testing.T) {
	round := func(reads, p50, p99, creates, rss float64, failed int) figures {
		f := unmeasured()
		f.reads, f.readP50, f.readP99, f.creates, f.rssMB, f.failed = reads, p50, p99, creates, rss, failed
		f.coreReads, f.coreP50, f.coreP99 = 2*reads, p50/2, p99/2
		return f
	}
	atrium := []figures{round(1000, 1, 10, 500, 100, 1), round(3000, 3, 30, 700, 120, 0), round(2000, 2, 20, 600, 110, 2)}
	pb := []figures{round(4000, 0.5, 5, 1200, 50, 0), round(4000, 0.5, 5, 1200, 50, 0)}
	for i := range pb {
		pb[i].coreReads, pb[i].coreP50, pb[i].coreP99 = math.NaN(), math.NaN(), math.NaN()
	}
	s := benchSettings{clients: 32, rate: 1000, rounds: 3, duration: 10 * time.Second}

	var out bytes.Buffer
	report(&out, s, atrium, pb)
	text := out.String()
	assert.Contains(t, text, "| reads, 32 closed-loop clients (req/s) | 2,000 | 4,000 | 0.50 |")
	assert.Contains(t, text, "| reads at 1000 req/s open loop, p50 (ms) | 2.00 | 0.50 | 4.00 |")
	assert.Contains(t, text, "| reads at 1000 req/s open loop, p99 (ms) | 20.00 | 5.00 | 4.00 |")
	assert.Contains(t, text, "| creates, 32 closed-loop clients (req/s) | 600 | 1,200 | 0.50 |")
	assert.Contains(t, text, "| memory after, RSS (MB) | 110 | 50 | 2.20 |")
	assert.Contains(t, text, "| failed requests (all rounds) | 3 | 0 |  |")
	assert.Contains(t, text, "| reads at 1000 req/s open loop, p50 (ms) | 2.00 | 1.00 | 2.00 |", "plugin against core")
	assert.Contains(t, text, "| reads at 1000 req/s open loop, p99 (ms) | 20.00 | 10.00 | 2.00 |", "plugin against core")
	assert.NotContains(t, text, "not given")

	out.Reset()
	report(&out, s, atrium, nil)
	assert.Contains(t, out.String(), "| reads, 32 closed-loop clients (req/s) | 2,000 |\n")
	assert.Contains(t, out.String(), "PocketBase was not given")
}

func TestMedianSkipsUnmeasured(t *testing.T) {
	rounds := []figures{unmeasured(), unmeasured(), unmeasured()}
	rounds[0].rssMB, rounds[2].rssMB = 10, 20
	assert.InDelta(t, 15.0, median(rounds, func(f figures) float64 { return f.rssMB }), 1e-9)
	assert.True(t, math.IsNaN(median(rounds, func(f figures) float64 { return f.reads })))
}

func TestNum(t *testing.T) {
	assert.Equal(t, "1,234,567", num(1234567.4, 0))
	assert.Equal(t, "999", num(999, 0))
	assert.Equal(t, "1,000.50", num(1000.5, 2))
	assert.Equal(t, "-1,000", num(-1000, 0))
	assert.Equal(t, "n/a", num(math.NaN(), 2))
	assert.Equal(t, "n/a", num(math.Inf(1), 2))
}

// TestBenchLoad runs the tool end to end on a short load: it builds
// atriumd and the projects plugin, starts them on a scratch database, sets
// Atrium up through its API and measures it, with the PocketBase at
// POCKETBASE_URL beside it when one is given.
func TestBenchLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("builds atriumd and needs PostgreSQL")
	}
	bin := t.TempDir()
	for pkg, out := range map[string]string{"../atriumd": "atriumd", "../../plugins/projects": "plugins/projects"} {
		build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(bin, out), pkg)
		build.Stderr = os.Stderr
		require.NoError(t, build.Run(), pkg)
	}
	var out, progress bytes.Buffer
	run := benchRun{
		benchSettings: benchSettings{duration: 500 * time.Millisecond, rate: 50, clients: 2, rounds: 2},
		bin:           bin,
		pbURL:         os.Getenv("POCKETBASE_URL"),
	}
	err := benchLoad(context.Background(), &out, &progress, run)
	t.Log(progress.String())
	t.Log(out.String())
	require.NoError(t, err)

	text := out.String()
	assert.Contains(t, text, "| failed requests (all rounds) | 0 |")
	assert.Contains(t, progress.String(), "round 2/2 Atrium")
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "| reads") || strings.HasPrefix(line, "| creates") || strings.HasPrefix(line, "| memory") {
			assert.NotContains(t, line, "n/a", "every figure measured")
		}
	}
	if run.pbURL == "" {
		assert.Contains(t, text, "PocketBase was not given")
	} else {
		assert.Contains(t, progress.String(), "round 2/2 PocketBase")
	}
}
