package wire_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// countingConn counts the writes made on a connection: each is a system
// call, and on the peer a wake-up.
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

// A small unary call is one write each way on the protocol's connections:
// no flow-control pings or window updates beside it.
func TestAUnaryCallIsOneWriteEachWay(t *testing.T) {
	var clientWrites, serverWrites atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(wire.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(countingListener{ln, &serverWrites}) }()
	t.Cleanup(srv.Stop)

	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, &clientWrites}, nil
	}
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), append(wire.DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dial))...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	client := healthpb.NewHealthClient(cc)
	call := func() {
		_, err := client.Check(context.Background(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
	}

	for range 5 { // the connection's preface and settings
		call()
	}
	time.Sleep(50 * time.Millisecond)
	clientWrites.Store(0)
	serverWrites.Store(0)
	const calls = 100
	for range calls {
		call()
		time.Sleep(time.Millisecond) // the caller at other work, as between requests
	}
	time.Sleep(50 * time.Millisecond) // what a call sets off after its reply
	require.LessOrEqual(t, clientWrites.Load(), int64(calls+2), "client writes")
	require.LessOrEqual(t, serverWrites.Load(), int64(calls+2), "server writes")
}
