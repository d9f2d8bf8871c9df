package opa_test

import (
	"context"
	"log/slog"
	"sync"
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

// rehearsals records what the decider hands over, running nothing.
type rehearsals struct {
	mu  sync.Mutex
	got []policy.Rehearsal
}

func (r *rehearsals) Rehearse(x policy.Rehearsal) {
	r.mu.Lock()
	r.got = append(r.got, x)
	r.mu.Unlock()
}

const denyTaskReads = "package tenant.tasks\n\ndeny contains \"no task reads\" if input.action == \"projects.task.read\"\n"

func tenantCtx() context.Context {
	return kernel.WithTenant(context.Background(), &kernel.Tenant{ID: uuid.New(), Slug: "acme"})
}

// The live decision is the active set's; the shadow version is evaluated
// only when the rehearser asks, on the same input.
func TestDeciderRehearsesTheShadowVersionWithoutChangingTheAnswer(t *testing.T) {
	e := newEngine(t, opa.Options{Deadline: time.Second}) // correctness, not speed, on a busy machine
	shadow := policy.Module{Name: "tasks", Version: 2, Rego: denyTaskReads}
	src := &source{sets: map[string]policy.Set{"t1": {Revision: 3, Shadow: &shadow}}}
	r := &rehearsals{}
	d := opa.NewDecider(e, src).WithRehearser(r)

	live, err := d.Decide(tenantCtx(), "t1", in("projects.task.read"))
	require.NoError(t, err)
	assert.True(t, live.Allow, "the shadow version changes no answer")
	require.Len(t, r.got, 1)
	got := r.got[0]
	assert.Equal(t, "tasks", got.Name)
	assert.Equal(t, 2, got.Version)
	assert.Equal(t, live, got.Live)
	sd, err := got.Shadow(context.Background())
	require.NoError(t, err)
	assert.False(t, sd.Allow)
	assert.Equal(t, []string{"no task reads"}, sd.Reasons)
	assert.Contains(t, sd.PolicyVersion, "+shadow:tasks@2")

	// No shadow version: nothing to rehearse.
	src.sets["t2"] = policy.Set{Revision: 1}
	_, err = d.Decide(tenantCtx(), "t2", in("projects.task.read"))
	require.NoError(t, err)
	assert.Len(t, r.got, 1)
}

// shadowCounts is a ShadowStore that only counts what is added.
type shadowCounts struct {
	mu sync.Mutex
	d  policy.ShadowDelta
}

func (s *shadowCounts) SaveShadow(context.Context, policy.Module) (policy.Module, error) {
	panic("not used")
}
func (s *shadowCounts) Shadow(context.Context) (policy.Shadow, error) { panic("not used") }
func (s *shadowCounts) DropShadow(context.Context) error              { panic("not used") }
func (s *shadowCounts) AddToShadow(_ context.Context, _ string, _ int, d policy.ShadowDelta) error {
	s.mu.Lock()
	s.d.Decisions += d.Decisions
	s.d.Disagreements += d.Disagreements
	s.mu.Unlock()
	return nil
}

// BenchmarkDecisionShadow: the decision of BenchmarkDecision through the
// request path's decider, without and with a shadow version being
// rehearsed (by the real worker, off the request path). The shadow run
// reports how many decisions the worker compared and skipped.
func BenchmarkDecisionShadow(b *testing.B) {
	for _, withShadow := range []bool{false, true} {
		name := "none"
		if withShadow {
			name = "shadow"
		}
		b.Run(name, func(b *testing.B) {
			e := newEngine(b, opa.Options{})
			set := policy.Set{Revision: 1, Modules: realistic(b)}
			if withShadow {
				m := set.Modules[2]
				m.Version, m.Rego = 2, m.Rego+"\ndeny contains \"rehearsed\" if input.resource.attributes.status == \"archived\"\n"
				set.Shadow = &m
			}
			src := &source{sets: map[string]policy.Set{"t1": set}}
			store := &shadowCounts{}
			svc := policy.NewService(policytest.NewStore(), e, policytest.Transactor{}, kernel.SystemClock{})
			shadows := policy.NewShadows(svc, store, slog.New(slog.DiscardHandler), nil, policy.ShadowOptions{FlushEvery: 10 * time.Millisecond})
			shadows.Start()
			d := opa.NewDecider(e, src).WithRehearser(shadows)
			ctx := tenantCtx()
			req := benchInput()
			if dec, err := d.Decide(ctx, "t1", req); err != nil || !dec.Allow {
				b.Fatal(dec, err)
			}
			durations := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				_, _ = d.Decide(ctx, "t1", req)
				durations = append(durations, time.Since(start))
			}
			b.StopTimer()
			shadows.Stop()
			reportLatency(b, durations)
			if withShadow {
				b.ReportMetric(float64(store.d.Decisions)/float64(b.N+1), "compared/op")
			}
		})
	}
}

var _ access.Decider = (*opa.Decider)(nil)
