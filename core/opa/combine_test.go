package opa

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/policy"
)

// TestCombine walks the decision rule over every combination: base allows
// or not x base deny or not x tenant allow or not x tenant deny or not x
// the action reserved or grantable.
func TestCombine(t *testing.T) {
	for _, baseAllow := range []bool{false, true} {
		for _, baseDeny := range []bool{false, true} {
			for _, tenantAllow := range []bool{false, true} {
				for _, tenantDeny := range []bool{false, true} {
					for _, action := range []string{"projects.task.delete", "identity.user.delete", "audit.log.read", "access.policy.write"} {
						grantable := action == "projects.task.delete"
						b := baseResult{allow: baseAllow, grantable: grantable}
						var tr tenantResult
						if baseDeny {
							b.deny = []string{"base says no"}
						}
						if tenantAllow {
							tr.allow = []string{"tenant grants"}
						}
						if tenantDeny {
							tr.deny = []string{"tenant says no"}
						}
						want := (baseAllow || (tenantAllow && grantable)) && !baseDeny && !tenantDeny
						name := fmt.Sprintf("base_allow=%v/base_deny=%v/tenant_allow=%v/tenant_deny=%v/%s", baseAllow, baseDeny, tenantAllow, tenantDeny, action)
						t.Run(name, func(t *testing.T) {
							got, reasons := combine(action, b, tr)
							assert.Equal(t, want, got)
							assert.NotEmpty(t, reasons, "every decision says why")
							if tenantDeny {
								assert.Contains(t, reasons, "tenant says no")
							}
							if baseDeny {
								assert.Contains(t, reasons, "base says no")
							}
							if got && !baseAllow {
								assert.Equal(t, []string{"tenant grants"}, reasons)
							}
						})
					}
				}
			}
		}
	}
}

// TestCombineReservedEvenIfTheBaseSaysGrantable: Go holds the line on
// reserved actions even if a base policy edit ever marked one grantable.
func TestCombineReservedEvenIfTheBaseSaysGrantable(t *testing.T) {
	allowed, reasons := combine("identity.role.update", baseResult{grantable: true}, tenantResult{allow: []string{"x"}})
	assert.False(t, allowed)
	assert.Equal(t, []string{"identity.role.update is reserved: tenant policies cannot grant it"}, reasons)
	allowed, _ = combine("malformed", baseResult{grantable: true}, tenantResult{allow: []string{"x"}})
	assert.False(t, allowed)
}

func TestRecoverInvalidTurnsPanicsIntoPolicyInvalid(t *testing.T) {
	err := func() (err error) {
		defer recoverInvalid(&err)
		panic("compiler bug")
	}()
	assert.ErrorIs(t, err, policy.ErrInvalid)
	assert.ErrorContains(t, err, "the policy compiler failed on this input: compiler bug")
}

// TestInputPartsAreNotMixedUp: subjects and tenants whose input terms are
// kept between decisions still each get their own.
func TestInputPartsAreNotMixedUp(t *testing.T) {
	e, err := New(Options{})
	require.NoError(t, err)
	owner := `package tenant.p
allow contains "owner" if input.resource.owner_id == input.subject.id
deny contains "contractor" if "contractor" in input.subject.roles
deny contains "frozen" if input.tenant.slug == "frozen"`
	src := staticSource{"t1": {Revision: 1, Modules: []policy.Module{{Name: "p", Version: 1, Rego: owner, Active: true}}}}
	ask := func(id, slug string, roles ...string) bool {
		in := access.Input{
			Subject:  access.Subject{ID: id, Type: "user", Roles: roles, Permissions: []string{"identity.user.read"}},
			Action:   "projects.project.update",
			Resource: access.Resource{Type: "project", ID: "p1", OwnerID: "u1"},
			Tenant:   access.TenantInput{ID: "t1", Slug: slug},
		}
		d, err := e.Evaluate(context.Background(), "t1", src, in, false)
		require.NoError(t, err)
		return d.Allow
	}
	for range 3 { // the second and third rounds hit the kept terms
		require.True(t, ask("u1", "acme", "member"))
		require.False(t, ask("u2", "acme", "member"), "another subject is not the owner")
		require.False(t, ask("u1", "acme", "member", "contractor"), "other roles are another subject")
		require.False(t, ask("u1", "frozen", "member"), "another tenant")
		withAttrs := func() bool {
			in := access.Input{
				Subject:  access.Subject{ID: "u1", Type: "user", Roles: []string{"member"}, Attributes: map[string]any{"k": "v"}},
				Action:   "projects.project.update",
				Resource: access.Resource{Type: "project", OwnerID: "u1"},
				Tenant:   access.TenantInput{ID: "t1", Slug: "acme", Settings: map[string]any{"s": 1}},
			}
			d, err := e.Evaluate(context.Background(), "t1", src, in, false)
			require.NoError(t, err)
			return d.Allow
		}
		require.True(t, withAttrs())
	}
}

type staticSource map[string]policy.Set

func (s staticSource) Revision(_ context.Context, id string) (int64, error) {
	return s[id].Revision, nil
}
func (s staticSource) Active(_ context.Context, id string) (policy.Set, error) { return s[id], nil }

// The input's objects are recycled between decisions: a decision sees its
// own values, also where OPA compares whole objects or looks them up by
// hash (set membership), whatever the previous decision held.
func TestRecycledInputsHoldEachDecisionsValues(t *testing.T) {
	e, err := New(Options{})
	require.NoError(t, err)
	rego := `package tenant.p
deny contains "whole request" if input.request == {"method": "DELETE", "path": "/x", "ip": "10.0.0.1", "time": "t"}
deny contains "resource in set" if input.resource in {{"type": "doc", "id": "secret", "owner_id": "", "attributes": {}}}
deny contains "input in set" if input in {x | x := input; x.action == "projects.task.delete"}`
	src := staticSource{"t1": {Revision: 1, Modules: []policy.Module{{Name: "p", Version: 1, Rego: rego, Active: true}}}}
	ask := func(method, resourceID, action string) []string {
		in := access.Input{
			Subject:  access.Subject{ID: "u1", Type: "user", Permissions: []string{"projects.task.read", "projects.task.delete"}},
			Action:   action,
			Resource: access.Resource{Type: "doc", ID: resourceID},
			Tenant:   access.TenantInput{ID: "t1", Slug: "acme"},
			Request:  access.RequestInput{Method: method, Path: "/x", IP: "10.0.0.1", Time: "t"},
		}
		d, err := e.Evaluate(context.Background(), "t1", src, in, false)
		require.NoError(t, err)
		if d.Allow {
			return nil
		}
		return d.Reasons
	}
	for range 50 {
		assert.Equal(t, []string{"whole request"}, ask("DELETE", "open", "projects.task.read"))
		assert.Nil(t, ask("GET", "open", "projects.task.read"))
		assert.Equal(t, []string{"resource in set"}, ask("GET", "secret", "projects.task.read"))
		assert.Nil(t, ask("GET", "other", "projects.task.read"))
		assert.Equal(t, []string{"input in set"}, ask("GET", "open", "projects.task.delete"))
	}
}
