package policy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/core/policy"
	"github.com/atriumhq/atrium/core/policy/policytest"
)

// compiler refuses modules whose Rego contains "bad" and records calls.
type compiler struct {
	checked     [][]policy.Module
	tried       []access.Input
	invalidated []string
}

func (c *compiler) Check(_ context.Context, modules []policy.Module) error {
	c.checked = append(c.checked, modules)
	for _, m := range modules {
		if strings.Contains(m.Rego, "bad") {
			return policy.Invalid("the policy does not compile", kernel.FieldError{Field: "rego", Message: m.Name + ": bad"})
		}
	}
	return nil
}

func (c *compiler) Evaluate(ctx context.Context, tenantID string, src policy.Source, _ access.Input, _ bool) (access.Decision, error) {
	set, err := src.Active(ctx, tenantID)
	return access.Decision{Allow: len(set.Modules) == 0, PolicyVersion: fmt.Sprint(set.Revision)}, err
}

// Try denies when a module says "lockout" and none says "unlock".
func (c *compiler) Try(_ context.Context, modules []policy.Module, in access.Input) (access.Decision, error) {
	c.tried = append(c.tried, in)
	var lock, unlock bool
	for _, m := range modules {
		lock = lock || strings.Contains(m.Rego, "lockout")
		unlock = unlock || strings.Contains(m.Rego, "unlock")
	}
	if lock && !unlock {
		return access.Decision{Reasons: []string{"locked out"}}, nil
	}
	return access.Decision{Allow: true}, nil
}

func (c *compiler) Invalidate(tenantID string) { c.invalidated = append(c.invalidated, tenantID) }

var now = time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)

func newService(t *testing.T) (*policy.Service, *compiler, *kernel.Tenant, context.Context) {
	t.Helper()
	c := &compiler{}
	svc := policy.NewService(policytest.NewStore(), c, policytest.Transactor{}, kernel.ClockFunc(func() time.Time { return now }))
	tn := &kernel.Tenant{ID: uuid.New(), Slug: "acme"}
	return svc, c, tn, kernel.WithTenant(context.Background(), tn)
}

func TestUploadValidatesBeforeCompiling(t *testing.T) {
	svc, c, tn, ctx := newService(t)
	for _, name := range []string{"", "Guard", "1guard", "guard.rego", "g/x", strings.Repeat("a", 64)} {
		_, err := svc.Upload(ctx, tn, name, "package tenant", "")
		assert.ErrorIs(t, err, kernel.ErrInvalid, name)
		assert.NotErrorIs(t, err, policy.ErrInvalid, "a bad name is a validation error: %q", name)
	}
	for _, c := range []struct{ rego, tests string }{
		{"", ""},
		{"  \n", ""},
		{strings.Repeat("x", policy.MaxModuleBytes+1), ""},
		{"package tenant", strings.Repeat("x", policy.MaxModuleBytes+1)},
	} {
		_, err := svc.Upload(ctx, tn, "guard", c.rego, c.tests)
		assert.ErrorIs(t, err, policy.ErrInvalid)
	}
	assert.Empty(t, c.checked, "nothing reached the compiler")
	assert.True(t, policy.ValidName("a"))
	assert.True(t, policy.ValidName("office_hours-2"))
	assert.True(t, policy.ValidName(strings.Repeat("a", 63)))
}

func TestUploadChecksTheSetAndActivates(t *testing.T) {
	svc, c, tn, ctx := newService(t)
	principal := &kernel.Principal{ID: uuid.New()}
	m, err := svc.Upload(kernel.WithPrincipal(ctx, principal), tn, "b", "package tenant.b", "tests")
	require.NoError(t, err)
	assert.Equal(t, policy.Module{Name: "b", Version: 1, Rego: "package tenant.b", Tests: "tests", CreatedAt: now, CreatedBy: principal.ID.String(), Active: true}, m)
	_, err = svc.Upload(ctx, tn, "a", "package tenant.a", "")
	require.NoError(t, err)
	m, err = svc.Upload(ctx, tn, "b", "package tenant.b # v2", "")
	require.NoError(t, err)
	assert.Equal(t, 2, m.Version)

	last := c.checked[len(c.checked)-1]
	require.Len(t, last, 2, "the whole set, the new b in place of the old")
	assert.Equal(t, "a", last[0].Name)
	assert.Equal(t, "package tenant.b # v2", last[1].Rego)
	assert.Equal(t, []string{tn.ID.String(), tn.ID.String(), tn.ID.String()}, c.invalidated)

	list, err := svc.List(ctx, tn)
	require.NoError(t, err)
	assert.Len(t, list, 2)
}

func TestRefusedUploadChangesNothing(t *testing.T) {
	svc, c, tn, ctx := newService(t)
	_, err := svc.Upload(ctx, tn, "guard", "package tenant.guard", "")
	require.NoError(t, err)
	c.invalidated = nil

	_, err = svc.Upload(ctx, tn, "guard", "package tenant.guard bad", "")
	require.ErrorIs(t, err, policy.ErrInvalid)
	var ke *kernel.Error
	require.ErrorAs(t, err, &ke)
	assert.Equal(t, "policy_invalid", ke.Code)
	assert.Equal(t, []kernel.FieldError{{Field: "rego", Message: "guard: bad"}}, ke.Fields)

	versions, err := svc.Versions(ctx, tn, "guard")
	require.NoError(t, err)
	require.Len(t, versions, 1)
	assert.True(t, versions[0].Active)
	assert.Empty(t, c.invalidated, "no change, no invalidation")
}

func TestModuleLimit(t *testing.T) {
	svc, _, tn, ctx := newService(t)
	for i := range policy.MaxModules {
		_, err := svc.Upload(ctx, tn, fmt.Sprintf("m%d", i), "package tenant", "")
		require.NoError(t, err)
	}
	_, err := svc.Upload(ctx, tn, "one-more", "package tenant", "")
	require.ErrorIs(t, err, policy.ErrInvalid)
	_, err = svc.Upload(ctx, tn, "m0", "package tenant # v2", "")
	assert.NoError(t, err, "a new version of an existing module is not one more")
}

func TestRollbackAndDelete(t *testing.T) {
	svc, c, tn, ctx := newService(t)
	_, err := svc.Upload(ctx, tn, "guard", "package tenant.guard # v1", "")
	require.NoError(t, err)
	_, err = svc.Upload(ctx, tn, "guard", "package tenant.guard # v2", "")
	require.NoError(t, err)

	m, err := svc.Rollback(ctx, tn, "guard", 1)
	require.NoError(t, err)
	assert.Equal(t, 1, m.Version)
	assert.True(t, m.Active)
	list, err := svc.List(ctx, tn)
	require.NoError(t, err)
	assert.Equal(t, "package tenant.guard # v1", list[0].Rego)
	_, err = svc.Rollback(ctx, tn, "guard", 3)
	assert.ErrorIs(t, err, kernel.ErrNotFound)

	require.NoError(t, svc.Delete(ctx, tn, "guard"))
	assert.Empty(t, c.checked[len(c.checked)-1], "the set without it was checked")
	assert.ErrorIs(t, svc.Delete(ctx, tn, "guard"), kernel.ErrNotFound)
	_, err = svc.Versions(ctx, tn, "nothing")
	assert.ErrorIs(t, err, kernel.ErrNotFound)
}

func TestSourceServesOnlyTheContextsTenant(t *testing.T) {
	svc, _, tn, ctx := newService(t)
	_, err := svc.Upload(ctx, tn, "guard", "package tenant.guard", "")
	require.NoError(t, err)

	set, err := svc.Active(ctx, tn.ID.String())
	require.NoError(t, err)
	assert.EqualValues(t, 1, set.Revision)
	assert.Len(t, set.Modules, 1)
	rev, err := svc.Revision(ctx, tn.ID.String())
	require.NoError(t, err)
	assert.EqualValues(t, 1, rev)

	_, err = svc.Active(ctx, uuid.NewString())
	assert.Error(t, err)
	_, err = svc.Revision(context.Background(), tn.ID.String())
	assert.Error(t, err, "no tenant in context")

	d, err := svc.Evaluate(ctx, tn, access.Input{}, false)
	require.NoError(t, err)
	assert.Equal(t, "1", d.PolicyVersion)
}

func TestInvalidIsAPolicyInvalidError(t *testing.T) {
	err := policy.Invalid("msg", kernel.FieldError{Field: "rego", Message: "x"})
	assert.True(t, errors.Is(err, policy.ErrInvalid))
	assert.True(t, errors.Is(err, kernel.ErrInvalid))
	assert.Equal(t, kernel.KindInvalid, kernel.KindOf(err))
}

// A change after which its author could no longer read or change the
// policy is refused, whichever call would make it; the same change with no
// user behind it is not a lockout.
func TestChangesThatWouldLockTheirAuthorOutAreRefused(t *testing.T) {
	svc, c, tn, ctx := newService(t)
	admin := &kernel.Principal{ID: uuid.New(), Type: kernel.PrincipalUser, Email: "admin@acme.test",
		Roles: []string{"admin"}, Permissions: []string{"access.policy.read", "access.policy.write"}}
	actx := kernel.WithRequestMeta(kernel.WithPrincipal(ctx, admin), kernel.RequestMeta{IP: "192.0.2.7"})
	requireLockout := func(err error, field string) {
		t.Helper()
		var ke *kernel.Error
		require.ErrorAs(t, err, &ke)
		assert.Equal(t, "policy_invalid", ke.Code)
		assert.Equal(t, "the change would lock you out of the tenant's policy", ke.Message)
		require.Len(t, ke.Fields, 1)
		assert.Equal(t, field, ke.Fields[0].Field)
		assert.Equal(t, "with it in force, access.policy.read would be denied to you: locked out", ke.Fields[0].Message)
	}

	_, err := svc.Upload(actx, tn, "guard", "package tenant.guard # v1", "")
	require.NoError(t, err)
	require.Len(t, c.tried, 2, "the author's next read and write")
	subject := access.Subject{ID: admin.ID.String(), Type: "user", Email: admin.Email, Roles: admin.Roles,
		Permissions: admin.Permissions, Attributes: map[string]any{}}
	assert.Equal(t, access.Input{Subject: subject, Action: "access.policy.read", Resource: access.Resource{Attributes: map[string]any{}},
		Tenant:  access.TenantInput{ID: tn.ID.String(), Slug: "acme"},
		Request: access.RequestInput{Method: "GET", Path: "/api/v1/policies", IP: "192.0.2.7", Time: "2026-03-04T10:00:00Z"}}, c.tried[0])
	assert.Equal(t, "access.policy.write", c.tried[1].Action)
	assert.Equal(t, access.RequestInput{Method: "PUT", Path: "/api/v1/policies/guard", IP: "192.0.2.7", Time: "2026-03-04T10:00:00Z"}, c.tried[1].Request)

	_, err = svc.Upload(actx, tn, "guard", "package tenant.guard # lockout", "")
	requireLockout(err, "rego")
	versions, err := svc.Versions(ctx, tn, "guard")
	require.NoError(t, err)
	require.Len(t, versions, 1, "nothing stored")

	// Without a user (an operator, a restore): stored and active.
	_, err = svc.Upload(ctx, tn, "guard", "package tenant.guard # lockout v2", "")
	require.NoError(t, err)
	_, err = svc.Upload(ctx, tn, "guard", "package tenant.guard # v3", "")
	require.NoError(t, err)
	_, err = svc.Rollback(actx, tn, "guard", 2)
	requireLockout(err, "version")
	list, err := svc.List(ctx, tn)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, 3, list[0].Version, "v3 stays active")

	// A deletion that would leave a locking module without its counterpart.
	_, err = svc.Upload(ctx, tn, "key", "package tenant.key # unlock", "")
	require.NoError(t, err)
	_, err = svc.Upload(actx, tn, "lock", "package tenant.lock # lockout", "")
	require.NoError(t, err, "locks nobody out beside key")
	requireLockout(svc.Delete(actx, tn, "key"), "name")
	require.NoError(t, svc.Delete(actx, tn, "lock"))
	require.NoError(t, svc.Delete(actx, tn, "key"))
}
