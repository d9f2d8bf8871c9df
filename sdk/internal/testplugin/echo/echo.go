// Package echo is a bare go-plugin gRPC echo service, the baseline the SDK's
// round trip is measured against: no SDK, one bytes message each way.
package echo

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Name is the plugin's key in go-plugin's plugin set.
const Name = "echo"

const method = "/atrium.test.Echo/Echo"

// serviceDesc is what protoc-gen-go-grpc would generate for
// `service Echo { rpc Echo(google.protobuf.BytesValue) returns (google.protobuf.BytesValue); }`.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: "atrium.test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.BytesValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return in, nil
		},
	}},
}

// Plugin serves the echo on the plugin side and returns a Client on the host
// side.
type Plugin struct{ plugin.NetRPCUnsupportedPlugin }

func (Plugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	s.RegisterService(&serviceDesc, struct{}{})
	return nil
}

func (Plugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Client{conn: c}, nil
}

// Client calls the echo.
type Client struct{ conn *grpc.ClientConn }

// Echo sends payload and returns what came back.
func (c *Client) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	out := new(wrapperspb.BytesValue)
	if err := c.conn.Invoke(ctx, method, wrapperspb.Bytes(payload), out); err != nil {
		return nil, err
	}
	if len(out.Value) != len(payload) {
		return nil, errors.New("echo: payload changed")
	}
	return out.Value, nil
}
