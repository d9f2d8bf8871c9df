// Package bridge lends sdk/transport what package sdk builds (the plugin
// side of the protocol and the error translation) without adding them to the
// API plugin authors see. Package sdk fills the variables in its init; every
// importer of transport also imports sdk, so they are set before use.
package bridge

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// Server is the plugin side of the protocol; Close drops its connection to
// the host service.
type Server interface {
	wire.PluginServer
	Close()
}

// HostDialer connects the plugin to the host service the host announced.
type HostDialer func(ctx context.Context, id uint32) (*grpc.ClientConn, error)

var (
	// NewServer validates plugin (an sdk.Plugin) and returns the plugin side
	// of the protocol, which reaches the host through dial.
	NewServer func(plugin any, logger *slog.Logger, dial HostDialer) (Server, error)

	// ErrorToWire converts an error for the other side of the boundary;
	// from is the side sending it, which claims errors of no source.
	ErrorToWire func(err error, from wire.Source) *wire.Error

	// ErrorFromWire rebuilds an *sdk.Error from its wire form.
	ErrorFromWire func(w *wire.Error) error
)
