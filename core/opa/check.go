package opa

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

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
