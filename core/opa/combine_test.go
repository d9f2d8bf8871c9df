package opa

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

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
