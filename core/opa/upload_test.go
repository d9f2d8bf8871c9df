package opa_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/core/policy/policytest"
)

// lifecycle is the policy service over the real engine and an in-memory
// store, with a decider as the request path would use it.
type lifecycle struct {
	svc     *policy.Service
	decider *opa.Decider
	tenant  *kernel.Tenant
	ctx     context.Context // a request on the tenant
}

func newLifecycle(t *testing.T) *lifecycle {
	t.Helper()
	e := newEngine(t, opa.Options{})
	svc := policy.NewService(policytest.NewStore(), e, policytest.Transactor{}, kernel.SystemClock{})
	tn := &kernel.Tenant{ID: uuid.New(), Slug: "acme"}
	return &lifecycle{svc: svc, decider: opa.NewDecider(e, svc), tenant: tn, ctx: kernel.WithTenant(context.Background(), tn)}
}

func (l *lifecycle) decide(t *testing.T, action string) access.Decision {
	t.Helper()
	d, err := l.decider.Decide(l.ctx, l.tenant.ID.String(), in(action))
	require.NoError(t, err)
	return d
}

const noDeletes = `package tenant.guard
deny contains "no deletes" if endswith(input.action, ".delete")
`

const noDeletesTests = `package tenant.guard_test
import data.tenant.guard
test_delete_denied if guard.deny["no deletes"] with input as {"action": "projects.task.delete"}
test_read_passes if count(guard.deny) == 0 with input as {"action": "projects.task.read"}
`

const noUpdates = `package tenant.guard
deny contains "no updates" if endswith(input.action, ".update")
`

func TestUploadWithPassingTestsActivates(t *testing.T) {
	l := newLifecycle(t)
	assert.True(t, l.decide(t, "projects.task.update").Allow)
	d := l.decide(t, "projects.task.update")
	assert.Equal(t, "+tenant:0", d.PolicyVersion[len(d.PolicyVersion)-9:])

	m, err := l.svc.Upload(l.ctx, l.tenant, "guard", noDeletes, noDeletesTests)
	require.NoError(t, err)
	assert.Equal(t, 1, m.Version)
	assert.True(t, m.Active)

	d = l.decide(t, "projects.task.delete")
	assert.False(t, d.Allow)
	assert.Equal(t, []string{"no deletes"}, d.Reasons)
	assert.Regexp(t, `^base:[0-9a-f]{8}\+tenant:1$`, d.PolicyVersion)
	assert.True(t, l.decide(t, "projects.task.read").Allow)

	list, err := l.svc.List(l.ctx, l.tenant)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "guard", list[0].Name)
}

func TestUploadWithFailingTestsKeepsTheOldVersion(t *testing.T) {
	l := newLifecycle(t)
	_, err := l.svc.Upload(l.ctx, l.tenant, "guard", noDeletes, noDeletesTests)
	require.NoError(t, err)

	// v2 denies updates instead, but the tests still expect deletes denied.
	_, err = l.svc.Upload(l.ctx, l.tenant, "guard", noUpdates, noDeletesTests)
	requireInvalid(t, err, "guard_test.rego:3: data.tenant.guard_test.test_delete_denied: FAIL")
	var ke *kernel.Error
	require.ErrorAs(t, err, &ke)
	assert.Len(t, ke.Fields, 1, "only the failing test is named")
	assert.Equal(t, "tests", ke.Fields[0].Field)

	versions, err := l.svc.Versions(l.ctx, l.tenant, "guard")
	require.NoError(t, err)
	require.Len(t, versions, 1, "nothing was stored")
	assert.True(t, versions[0].Active)
	assert.False(t, l.decide(t, "projects.task.delete").Allow, "v1 still decides")
	assert.True(t, l.decide(t, "projects.task.update").Allow)
}

func TestUploadRefusesWhatDoesNotCompile(t *testing.T) {
	l := newLifecycle(t)
	for rego, want := range map[string]string{
		"package tenant\ndeny contains \"x\" if http.send({}).status_code == 200": "undefined function http.send",
		"package atrium.base\nallow if true":                                      "package atrium.base",
		"package tenant\nallow contains \"x\" if data.atrium.base.allow":          "only data.tenant may be referenced",
	} {
		_, err := l.svc.Upload(l.ctx, l.tenant, "bad", rego, "")
		requireInvalid(t, err, want)
	}
	list, err := l.svc.List(l.ctx, l.tenant)
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestUploadChecksTheWholeSet(t *testing.T) {
	l := newLifecycle(t)
	_, err := l.svc.Upload(l.ctx, l.tenant, "helpers", "package tenant.helpers\nadmin_context(a) if startswith(a, \"identity.\")", "")
	require.NoError(t, err)
	_, err = l.svc.Upload(l.ctx, l.tenant, "guard", "package tenant.guard\nimport data.tenant.helpers\ndeny contains \"no\" if helpers.admin_context(input.action)", "")
	require.NoError(t, err)
	assert.False(t, l.decide(t, "identity.user.read").Allow)

	// Deleting helpers would leave guard calling an undefined function.
	requireInvalid(t, l.svc.Delete(l.ctx, l.tenant, "helpers"), "undefined function data.tenant.helpers.admin_context")
	assert.False(t, l.decide(t, "identity.user.read").Allow)
}

func TestRollbackRestoresThePreviousVersion(t *testing.T) {
	l := newLifecycle(t)
	_, err := l.svc.Upload(l.ctx, l.tenant, "guard", noDeletes, noDeletesTests)
	require.NoError(t, err)
	m, err := l.svc.Upload(l.ctx, l.tenant, "guard", noUpdates, "")
	require.NoError(t, err)
	assert.Equal(t, 2, m.Version)
	assert.NotContains(t, l.decide(t, "projects.task.delete").Reasons, "no deletes")
	assert.False(t, l.decide(t, "projects.task.update").Allow)

	m, err = l.svc.Rollback(l.ctx, l.tenant, "guard", 1)
	require.NoError(t, err)
	assert.Equal(t, 1, m.Version)
	assert.True(t, m.Active)
	assert.Equal(t, []string{"no deletes"}, l.decide(t, "projects.task.delete").Reasons)
	assert.True(t, l.decide(t, "projects.task.update").Allow)
	assert.Regexp(t, `\+tenant:3$`, l.decide(t, "projects.task.read").PolicyVersion)

	_, err = l.svc.Rollback(l.ctx, l.tenant, "guard", 9)
	assert.ErrorIs(t, err, kernel.ErrNotFound)
}

func TestDeleteRemovesTheModule(t *testing.T) {
	l := newLifecycle(t)
	_, err := l.svc.Upload(l.ctx, l.tenant, "guard", noDeletes, noDeletesTests)
	require.NoError(t, err)
	require.False(t, l.decide(t, "projects.task.delete").Allow)

	require.NoError(t, l.svc.Delete(l.ctx, l.tenant, "guard"))
	list, err := l.svc.List(l.ctx, l.tenant)
	require.NoError(t, err)
	assert.Empty(t, list)
	d := l.decide(t, "projects.task.update")
	assert.True(t, d.Allow)
	assert.False(t, l.decide(t, "projects.task.delete").Allow, "RBAC: members do not delete")
	assert.Equal(t, []string{"no role of the subject holds projects.task.delete"}, l.decide(t, "projects.task.delete").Reasons)

	assert.ErrorIs(t, l.svc.Delete(l.ctx, l.tenant, "guard"), kernel.ErrNotFound)
	versions, err := l.svc.Versions(l.ctx, l.tenant, "guard")
	require.NoError(t, err)
	assert.Len(t, versions, 1, "history stays")
	assert.False(t, versions[0].Active)
}

func TestDryRunExplains(t *testing.T) {
	l := newLifecycle(t)
	_, err := l.svc.Upload(l.ctx, l.tenant, "guard", noDeletes, noDeletesTests)
	require.NoError(t, err)
	d, err := l.svc.Evaluate(l.ctx, l.tenant, in("projects.task.delete"), true)
	require.NoError(t, err)
	assert.False(t, d.Allow)
	assert.Equal(t, []string{"no deletes"}, d.Reasons)
	require.NotEmpty(t, d.Explanation)
	assert.Equal(t, "# base policy (data.atrium.base)", d.Explanation[0])
	assert.Contains(t, d.Explanation, "# tenant policy (data.tenant)")
	joined := ""
	for _, line := range d.Explanation {
		joined += line + "\n"
	}
	assert.Contains(t, joined, "guard.rego:2")
	assert.NotContains(t, joined, "Redo")

	d, err = l.svc.Evaluate(l.ctx, l.tenant, in("projects.task.read"), false)
	require.NoError(t, err)
	assert.True(t, d.Allow)
	assert.Nil(t, d.Explanation)
}

// A long trace is cut to its first lines, each to a line's length, and
// says how many more there were.
func TestDryRunExplanationIsBounded(t *testing.T) {
	e := newEngine(t, opa.Options{Deadline: time.Minute}) // tracing is slow, the race detector slower
	long := strings.Repeat("a", 3000)
	src := &source{sets: map[string]policy.Set{"t1": set(1, `package tenant
deny contains "long" if {
	some i in numbers.range(1, 1000)
	"`+long+`" != input.action
	i < 0
}`)}}
	d, err := e.Evaluate(context.Background(), "t1", src, in("projects.task.read"), true)
	require.NoError(t, err)
	i := slices.Index(d.Explanation, "# tenant policy (data.tenant)")
	require.Positive(t, i)
	tenant := d.Explanation[i+1:]
	require.Len(t, tenant, 401, "400 lines and a count of the rest")
	assert.Regexp(t, `^\.\.\. \d{4} more lines$`, tenant[400])
	for _, line := range tenant {
		assert.LessOrEqual(t, len(line), 1<<10+4)
	}
}

func TestSourceRefusesAnotherTenant(t *testing.T) {
	l := newLifecycle(t)
	d, err := l.decider.Decide(l.ctx, uuid.NewString(), in("projects.task.read"))
	require.Error(t, err)
	assert.False(t, d.Allow)
}

func TestRunawayTestsAreCutOff(t *testing.T) {
	e := newEngine(t, opa.Options{TestTimeout: 100 * time.Millisecond})
	svc := policy.NewService(policytest.NewStore(), e, policytest.Transactor{}, kernel.SystemClock{})
	tn := &kernel.Tenant{ID: uuid.New()}
	start := time.Now()
	_, err := svc.Upload(context.Background(), tn, "guard", noDeletes, `package tenant.guard_test
test_forever if count(numbers.range(1, 1e12)) > 0
test_fine if true`)
	requireInvalid(t, err, "data.tenant.guard_test.test_forever: ERROR")
	assert.Less(t, time.Since(start), 5*time.Second)
}

// Try decides for a tenant's set as it would become, without making it the
// tenant's: the tenant's own decisions stay with its stored set.
func TestTryDecidesACandidateSet(t *testing.T) {
	e := newEngine(t, opa.Options{})
	src := &source{sets: map[string]policy.Set{"t1": set(1, noDeletes)}}
	candidate := []policy.Module{{Name: "reads", Rego: "package tenant.reads\ndeny contains \"no reads\" if endswith(input.action, \".read\")"}}

	d, err := e.Try(context.Background(), candidate, in("projects.task.read"))
	require.NoError(t, err)
	assert.False(t, d.Allow)
	assert.Equal(t, []string{"no reads"}, d.Reasons)
	assert.Contains(t, d.PolicyVersion, "+tenant:candidate")
	d, err = e.Try(context.Background(), nil, in("projects.task.read"))
	require.NoError(t, err)
	assert.True(t, d.Allow, "no modules: the base alone")

	d, err = e.Evaluate(context.Background(), "t1", src, in("projects.task.read"), false)
	require.NoError(t, err)
	assert.True(t, d.Allow, "the tenant's stored set still decides")

	_, err = e.Try(context.Background(), []policy.Module{{Name: "bad", Rego: "package tenant.bad\ndeny contains x if x := http.send({})"}}, in("projects.task.read"))
	assert.ErrorIs(t, err, policy.ErrInvalid)
}
