package tenancy

import (
	"github.com/google/uuid"
	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/kernel"
)

// Module provides the tenant lifecycle service and the tenant resolver.
var Module = fx.Module("tenancy",
	fx.Provide(
		func(store Store, hasher PasswordHasher, backups BackupStore, r *Resolver) *Service {
			return NewService(store, hasher, kernel.SystemClock{}).WithBackupStore(backups).OnChange(func(id uuid.UUID) {
				if id == uuid.Nil {
					r.InvalidateAll()
					return
				}
				r.Invalidate(id)
			})
		},
		NewResolver,
	),
)
