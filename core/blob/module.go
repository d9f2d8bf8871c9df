package blob

import (
	"context"

	"go.uber.org/fx"

	"github.com/atriumhq/atrium/core/config"
)

// Module provides the blob store named by ATRIUM_BLOB_URL (a local directory
// by default) and its readiness check.
var Module = fx.Module("blob",
	fx.Provide(
		func(cfg config.Config) (Store, error) {
			return Open(context.Background(), cfg.BlobURL, cfg.BlobTimeout)
		},
		fx.Annotate(Check, fx.ResultTags(`group:"readiness"`)),
	),
)
