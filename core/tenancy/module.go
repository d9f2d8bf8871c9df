package tenancy

import (
	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/kernel"
)

// Module provides the tenant lifecycle service and the tenant resolver.
var Module = fx.Module("tenancy",
	fx.Provide(
		func(store Store, hasher PasswordHasher, backups BackupStore) *Service {
			return NewService(store, hasher, kernel.SystemClock{}).WithBackupStore(backups)
		},
		NewResolver,
	),
)
