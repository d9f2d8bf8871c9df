package opa_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
)

// sharedChain is Rego building name0 ... name<levels>, each an array
// holding the one before twice: a value of 2^levels leaves built in as many
// steps (refused past maxValueSize elements). array.concat keeps its type
// dynamic, so the compiler's type checker does not walk it.
func sharedChain(name string, levels int) string { return sharedChainOf(name, `"a"`, levels) }

// sharedChainOf is sharedChain with leaves of its own.
func sharedChainOf(name, leaf string, levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s0 := [%s]\n", name, leaf)
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "%s%d := array.concat([%s%d], [%s%d])\n", name, i, name, i-1, name, i-1)
	}
	return b.String()
}

// stuckStep is one built-in call that runs for about a second and checks
// for nothing, over doubled("s", 17).
const stuckStep = `regex.match("a[ab]{1000}c", s17)`

// The heaviest tenant policies still allowed, as runaways.
var (
	// untilTheDeadline allocates as fast as Rego can (a string doubled at
	// every step, copied by a built-in that checks for cancellation) until
	// the deadline stops it: the worst for the garbage collector, which
	// every tenant shares.
	untilTheDeadline = "package tenant\nallow contains \"never\" if count(s30) < 0\n" + doubled("s", 30)
	// pastTheDeadline is one step, deaf to cancellation, that runs on long
	// after it: a regular expression of a thousand states run over 256 KiB
	// (Go's regexp is linear in both: a second or so).
	pastTheDeadline = "package tenant\nallow contains \"never\" if " + stuckStep + "\n" + doubled("s", 17)
)

// BenchmarkDecisionBesideRunaway: other tenants' decisions (100 tenants'
// realistic policies, in turn, one at a time) alone, then while one tenant's
// runaway policy is evaluated in a loop by two goroutines and denied at its
// deadline, in the same run. Each loop asks again as soon as its decision is
// denied, or at the deadline's pace when it is denied at once (a busy loop
// of instant denials would measure the loop, not the policy). The target is
// a p99 beside the runaway within 2x of alone.
func BenchmarkDecisionBesideRunaway(b *testing.B) {
	const tenants, loops, deadline = 100, 2, 50 * time.Millisecond
	for _, bc := range []struct{ name, runaway string }{
		{"alone", ""},
		{"beside-runaway-until-the-deadline", untilTheDeadline},
		{"beside-runaway-past-the-deadline", pastTheDeadline},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEngine(b, opa.Options{Deadline: deadline})
			src := &source{sets: map[string]policy.Set{"runaway": set(1, bc.runaway)}}
			mods := realistic(b)
			for i := range tenants {
				src.sets[fmt.Sprint(i)] = policy.Set{Revision: 1, Modules: own(mods, i)}
				if d, err := e.Evaluate(context.Background(), fmt.Sprint(i), src, benchInput(), false); err != nil || !d.Allow {
					b.Fatal(d, err)
				}
			}
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var runs atomic.Int64
			var slowest atomic.Int64
			if bc.runaway != "" {
				for range loops {
					wg.Go(func() {
						for ctx.Err() == nil {
							start := time.Now()
							if d, _ := e.Evaluate(context.Background(), "runaway", src, benchInput(), false); d.Allow {
								panic("the runaway policy was allowed")
							}
							took := time.Since(start)
							if took.Nanoseconds() > slowest.Load() {
								slowest.Store(took.Nanoseconds())
							}
							runs.Add(1)
							time.Sleep(deadline - took) // denied at once: ask again at the deadline's pace
						}
					})
				}
				time.Sleep(200 * time.Millisecond) // running at full tilt
			}
			req := benchInput()
			durations := make([]time.Duration, 0, b.N)
			denied := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				d, _ := e.Evaluate(context.Background(), fmt.Sprint(i%tenants), src, req, false)
				durations = append(durations, time.Since(start))
				if !d.Allow {
					denied++
				}
			}
			b.StopTimer()
			stop()
			wg.Wait()
			reportLatency(b, durations)
			b.ReportMetric(float64(denied), "others-denied")
			if bc.runaway != "" {
				b.ReportMetric(float64(runs.Load()), "runaway-decisions")
				b.ReportMetric(float64(slowest.Load())/1e6, "runaway-slowest-ms")
			}
		})
	}
}
