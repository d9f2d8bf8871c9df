package policy

import (
	"context"
	"errors"

	"github.com/atriumhq/atrium/core/access"
	"github.com/atriumhq/atrium/core/kernel"
)

// A Filterer is a Compiler that can turn a tenant's policy into the
// condition a list's rows must meet (core/opa).
type Filterer interface {
	Filter(ctx context.Context, tenantID string, src Source, in access.Input, cols access.ListColumns, argOffset int) (access.Filter, error)
}

// Filter shows the condition a list of in.Resource.Type, read with
// in.Action, gets for in.Subject under the tenant's active policy, in the
// notation of cols (the evaluate call's filter mode).
func (s *Service) Filter(ctx context.Context, t *kernel.Tenant, in access.Input, cols access.ListColumns) (access.Filter, error) {
	f, ok := s.compiler.(Filterer)
	if !ok {
		return access.Filter{}, errors.New("the policy engine does not filter lists")
	}
	var out access.Filter
	err := s.uow.InTenant(ctx, t, func(ctx context.Context) error {
		var err error
		out, err = f.Filter(ctx, t.ID.String(), s, in, cols, 0)
		return err
	})
	return out, err
}
