package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/atriumhq/atrium/internal/loadgen"
)

// figures are what one round measured of one target. A figure not
// measured (PocketBase has no core route; memory of a remote server) is NaN.
type figures struct {
	reads, readP50, readP99     float64 // req/s closed loop; ms at the open loop's rate
	coreReads, coreP50, coreP99 float64 // Atrium's in-core read, the same way
	creates                     float64 // req/s closed loop
	rssMB                       float64 // after the round's load
	failed                      int     // requests that failed, every phase
}

func unmeasured() figures {
	nan := math.NaN()
	return figures{reads: nan, readP50: nan, readP99: nan, coreReads: nan, coreP50: nan, coreP99: nan, creates: nan, rssMB: nan}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// openFigures are an open loop's p50 and p99 in milliseconds.
func openFigures(r loadgen.Result) (p50, p99 float64) {
	return ms(r.Percentile(0.50)), ms(r.Percentile(0.99))
}

// median of one figure over rounds, NaN when no round measured it.
func median(rounds []figures, of func(figures) float64) float64 {
	var v []float64
	for _, f := range rounds {
		if x := of(f); !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return math.NaN()
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func failed(rounds []figures) float64 {
	n := 0
	for _, f := range rounds {
		n += f.failed
	}
	return float64(n)
}

// benchSettings are what the figures were measured with, for the labels.
type benchSettings struct {
	clients, rate, rounds int
	duration              time.Duration
}

// row is one line of a table: a label and how to get the figure.
type row struct {
	label  string
	of     func(figures) float64
	digits int
	total  bool // summed over rounds, not a median
}

// report writes the medians as markdown tables: Atrium beside PocketBase
// (pb nil when it was not given) with their ratios, then Atrium's plugin
// route beside its core route.
func report(w io.Writer, s benchSettings, atrium, pb []figures) {
	rounds := fmt.Sprintf("Medians of %d rounds", s.rounds)
	if s.rounds == 1 {
		rounds = "One round"
	}
	fmt.Fprintf(w, "\n%s, %s a phase, %d closed-loop clients, open loop at %d req/s.\n\n", rounds, s.duration, s.clients, s.rate)
	rows := []row{
		{fmt.Sprintf("reads, %d closed-loop clients (req/s)", s.clients), func(f figures) float64 { return f.reads }, 0, false},
		{fmt.Sprintf("reads at %d req/s open loop, p50 (ms)", s.rate), func(f figures) float64 { return f.readP50 }, 2, false},
		{fmt.Sprintf("reads at %d req/s open loop, p99 (ms)", s.rate), func(f figures) float64 { return f.readP99 }, 2, false},
		{fmt.Sprintf("creates, %d closed-loop clients (req/s)", s.clients), func(f figures) float64 { return f.creates }, 0, false},
		{"memory after, RSS (MB)", func(f figures) float64 { return f.rssMB }, 0, false},
		{"failed requests (all rounds)", nil, 0, true},
	}
	value := func(r row, rounds []figures) float64 {
		if r.total {
			return failed(rounds)
		}
		return median(rounds, r.of)
	}
	if pb == nil {
		fmt.Fprintln(w, "| | Atrium |\n| --- | ---: |")
		for _, r := range rows {
			fmt.Fprintf(w, "| %s | %s |\n", r.label, num(value(r, atrium), r.digits))
		}
		fmt.Fprintln(w, "\nPocketBase was not given (POCKETBASE_URL): Atrium's figures alone.")
	} else {
		fmt.Fprintln(w, "| | Atrium | PocketBase | Atrium/PocketBase |\n| --- | ---: | ---: | ---: |")
		for _, r := range rows {
			a, p := value(r, atrium), value(r, pb)
			ratio := "" // a ratio of failures says nothing
			if !r.total {
				ratio = num(a/p, 2)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.label, num(a, r.digits), num(p, r.digits), ratio)
		}
	}
	fmt.Fprintln(w, "\nAtrium: the plugin's GET /api/v1/projects/{id} against the core's GET /api/v1/users/{id}.")
	fmt.Fprintln(w, "\n| | plugin route | core route | plugin/core |\n| --- | ---: | ---: | ---: |")
	for _, r := range []struct {
		label        string
		plugin, core func(figures) float64
		digits       int
	}{
		{rows[0].label, func(f figures) float64 { return f.reads }, func(f figures) float64 { return f.coreReads }, 0},
		{rows[1].label, func(f figures) float64 { return f.readP50 }, func(f figures) float64 { return f.coreP50 }, 2},
		{rows[2].label, func(f figures) float64 { return f.readP99 }, func(f figures) float64 { return f.coreP99 }, 2},
	} {
		p, c := median(atrium, r.plugin), median(atrium, r.core)
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", r.label, num(p, r.digits), num(c, r.digits), num(p/c, 2))
	}
}

// num formats x with digits decimals and thousands separated, "n/a" for
// what was not measured.
func num(x float64, digits int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	s := fmt.Sprintf("%.*f", digits, x)
	whole, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(whole, "-")
	whole = strings.TrimPrefix(whole, "-")
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	out := b.String()
	if neg {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}
