package access

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/kernel"
)

// Module provides the permission registry, the role resolver and service,
// and the authorizer. The Decider is bound in core/app (the policy engine).
var Module = fx.Module("access",
	fx.Provide(
		NewRegistry,
		func(store RoleStore, reg *Registry) *Resolver { return NewResolver(store, reg, 10_000, 5*time.Minute) },
		func(store RoleStore, reg *Registry, res *Resolver) *Roles {
			return NewRoles(store, reg, kernel.SystemClock{}, func(ctx context.Context) {
				if t, ok := kernel.TenantFrom(ctx); ok {
					res.Invalidate(t.ID)
				}
			})
		},
		func(res *Resolver, d Decider, log *slog.Logger, reg prometheus.Registerer) *Authorizer {
			return NewAuthorizer(res, d, kernel.SystemClock{}, log, reg)
		},
		NewLists,
	),
)
