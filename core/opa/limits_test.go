package opa_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/core/policy/policytest"
)

// A bounded built-in over its bound halts the evaluation: the decision is
// denied, even where the call sits in a deny rule that, merely undefined,
// would have let the request through. Each case would run for seconds or
// allocate gigabytes unbounded.
func TestBoundedBuiltinsDenyOverTheirBound(t *testing.T) {
	// 2^14 leaves of 100 bytes: 32,767 elements, within maxValueSize, 1.6 MB rendered.
	shared := sharedChainOf("x", `"`+strings.Repeat("a", 100)+`"`, 14)
	for name, rego := range map[string]string{
		"sprintf width":       `deny contains "x" if count(sprintf("%0999999d%0999999d", [1, 2])) < 0`,
		"sprintf of shared":   `deny contains "x" if count(sprintf("%v", [x14])) < 0` + "\n" + shared,
		"template of shared":  `deny contains "x" if count($"{x14}") < 0` + "\n" + shared,
		"object.union shared": `deny contains "x" if object.union({"a": x14}, {"a": x14}) == {}` + "\n" + shared,
		"split of 2 MiB":      `deny contains "x" if count(split(s20, "")) < 0` + "\n" + doubled("s", 20),
		"long pattern":        `deny contains "x" if regex.match(concat("", ["a" | some _ in numbers.range(0, 16384)]), input.action)`,
	} {
		t.Run(name, func(t *testing.T) {
			e := newEngine(t, opa.Options{Deadline: 5 * time.Second})
			src := &source{sets: map[string]policy.Set{"t1": set(1, "package tenant\n"+rego)}}
			start := time.Now()
			d, err := e.Evaluate(context.Background(), "t1", src, in("projects.task.read"), false)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "over the sandbox's limit")
			assert.False(t, d.Allow)
			assert.Equal(t, []string{"the tenant policy could not be evaluated"}, d.Reasons)
			assert.Less(t, time.Since(start), 2*time.Second)
		})
	}
}

func TestBoundedBuiltinsWithinTheirBound(t *testing.T) {
	e := newEngine(t, opa.Options{})
	src := &source{sets: map[string]policy.Set{"t1": set(1, `package tenant
deny contains sprintf("%s may not %s (%05.1f%%)", [input.subject.email, input.action, 12.5]) if true
deny contains $"{input.subject.roles} hold {count(input.subject.permissions)}" if true
deny contains "split" if split(input.action, ".")[1] == "task"
deny contains "union" if object.union({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
deny contains "regex" if regex.match("^projects[.]", input.action)`)}}
	d, err := e.Evaluate(context.Background(), "t1", src, in("projects.task.read"), false)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		`m@acme.test may not projects.task.read (012.5%)`, `["member"] hold 4`, "split", "union", "regex",
	}, d.Reasons)
}

// A reason that is not a string is shown in its Rego form, unless that is
// over 4 KiB: one built of shared parts is long for its size.
func TestHugeReasonsAreNotRendered(t *testing.T) {
	e := newEngine(t, opa.Options{})
	src := &source{sets: map[string]policy.Set{"t1": set(1, "package tenant\ndeny contains x12 if true\n"+sharedChain("x", 12))}}
	start := time.Now()
	d, err := e.Evaluate(context.Background(), "t1", src, in("projects.task.read"), false)
	require.NoError(t, err)
	assert.False(t, d.Allow)
	assert.Equal(t, []string{"(a array reason over 4096 bytes)"}, d.Reasons)
	assert.Less(t, time.Since(start), 2*time.Second)
}

// A module stored before its built-in was refused (here json.marshal and
// strings.render_template, both allowed once) no longer compiles: its
// tenant fails closed, every decision denied with an error for the log,
// and the tenants beside it decide as before.
func TestStoredModuleUsingARefusedBuiltinFailsClosed(t *testing.T) {
	// Not a test of the deadline: 8 goroutines on a loaded CI machine may
	// wait past 50 ms for a CPU.
	e := newEngine(t, opa.Options{Deadline: 5 * time.Second})
	store := policytest.NewStore()
	svc := policy.NewService(store, e, policytest.Transactor{}, kernel.SystemClock{})
	decider := opa.NewDecider(e, svc)
	old, fine := &kernel.Tenant{ID: uuid.New()}, &kernel.Tenant{ID: uuid.New()}
	save := func(tn *kernel.Tenant, name, rego string) {
		ctx := kernel.WithTenant(context.Background(), tn)
		require.NoError(t, policytest.Transactor{}.InTenant(ctx, tn, func(ctx context.Context) error {
			_, err := store.Save(ctx, policy.Module{Name: name, Rego: rego}) // as stored then, unchecked
			return err
		}))
	}
	save(old, "legacy", `package tenant.legacy
deny contains json.marshal(input.resource) if input.resource.type == "secret"
deny contains strings.render_template("{{.a}}", {"a": 1}) if false`)
	save(fine, "guard", noDeletes)

	decide := func(tn *kernel.Tenant, action string) (access.Decision, error) {
		return decider.Decide(kernel.WithTenant(context.Background(), tn), tn.ID.String(), in(action))
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				d, err := decide(old, "projects.task.read")
				if assert.Error(t, err) {
					assert.ErrorIs(t, err, policy.ErrInvalid)
					assert.ErrorIs(t, err, access.ErrTenantPolicy, "the tenant's policy failed, not the base")
					assert.Contains(t, err.Error(), "undefined function json.marshal")
				}
				assert.False(t, d.Allow, "fail closed, even for what RBAC allows")
				assert.Equal(t, []string{"the tenant policy does not compile"}, d.Reasons)

				d, err = decide(fine, "projects.task.read")
				assert.NoError(t, err)
				assert.True(t, d.Allow)
				d, err = decide(fine, "projects.task.delete")
				assert.NoError(t, err)
				assert.Equal(t, []string{"no deletes"}, d.Reasons)
			}
		})
	}
	wg.Wait()

	// The base alone still decides, for the fallback of policy management.
	d, err := decider.DecideBase(context.Background(), in("projects.task.read"))
	require.NoError(t, err)
	assert.True(t, d.Allow)
	d, err = decider.DecideBase(context.Background(), in("projects.task.delete"))
	require.NoError(t, err)
	assert.False(t, d.Allow, "no role of the subject holds it")

	// Uploading it again is refused: the 422 names the built-in.
	_, err = svc.Upload(kernel.WithTenant(context.Background(), old), old, "legacy",
		"package tenant.legacy\ndeny contains json.marshal(input.resource) if true", "")
	requireInvalid(t, err, "undefined function json.marshal")
}

// The worst a policy can still do is one step that runs on long past its
// deadline and checks for nothing (stuckStep: a regular expression of a
// thousand states over 256 KiB). The decision is denied at its deadline all
// the same, the tenant's next ones at once while that step runs on, and
// other tenants decide as usual.
func TestStuckStepIsDeniedAtTheDeadline(t *testing.T) {
	const deadline = 100 * time.Millisecond
	e := newEngine(t, opa.Options{Deadline: deadline})
	stuck := "package tenant\nallow contains \"never\" if { input.action == \"projects.task.update\"; " + stuckStep + " }\n" +
		doubled("s", 17)
	src := &source{sets: map[string]policy.Set{"stuck": set(1, stuck), "fast": set(1, noDeletes)}}
	for id := range src.sets { // compiled first: the timing is about evaluation
		d, err := e.Evaluate(context.Background(), id, src, in("projects.task.read"), false)
		require.NoError(t, err)
		require.True(t, d.Allow)
	}

	start := time.Now()
	d, err := e.Evaluate(context.Background(), "stuck", src, in("projects.task.update"), false)
	took := time.Since(start)
	require.Error(t, err)
	assert.ErrorIs(t, err, access.ErrTenantPolicy, "the tenant's doing: its admins' policy management falls back")
	assert.False(t, d.Allow)
	assert.Equal(t, []string{"the tenant policy did not finish in time"}, d.Reasons)
	t.Logf("denied after %s (deadline %s)", took, deadline)
	assert.Less(t, took, deadline+100*time.Millisecond, "denied at the deadline, not when the step ends")

	// While the step runs on: the tenant is denied at once, others decide.
	start = time.Now()
	_, err = e.Evaluate(context.Background(), "stuck", src, in("projects.task.read"), false)
	assert.ErrorContains(t, err, "still running past its deadline")
	assert.ErrorIs(t, err, access.ErrTenantPolicy)
	assert.Less(t, time.Since(start), deadline, "denied at once")
	for range 100 {
		d, err := e.Evaluate(context.Background(), "fast", src, in("projects.task.read"), false)
		require.NoError(t, err)
		require.True(t, d.Allow)
	}

	// Once the step has ended (waited for, so that it does not slow the
	// tests after), the next decision evaluates: one late evaluation is
	// forgiven.
	require.Eventually(t, func() bool {
		_, err := e.Evaluate(context.Background(), "stuck", src, in("projects.task.read"), false)
		return err == nil
	}, time.Minute, 10*time.Millisecond)
}

// doubled is Rego building name0 ... name<levels>, each a string twice as
// long as the one before: 2^(levels+1) bytes.
func doubled(name string, levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s0 := \"ab\"\n", name)
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "%s%d := concat(\"\", [%s%d, %s%d])\n", name, i, name, i-1, name, i-1)
	}
	return b.String()
}

// An upload whose tests hold a step that ignores cancellation is refused
// at the check's time limit all the same, and the tenant's next uploads at
// once until that step ends; other tenants upload as usual.
func TestStuckCheckIsRefusedAtItsTimeLimit(t *testing.T) {
	e := newEngine(t, opa.Options{CheckTimeout: 200 * time.Millisecond})
	svc := policy.NewService(policytest.NewStore(), e, policytest.Transactor{}, kernel.SystemClock{})
	stuck, other := &kernel.Tenant{ID: uuid.New()}, &kernel.Tenant{ID: uuid.New()}
	tests := "package tenant.guard_test\ntest_stuck if " + stuckStep + "\n" + doubled("s", 17)

	start := time.Now()
	_, err := svc.Upload(context.Background(), stuck, "guard", noDeletes, tests)
	requireInvalid(t, err, "ran on past its time limit")
	assert.Less(t, time.Since(start), time.Second)

	_, err = svc.Upload(context.Background(), stuck, "guard", noDeletes, noDeletesTests)
	requireInvalid(t, err, "an earlier check of this tenant's policy is still running")
	_, err = svc.Upload(context.Background(), other, "guard", noDeletes, noDeletesTests)
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		_, err := svc.Upload(context.Background(), stuck, "guard", noDeletes, noDeletesTests)
		return err == nil
	}, time.Minute, 20*time.Millisecond)
}

// The goroutines that evaluate tenants' queries end once idle: a process
// that stops deciding keeps none (goleak checks core/app's tests).
func TestEvaluatorsEndWhenIdle(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	e := newEngine(t, opa.Options{Deadline: 5 * time.Second}) // as above: not the deadline's test
	src := &source{sets: map[string]policy.Set{"t1": set(1, noDeletes)}}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, err := e.Evaluate(context.Background(), "t1", src, in("projects.task.read"), false)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	goleak.VerifyNone(t, ignore)
}

// Values within the bound decide as before, input included; a policy that
// builds or compares more than the bound's elements is denied, and so is an
// input over it.
func TestValuesOverTheBoundAreDenied(t *testing.T) {
	e := newEngine(t, opa.Options{Deadline: 5 * time.Second})
	src := &source{sets: map[string]policy.Set{"t1": set(1, `package tenant
allow contains "same" if {
	items := input.resource.attributes.items
	items == input.resource.attributes.copy
	positive := [i | some i in items; i >= 0]
	count(positive) == count(items)
}
deny contains "three" if {
	input.resource.attributes.three
	count([input.resource.attributes.items, input.resource.attributes.items, input.resource.attributes.items]) < 0
}`)}}
	decide := func(n int, three bool) (access.Decision, error) {
		items := make([]any, n)
		for i := range items {
			items[i] = float64(i)
		}
		req := in("projects.task.delete")
		req.Resource.Attributes = map[string]any{"items": items, "copy": items, "three": three}
		return e.Evaluate(context.Background(), "t1", src, req, false)
	}
	d, err := decide(45_000, false) // 90,006 elements
	require.NoError(t, err)
	assert.True(t, d.Allow)

	d, err = decide(45_000, true)
	require.ErrorContains(t, err, "value too large")
	assert.False(t, d.Allow)

	d, err = decide(50_000, false)
	require.ErrorContains(t, err, "input.resource.attributes: over 100000 elements")
	assert.Equal(t, []string{"the decision input is not valid"}, d.Reasons)
}
