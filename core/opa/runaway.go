package opa

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// A tenant's query runs on a goroutine of its own, and the decision waits
// for it only until the deadline. Topdown stops at its next step once
// cancelled, but one step can outlast the deadline by far: a built-in that
// does not check for cancellation, or one of the language's own operations
// on a value built of shared parts (==, <, set insertion compare such a
// value node by node, exponentially many), which no capability can refuse.
// So a decision is denied at its deadline whatever the policy does, and
// the tenant's next decisions are denied at once (breaker.go): a runaway
// policy holds at most one core while a step of it runs on, not one per
// request, and little CPU otherwise.
//
// OPA has no per-evaluation memory or work bound to add: topdown offers
// cancellation (used here), metrics and strict built-in errors; the
// compiler's and parser's limits are on policy text. Its Wasm target bounds
// memory per instance, but would mean compiling every tenant's policy to
// Wasm, and its non-native built-ins run as here. Memory is bounded instead
// by refusing or bounding the built-ins that amplify (builtins.go), and by
// the deadline for everything else.

// A tenant's evaluations run at most evaluationSlots at once, each holding
// its slot until it ends, abandoned or not. A decision is work for one core,
// so more at once would not decide sooner; and a burst of a new runaway's
// requests, all admitted before the first of them reaches its deadline,
// leaves as many steps running on past it, not one per request. A decision
// waits for a slot until its deadline.
func evaluationSlots() int { return max(2, runtime.GOMAXPROCS(0)) }

var errNoSlot = errors.New("tenant policy: no evaluation slot before the deadline (as many of the tenant's evaluations run)")

// watch cancels an evaluation at its deadline and wakes the decision
// waiting for it. Watches are recycled: one whose timer was stopped before
// it fired, and whose cancel was never used, is as good as new, and saves a
// decision a timer, a channel and a cancel.
type watch struct {
	cancel  topdown.Cancel
	timer   *time.Timer
	expired chan struct{} // receives once, when the timer fires
}

var watches sync.Pool

func startWatch(d time.Duration) *watch {
	if w, ok := watches.Get().(*watch); ok {
		w.timer.Reset(d)
		return w
	}
	w := &watch{cancel: topdown.NewCancel(), expired: make(chan struct{}, 1)}
	w.timer = time.AfterFunc(d, w.fire)
	return w
}

func (w *watch) fire() {
	w.cancel.Cancel()
	w.expired <- struct{}{} // never blocks: fires once, never recycled after
}

// stop ends the watch, keeping it for another evaluation if nothing
// cancelled it or still can: its timer stopped before firing, and unused
// says nothing else (the context's AfterFunc) will call its cancel.
func (w *watch) stop(unused bool) {
	if w.timer.Stop() && unused && !w.cancel.Cancelled() {
		watches.Put(w)
	}
}

// Run states: the evaluation goroutine and the decision race to leave
// running, and whichever does says who owns the run afterwards.
const (
	runRunning int32 = iota
	runFinished
	runAbandoned
)

// tenantRun is one evaluation of a tenant's query, on an evaluator.
type tenantRun struct {
	// What to evaluate.
	engine *Engine
	tenant string
	slots  chan struct{} // one of them held until the run ends
	ctx    context.Context
	q      *query
	input  *ast.Term
	cancel topdown.Cancel
	tracer topdown.QueryTracer

	state     atomic.Int32
	abandoned time.Time     // when, under the runaways' lock
	done      chan struct{} // receives once the result is set, unless abandoned
	res       tenantResult
	err       error
}

var tenantRuns = sync.Pool{New: func() any { return &tenantRun{done: make(chan struct{}, 1)} }}

// evalTenantBounded evaluates the tenant's query, in one of slots, and
// waits for it until the watch fires or ctx ends. When it gives up
// (abandoned), the evaluation runs on with input, which the caller must
// then not recycle, and with the tracer, and counts as the tenant's runaway
// until it ends.
func (e *Engine) evalTenantBounded(ctx context.Context, tp *tenantPolicy, slots chan struct{}, input *ast.Term, w *watch,
	t topdown.QueryTracer) (res tenantResult, abandoned bool, err error) {
	if slots != nil {
		select {
		case slots <- struct{}{}:
		case <-w.expired:
			return tenantResult{}, false, errNoSlot
		case <-ctx.Done():
			return tenantResult{}, false, errNoSlot
		}
	}
	run := tenantRuns.Get().(*tenantRun)
	run.engine, run.tenant, run.slots, run.ctx, run.q, run.input, run.cancel, run.tracer =
		e, tp.tenant, slots, ctx, tp.query, input, w.cancel, t
	run.state.Store(runRunning)
	startRun(run)
	select {
	case <-run.done:
		res, err = run.result()
		return res, false, err
	case <-w.expired:
	case <-ctx.Done():
	}
	if !e.runaways.begin(run, e.now()) { // it finished meanwhile
		<-run.done
		res, err = run.result()
		return res, false, err
	}
	return tenantResult{}, true, &topdown.Error{Code: topdown.CancelErr, Message: "tenant policy: abandoned at its deadline"}
}

func (run *tenantRun) exec() {
	res, err := evalTenant(run.ctx, run.q, run.input, run.cancel, run.tracer)
	slots := run.slots
	if run.state.CompareAndSwap(runRunning, runFinished) {
		run.res, run.err = res, err
		if slots != nil {
			<-slots
		}
		run.done <- struct{}{} // the run is the decision's again
		return
	}
	// Abandoned: its decision was denied long ago. It stops counting as a
	// runaway before its slot frees, so no more run on than the slots.
	run.engine.runaways.end(run, run.engine.now())
	if slots != nil {
		<-slots
	}
}

// result takes the run's result and recycles it.
func (run *tenantRun) result() (tenantResult, error) {
	res, err := run.res, run.err
	*run = tenantRun{done: run.done}
	tenantRuns.Put(run)
	return res, err
}

// Evaluators are goroutines kept to run tenants' queries. A goroutine
// started per decision made decisions several times slower (p50 16 µs to
// 100 µs): each grows its stack from 8 KB to what topdown needs, a copy at
// every doubling. An idle evaluator handed a run mostly runs on the
// decision's own thread, as the decision waits. The most recently used go
// first, and one idle for evaluatorIdle ends: a server keeps about as many
// as it decides at once, and none once it stops deciding.
var evaluators struct {
	mu   sync.Mutex
	idle []*evaluator
}

const (
	evaluatorIdle = 200 * time.Millisecond
	maxIdle       = 256
)

type evaluator struct{ jobs chan *tenantRun }

func startRun(run *tenantRun) {
	evaluators.mu.Lock()
	if n := len(evaluators.idle); n > 0 {
		ev := evaluators.idle[n-1]
		evaluators.idle = evaluators.idle[:n-1]
		evaluators.mu.Unlock()
		ev.jobs <- run
		return
	}
	evaluators.mu.Unlock()
	ev := &evaluator{jobs: make(chan *tenantRun, 1)}
	go ev.loop(run)
}

func (ev *evaluator) loop(run *tenantRun) {
	idle := time.NewTimer(evaluatorIdle)
	defer idle.Stop()
	for {
		run.exec()
		evaluators.mu.Lock()
		if len(evaluators.idle) >= maxIdle {
			evaluators.mu.Unlock()
			return
		}
		evaluators.idle = append(evaluators.idle, ev)
		evaluators.mu.Unlock()
		idle.Reset(evaluatorIdle)
		select {
		case run = <-ev.jobs:
			idle.Stop()
		case <-idle.C:
			evaluators.mu.Lock()
			i := slices.Index(evaluators.idle, ev)
			if i >= 0 {
				evaluators.idle = slices.Delete(evaluators.idle, i, i+1)
			}
			evaluators.mu.Unlock()
			if i >= 0 {
				return
			}
			run = <-ev.jobs // taken meanwhile: its run is on the way
		}
	}
}
