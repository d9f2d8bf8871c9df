package sdk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/atriumhq/atrium/sdk/internal/hclogslog"
	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// Serve runs the plugin until the core disconnects; call it from main and
// nothing else. It validates the manifest first: a bad one is reported on
// stderr and the process exits with status 1.
//
// Serve makes slog's default logger write the JSON lines the core forwards
// into its own log under the plugin's name, so slog.Info (and the log
// package) work anywhere in the plugin. Standard output belongs to the
// handshake with the core: never print to it before Serve.
//
// The plugin never outlives the core: it asks Linux for SIGKILL when its
// parent dies and, as a second guard, exits when its parent changes.
func Serve(p Plugin) {
	if err := serve(p); err != nil {
		fmt.Fprintf(os.Stderr, "atrium plugin %q: %v\n", p.Name, err)
		os.Exit(1)
	}
}

func serve(p Plugin) error {
	if _, err := p.Manifest(); err != nil {
		return err
	}
	// go-plugin redirects os.Stderr once serving; the log goes to the real
	// stderr, which the core reads.
	logger := newLogger(os.Stderr) // the host adds plugin=<name>
	slog.SetDefault(logger)
	if err := watchHost(logger, 500*time.Millisecond); err != nil {
		return err
	}
	flush, err := setupTracing(context.Background(), p.Name)
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := flush(ctx); err != nil {
			logger.Warn("flush spans", "error", err)
		}
	}()

	gp := &grpcPlugin{plugin: p, logger: logger}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         plugin.PluginSet{wire.PluginName: gp},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, wire.ServerOptions()...)...)
		},
		Logger: hclogslog.New(logger),
	})
	return nil
}

// grpcPlugin is the go-plugin glue of the plugin side.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	plugin Plugin
	logger *slog.Logger
}

func (g *grpcPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	dial := func(_ context.Context, id uint32) (*grpc.ClientConn, error) {
		return broker.DialWithOptions(id, wire.HostDialOptions()...)
	}
	srv, err := newServer(g.plugin, g.logger, dial)
	if err != nil {
		return err
	}
	wire.RegisterPluginServer(s, srv)
	return nil
}

func (g *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("a plugin is not a host")
}

// watchHost makes sure the plugin dies with the core: the kernel's
// parent-death signal where there is one, and a poll of the parent PID
// everywhere, which also catches a parent-death signal lost because the
// core's forking thread ended before the core did.
func watchHost(logger *slog.Logger, every time.Duration) error {
	parent := os.Getppid()
	if err := setParentDeathSignal(); err != nil {
		logger.Warn("cannot ask for a signal on the host's death; polling only", "error", err)
	}
	if v := os.Getenv(wire.HostPIDEnv); v != "" {
		if host, err := strconv.Atoi(v); err == nil && host != parent {
			return fmt.Errorf("host process %d is gone (parent is %d)", host, parent)
		}
	}
	go watchParent(parent, every, func() {
		logger.Error("host process is gone; exiting", "host_pid", parent)
		os.Exit(1)
	})
	return nil
}

// watchParent calls gone once the process's parent is no longer parent.
func watchParent(parent int, every time.Duration, gone func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for range t.C {
		if os.Getppid() != parent {
			gone()
			return
		}
	}
}
