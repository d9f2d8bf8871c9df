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

// repairs are the decisions a tenant admin needs to undo a policy change:
// reading the policy and changing it, as the policy routes ask them.
var repairs = []struct{ action, method, path string }{
	{"access.policy.read", http.MethodGet, "/api/v1/policies"},
	{"access.policy.write", http.MethodPut, "/api/v1/policies/"},
}

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
	for _, r := range repairs {
		path := r.path
		if strings.HasSuffix(path, "/") {
			path += name
		}
		in := access.Input{
			Subject:  access.SubjectOf(p),
			Action:   r.action,
			Resource: access.Resource{Attributes: map[string]any{}},
			Tenant:   access.TenantInput{ID: t.ID.String(), Slug: t.Slug, Settings: t.Settings},
			Request: access.RequestInput{Method: r.method, Path: path, IP: kernel.RequestMetaFrom(ctx).IP,
				Time: access.RequestTime(s.clock.Now())},
		}
		d, err := s.compiler.Try(ctx, modules, in)
		switch {
		case err != nil: // a failed evaluation is a deny, and would be one on that request
			return Invalid("the change would lock you out of the tenant's policy", kernel.FieldError{Field: field,
				Message: fmt.Sprintf("with it in force, %s could not be decided for you: %s", r.action, strings.Join(d.Reasons, "; "))})
		case !d.Allow:
			return Invalid("the change would lock you out of the tenant's policy", kernel.FieldError{Field: field,
				Message: fmt.Sprintf("with it in force, %s would be denied to you: %s", r.action, strings.Join(d.Reasons, "; "))})
		}
	}
	return nil
}
