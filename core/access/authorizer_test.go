package access_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
)

// failing is a tenant policy that fails decisions with err; the base alone
// allows what the subject holds.
type failing struct {
	err     error
	passing bool // the policy decides when asked again
}

func (f failing) Decide(context.Context, string, access.Input) (access.Decision, error) {
	return access.Decision{Reasons: []string{"the tenant policy did not finish in time"}}, f.err
}

// Recheck fails again, unless the failure was the moment's (load, the
// breaker): then the tenant's policy decides, and refuses.
func (f failing) Recheck(context.Context, string, access.Input) (access.Decision, error) {
	if f.passing {
		return access.Decision{Reasons: []string{"only from the office"}}, nil
	}
	return access.Decision{}, f.err
}

func (failing) DecideBase(_ context.Context, in access.Input) (access.Decision, error) {
	return access.Decision{Allow: slices.Contains(in.Subject.Permissions, in.Action), PolicyVersion: "base"}, nil
}

// tenantOnly is a decider with no base-only decision.
type tenantOnly struct{ f failing }

func (d tenantOnly) Decide(ctx context.Context, id string, in access.Input) (access.Decision, error) {
	return d.f.Decide(ctx, id, in)
}

// When the tenant's own policy fails, a tenant admin's policy management
// is decided by the base alone; everything else, and everyone else, stays
// denied, and so does a failure that is not the tenant policy's.
func TestPolicyManagementFallsBackToTheBaseForAdmins(t *testing.T) {
	timedOut := fmt.Errorf("tenant policy: %w", errors.Join(access.ErrTenantPolicy, errors.New("ran past its deadline")))
	perms := []string{"access.policy.read", "access.policy.write", "identity.user.read"}
	tenant := &kernel.Tenant{ID: uuid.New(), Slug: "acme"}
	decide := func(d access.Decider, roles []string, typ kernel.PrincipalType, action string) (access.Decision, error) {
		ctx := kernel.WithTenant(context.Background(), tenant)
		ctx = kernel.WithPrincipal(ctx, &kernel.Principal{ID: uuid.New(), Type: typ, Roles: roles, Permissions: perms})
		reg := prometheus.NewRegistry()
		a := access.NewAuthorizer(nil, d, kernel.SystemClock{}, slog.New(slog.DiscardHandler), reg)
		dec, err := a.Authorize(ctx, action, nil, access.RequestInput{})
		n, _ := testutil.GatherAndCount(reg, "atrium_policy_fallbacks_total")
		if dec.Allow {
			assert.Equal(t, 1, n)
		}
		return dec, err
	}
	admin := []string{access.RoleAdmin}

	d, err := decide(failing{timedOut, false}, admin, kernel.PrincipalUser, "access.policy.write")
	require.NoError(t, err)
	assert.True(t, d.Allow)
	assert.Equal(t, []string{"decided by the base policy alone: the tenant policy failed"}, d.Reasons)

	for name, c := range map[string]struct {
		d      access.Decider
		roles  []string
		typ    kernel.PrincipalType
		action string
	}{
		"another action":        {failing{timedOut, false}, admin, kernel.PrincipalUser, "identity.user.read"},
		"a passing failure":     {failing{timedOut, true}, admin, kernel.PrincipalUser, "access.policy.write"},
		"a member":              {failing{timedOut, false}, []string{access.RoleMember}, kernel.PrincipalUser, "access.policy.read"},
		"an admin-named other":  {failing{timedOut, false}, []string{"Admin", "admins"}, kernel.PrincipalUser, "access.policy.read"},
		"not a user":            {failing{timedOut, false}, admin, kernel.PrincipalOperator, "access.policy.read"},
		"a look-alike action":   {failing{timedOut, false}, admin, kernel.PrincipalUser, "access.policyx.read"},
		"no base-only decision": {tenantOnly{failing{timedOut, false}}, admin, kernel.PrincipalUser, "access.policy.read"},
	} {
		d, err := decide(c.d, c.roles, c.typ, c.action)
		assert.ErrorIs(t, err, kernel.ErrForbidden, name)
		assert.False(t, d.Allow, name)
	}

	// A failure that is not the tenant policy's is no verdict: nothing is
	// allowed, and the client is told to try again (503), not refused.
	d, err = decide(failing{errors.New("base policy: ran past its deadline"), false}, admin, kernel.PrincipalUser, "access.policy.read")
	assert.Equal(t, kernel.KindUnavailable, kernel.KindOf(err))
	assert.False(t, d.Allow)
}

// flaky fails its first decisions without a verdict, as the base policy
// does when it misses its deadline on a machine short of CPU.
type flaky struct{ failures, calls int }

func (f *flaky) Decide(_ context.Context, _ string, in access.Input) (access.Decision, error) {
	f.calls++
	if f.calls <= f.failures {
		return access.Decision{}, errors.New("base policy: ran past its deadline")
	}
	return access.Decision{Allow: slices.Contains(in.Subject.Permissions, in.Action), PolicyVersion: "base"}, nil
}

// A decision that failed without a verdict is tried once more before the
// client is told to try again; a request that has ended is not.
func TestADecisionWithoutVerdictIsTriedOnceMore(t *testing.T) {
	tenant := &kernel.Tenant{ID: uuid.New(), Slug: "acme"}
	authorize := func(ctx context.Context, d access.Decider) (access.Decision, error) {
		ctx = kernel.WithTenant(ctx, tenant)
		ctx = kernel.WithPrincipal(ctx, &kernel.Principal{ID: uuid.New(), Type: kernel.PrincipalUser, Permissions: []string{"identity.user.read"}})
		a := access.NewAuthorizer(nil, d, kernel.SystemClock{}, slog.New(slog.DiscardHandler), nil)
		return a.Authorize(ctx, "identity.user.read", nil, access.RequestInput{})
	}

	once := &flaky{failures: 1}
	d, err := authorize(context.Background(), once)
	require.NoError(t, err)
	assert.True(t, d.Allow)
	assert.Equal(t, 2, once.calls)

	twice := &flaky{failures: 2}
	d, err = authorize(context.Background(), twice)
	assert.Equal(t, kernel.KindUnavailable, kernel.KindOf(err))
	assert.False(t, d.Allow)
	assert.Equal(t, 2, twice.calls, "tried once more, not again and again")

	ended, cancel := context.WithCancel(context.Background())
	cancel()
	gone := &flaky{failures: 1}
	_, err = authorize(ended, gone)
	assert.Error(t, err)
	assert.Equal(t, 1, gone.calls, "a request that ended is not decided again")
}
