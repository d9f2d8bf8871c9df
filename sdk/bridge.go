package sdk

import (
	"log/slog"

	"github.com/atriumhq/atrium/sdk/internal/bridge"
	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// init lends sdk/transport the plugin side and the error translation,
// which stay out of this package's API.
func init() {
	bridge.ErrorToWire = errorToWire
	bridge.ErrorFromWire = func(w *wire.Error) error { return errorFromWire(w) }
	bridge.NewServer = func(p any, logger *slog.Logger, dial bridge.HostDialer) (bridge.Server, error) {
		return newServer(p.(Plugin), logger, dial)
	}
}
