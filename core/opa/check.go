package opa

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
)

// runTests runs the tests of every module in the set, in a fresh sandboxed
// compiler holding the modules and their tests, one test at a time and each
// under the test timeout. Failures are policy_invalid, one field error per
// failing test, naming it.
func (e *Engine) runTests(ctx context.Context, modules []policy.Module) (err error) {
	defer recoverInvalid(&err)
	files, problems := parseSet(modules, true)
	if len(problems) > 0 {
		return policy.Invalid("the policy's tests do not compile", problems...)
	}
	if !slices.ContainsFunc(files, func(f tenantFile) bool { return f.field == "tests" }) {
		return nil
	}
	runner := tester.NewRunner().
		SetCompiler(newTenantCompiler(capabilitiesFor(files))).
		SetTimeout(e.opts.TestTimeout).
		SetParallel(1). // an upload gets one core, not the server's
		CapturePrintOutput(false).
		SetModules(moduleMap(files))
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return policy.Invalid("the policy's tests do not compile", astErrors("tests", err)...)
	}
	var failed []kernel.FieldError
	for r := range ch {
		if msg := testFailure(r); msg != "" {
			failed = append(failed, kernel.FieldError{Field: "tests", Message: msg})
		}
	}
	if len(failed) > 0 {
		slices.SortFunc(failed, func(a, b kernel.FieldError) int { return strings.Compare(a.Message, b.Message) })
		return policy.Invalid(fmt.Sprintf("%d of the policy's tests failed", len(failed)), failed...)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) { // a check cut short proves nothing
		return policy.Invalid("the policy's tests did not finish in time", kernel.FieldError{Field: "tests",
			Message: fmt.Sprintf("the tests took over %s", e.opts.CheckTimeout)})
	}
	return ctx.Err()
}

// testFailure describes a failed test as `opa test` does, "" for a pass.
func testFailure(r *tester.Result) string {
	if r.Pass() || r.Skip {
		return ""
	}
	where := r.Package + "." + r.Name
	if r.Location != nil {
		where = fmt.Sprintf("%s:%d: %s", r.Location.File, r.Location.Row, where)
	}
	if r.Error != nil {
		return where + ": ERROR: " + r.Error.Error()
	}
	return where + ": FAIL"
}

// stuckChecks runs checks on a goroutine of their own, waited for until
// their context ends (CheckTimeout). A test stuck in one step that ignores
// cancellation (see runaway.go), or the compiler's type checker on some
// inputs, would otherwise hold the upload, and the transaction it runs in,
// for as long as that step runs. A check given up on runs on; until it
// ends, its tenant's next checks are refused at once, so each tenant holds
// at most one core this way.
type stuckChecks struct {
	mu sync.Mutex
	by map[string]int // per tenant, checks given up on, still running
}

// checkGrace is how long a check is waited for past its time limit before
// it is given up on.
const checkGrace = 100 * time.Millisecond

var errCheckStillRunning = policy.Invalid("the policy was not checked", kernel.FieldError{Field: "tests",
	Message: "an earlier check of this tenant's policy is still running past its time limit"})

func (s *stuckChecks) run(ctx context.Context, check func() error) error {
	tenant := checkedTenant(ctx)
	s.mu.Lock()
	stuck := s.by[tenant] > 0
	s.mu.Unlock()
	if stuck {
		return errCheckStillRunning
	}
	var state atomic.Int32 // runRunning, runFinished or runAbandoned, as runs'
	done := make(chan error, 1)
	go func() {
		err := check()
		if state.CompareAndSwap(runRunning, runFinished) {
			done <- err
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.by[tenant]--; s.by[tenant] <= 0 {
			delete(s.by, tenant)
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	select { // a check that notices the cancellation says best what failed
	case err := <-done:
		return err
	case <-time.After(checkGrace):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !state.CompareAndSwap(runRunning, runAbandoned) {
		return <-done // it finished meanwhile
	}
	if s.by == nil {
		s.by = map[string]int{}
	}
	s.by[tenant]++
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return ctx.Err()
	}
	return policy.Invalid("the policy's tests did not finish in time", kernel.FieldError{Field: "tests",
		Message: "the check ran on past its time limit, in a step that does not stop when cancelled"})
}

// checkedTenant names the tenant whose policy a check is for: the unit of
// work's, or the context's; "" outside both (the CLI's offline check).
func checkedTenant(ctx context.Context) string {
	if u, ok := kernel.UnitFrom(ctx); ok && u.Tenant != nil {
		return u.Tenant.ID.String()
	}
	if t, ok := kernel.TenantFrom(ctx); ok {
		return t.ID.String()
	}
	return ""
}
