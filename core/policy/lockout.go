package policy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
)

// guardLockout refuses a change after which the user making it could no
// longer read or change the tenant's policy, and so could not undo it:
// modules is the tenant's set as the change would leave it, decided for
// that user's list and upload of the policy, from where they call, now. (A
// rule that turns on later, at a set time, is beyond it: operators' break
// glass repairs that.) A change with no user behind it (an operator's, or
// one made outside a request) is not a user's lockout.
func (s *Service) guardLockout(ctx context.Context, t *kernel.Tenant, modules []Module, field, name string) error {
	p, ok := kernel.PrincipalFrom(ctx)
	if !ok || p.Type != kernel.PrincipalUser {
		return nil
	}
	if p.Permissions == nil {
		return errors.New("lockout guard: the user's permissions are not loaded")
	}
	// The decisions a user needs to undo the change, as the policy routes
	// ask them: listing the policy and uploading the module again.
	repairs := []access.RequestInput{
		{Method: http.MethodGet, Path: "/api/v1/policies"},
		{Method: http.MethodPut, Path: "/api/v1/policies/" + name},
	}
	for i, action := range []string{"access.policy.read", "access.policy.write"} {
		req := repairs[i]
		req.IP, req.Time = kernel.RequestMetaFrom(ctx).IP, access.RequestTime(s.clock.Now())
		in := access.Input{
			Subject:  access.SubjectOf(p),
			Action:   action,
			Resource: access.Resource{Attributes: map[string]any{}},
			Tenant:   access.TenantInput{ID: t.ID.String(), Slug: t.Slug, Settings: t.Settings},
			Request:  req,
		}
		verdict := "would be denied to you"
		d, err := s.compiler.Try(ctx, modules, in)
		if err != nil { // a failed evaluation is a deny, and would be one on that request
			verdict = "could not be decided for you"
		}
		if err != nil || !d.Allow {
			return Invalid("the change would lock you out of the tenant's policy", kernel.FieldError{Field: field,
				Message: fmt.Sprintf("with it in force, %s %s: %s", action, verdict, strings.Join(d.Reasons, "; "))})
		}
	}
	return nil
}
