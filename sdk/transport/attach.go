package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/internal/bridge"
	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// Attach runs p inside this process and connects to it as Launch connects
// to a binary: over real gRPC connections (Unix sockets, without TLS), with
// the same manifest validation and host services. It is for tests and
// benchmarks (sdk/plugintest) that want no binary to build. Close the Conn
// to stop it.
func Attach(ctx context.Context, p sdk.Plugin, logger *slog.Logger) (*Conn, error) {
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("plugin", p.Name)
	a, err := attach(ctx, p, logger)
	if err != nil {
		return nil, fmt.Errorf("attach plugin %s: %w", p.Name, err)
	}
	return a, nil
}

func attach(ctx context.Context, p sdk.Plugin, logger *slog.Logger) (_ *Conn, err error) {
	dir, err := os.MkdirTemp("", "atrium-plugin-")
	if err != nil {
		return nil, err
	}
	a := &attached{dir: dir}
	defer func() {
		if err != nil {
			_ = a.close()
		}
	}()

	hostSock := filepath.Join(dir, "host.sock")
	dial := func(context.Context, uint32) (*grpc.ClientConn, error) {
		return dialUnix(hostSock, wire.HostDialOptions())
	}
	srv, err := bridge.NewServer(p, logger, dial)
	if err != nil {
		return nil, err
	}
	a.pluginServer = srv
	pluginSock := filepath.Join(dir, "plugin.sock")
	if a.pluginGRPC, err = serveUnix(pluginSock, func(s *grpc.Server) { wire.RegisterPluginServer(s, srv) }); err != nil {
		return nil, err
	}
	if a.conn, err = dialUnix(pluginSock, wire.DialOptions()); err != nil {
		return nil, err
	}

	conn := newConn(p.Name, wire.NewPluginClient(a.conn), logger)
	conn.proc = a
	if a.hostGRPC, err = serveUnix(hostSock, func(s *grpc.Server) {
		wire.RegisterHostServer(s, &hostServer{conn: conn})
	}); err != nil {
		return nil, err
	}
	if err := conn.start(ctx, 0); err != nil {
		return nil, err
	}
	return conn, nil
}

func serveUnix(path string, register func(*grpc.Server)) (*grpc.Server, error) {
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	s := grpc.NewServer(wire.ServerOptions()...)
	register(s)
	go func() { _ = s.Serve(ln) }()
	return s, nil
}

func dialUnix(path string, opts []grpc.DialOption) (*grpc.ClientConn, error) {
	opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	return grpc.NewClient("unix://"+path, opts...)
}

// attached is a plugin running in this process.
type attached struct {
	dir          string
	pluginServer bridge.Server
	pluginGRPC   *grpc.Server
	hostGRPC     *grpc.Server
	conn         *grpc.ClientConn

	once   sync.Once
	mu     sync.Mutex
	closed bool
}

func (a *attached) exited() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

func (a *attached) kill() { _ = a.close() }

func (a *attached) pid() int { return os.Getpid() }

func (a *attached) close() error {
	var err error
	a.once.Do(func() {
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		if a.conn != nil {
			err = a.conn.Close()
		}
		if a.pluginServer != nil {
			a.pluginServer.Close()
		}
		for _, s := range []*grpc.Server{a.pluginGRPC, a.hostGRPC} {
			if s != nil {
				s.Stop()
			}
		}
		err = errors.Join(err, os.RemoveAll(a.dir))
	})
	return err
}
