package opa_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/opa"
	"github.com/atriumhq/atrium/core/policy"
)

// An attacker cannot open the fallback by making the tenant's policy fail
// for others: a member's requests run it past its deadline (its breaker
// open, its evaluation slots held by runaways), and an admin token used
// from outside the office is still refused policy changes by the tenant's
// own rule, asked again patiently, not decided by the base alone.
func TestTheFallbackIsNotOpenedByOtherRequestsFailing(t *testing.T) {
	e := newEngine(t, opa.Options{Deadline: 100 * time.Millisecond})
	tn := &kernel.Tenant{ID: uuid.New(), Slug: "acme"}
	src := &source{sets: map[string]policy.Set{tn.ID.String(): set(1, `package tenant
deny contains "policy changes only from the office" if {
	startswith(input.action, "access.policy.")
	not net.cidr_contains("10.0.0.0/8", input.request.ip)
}
deny contains "slow" if {
	input.resource.attributes.slow
	regex.match("a[ab]{1000}c", s15)
}
`+doubled("s", 15))}} // stuckStep over a quarter of its input: seconds past the deadline, not tens
	reg := prometheus.NewRegistry()
	authz := access.NewAuthorizer(nil, opa.NewDecider(e, src), kernel.SystemClock{}, slog.New(slog.DiscardHandler), reg)
	as := func(roles []string, perms ...string) context.Context {
		ctx := kernel.WithTenant(context.Background(), tn)
		return kernel.WithPrincipal(ctx, &kernel.Principal{ID: uuid.New(), Type: kernel.PrincipalUser, Roles: roles, Permissions: perms})
	}
	member := as([]string{access.RoleMember}, "projects.task.read")
	admin := as([]string{access.RoleAdmin}, "access.policy.read", "access.policy.write", "projects.task.read")

	var wg sync.WaitGroup
	for range 4 { // more than the tenant's slots
		wg.Go(func() {
			_, err := authz.Authorize(member, "projects.task.read", &access.Resource{Type: "task", Attributes: map[string]any{"slow": true}},
				access.RequestInput{IP: "10.1.2.3"})
			assert.ErrorIs(t, err, kernel.ErrForbidden)
		})
	}
	wg.Wait()
	_, err := authz.Authorize(member, "projects.task.read", nil, access.RequestInput{IP: "10.1.2.3"})
	require.ErrorIs(t, err, kernel.ErrForbidden, "the tenant's decisions are refused while its runaways run")

	d, err := authz.Authorize(admin, "access.policy.write", nil, access.RequestInput{IP: "203.0.113.5"})
	require.ErrorIs(t, err, kernel.ErrForbidden)
	assert.Equal(t, []string{"policy changes only from the office"}, d.Reasons, "the tenant's rule, not the base alone")
	d, err = authz.Authorize(admin, "access.policy.write", nil, access.RequestInput{IP: "10.1.2.3"})
	require.NoError(t, err, "from the office")
	assert.NotContains(t, d.PolicyVersion, "bypassed")
	assert.Zero(t, fallbacks(t, reg), "no fallback")

	require.Eventually(t, func() bool { // the runaways end before the next test
		_, err := authz.Authorize(member, "projects.task.read", nil, access.RequestInput{})
		return err == nil
	}, 3*time.Minute, 20*time.Millisecond)
}

// fallbacks is atrium_policy_fallbacks_total in reg.
func fallbacks(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "atrium_policy_fallbacks_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no atrium_policy_fallbacks_total")
	return 0
}

// A policy that runs past its deadline on every decision, the admin's
// policy management included even when asked patiently, leaves that
// management to the base alone; everything else stays denied.
func TestAPolicyThatTimesOutOnEveryDecisionFallsBackForAdmins(t *testing.T) {
	e := newEngine(t, opa.Options{Deadline: 50 * time.Millisecond})
	tn := &kernel.Tenant{ID: uuid.New(), Slug: "acme"}
	src := &source{sets: map[string]policy.Set{tn.ID.String(): set(1, untilTheDeadline)}}
	reg := prometheus.NewRegistry()
	authz := access.NewAuthorizer(nil, opa.NewDecider(e, src), kernel.SystemClock{}, slog.New(slog.DiscardHandler), reg)
	ctx := kernel.WithPrincipal(kernel.WithTenant(context.Background(), tn), &kernel.Principal{ID: uuid.New(), Type: kernel.PrincipalUser,
		Roles: []string{access.RoleAdmin}, Permissions: []string{"access.policy.read", "projects.task.read"}})

	_, err := authz.Authorize(ctx, "projects.task.read", nil, access.RequestInput{})
	require.ErrorIs(t, err, kernel.ErrForbidden, "fail closed")
	d, err := authz.Authorize(ctx, "access.policy.read", nil, access.RequestInput{})
	require.NoError(t, err, "the admin can see what broke")
	assert.Contains(t, d.PolicyVersion, "+tenant:bypassed")
	assert.Equal(t, 1.0, fallbacks(t, reg))
	_, err = authz.Authorize(ctx, "access.policy.write", nil, access.RequestInput{})
	require.ErrorIs(t, err, kernel.ErrForbidden, "the base alone: a permission the admin lacks here")

}
