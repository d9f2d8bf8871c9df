package wire_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// recordingConn keeps what is written on a connection: whole HTTP/2
// frames, as gRPC flushes them.
type recordingConn struct {
	net.Conn
	mu  *sync.Mutex
	out *bytes.Buffer
}

func (c recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.out.Write(p)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

type recordingListener struct {
	net.Listener
	mu  *sync.Mutex
	out *bytes.Buffer
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return recordingConn{c, l.mu, l.out}, nil
}

// frames counts the HTTP/2 frames in b by type.
func frames(t *testing.T, b []byte) map[http2.FrameType]int {
	t.Helper()
	n := map[http2.FrameType]int{}
	fr := http2.NewFramer(nil, bytes.NewReader(b))
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return n
		}
		require.NoError(t, err)
		n[f.Header().Type]++
	}
}

// Small unary calls send no flow-control pings, and next to no window
// updates, either way: gRPC's bandwidth probe would add a PING and its
// acknowledgement around nearly every call, each a write and a wake-up.
func TestUnaryCallsSendNoFlowControlPings(t *testing.T) {
	var mu sync.Mutex
	var client, server bytes.Buffer
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(wire.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(recordingListener{ln, &mu, &server}) }()
	t.Cleanup(srv.Stop)

	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return recordingConn{c, &mu, &client}, nil
	}
	cc, err := grpc.NewClient("passthrough:///"+ln.Addr().String(), append(wire.DialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dial))...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cc.Close() })
	health := healthpb.NewHealthClient(cc)
	call := func() {
		_, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
	}

	for range 5 { // the connection's preface and settings
		call()
	}
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	client.Reset()
	server.Reset()
	mu.Unlock()
	const calls = 100
	for range calls {
		call()
		time.Sleep(time.Millisecond) // the caller at other work, as between requests
	}
	time.Sleep(50 * time.Millisecond) // what a call sets off after its reply
	mu.Lock()
	defer mu.Unlock()
	for side, b := range map[string][]byte{"client": client.Bytes(), "server": server.Bytes()} {
		n := frames(t, b)
		assert.Zero(t, n[http2.FramePing], side+" pings")
		assert.LessOrEqual(t, n[http2.FrameWindowUpdate], 2, side+" window updates")
		assert.Equal(t, calls, n[http2.FrameHeaders]/map[string]int{"client": 1, "server": 2}[side], side+" calls")
	}
}
