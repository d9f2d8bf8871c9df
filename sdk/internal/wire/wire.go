// Package wire holds the protocol between the Atrium core and a plugin
// process: the generated protobuf code (regenerate with `make proto`), the
// handshake both sides must agree on, and the conversion of SQL values.
package wire

import (
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// ProtocolVersion is the version of this protocol. Bump it, and the
// handshake with it, only for an incompatible change.
const ProtocolVersion = 1

// PluginName is the key of the one plugin in go-plugin's plugin set.
const PluginName = "atrium"

// MaxMessageSize caps one gRPC message either way; request and response
// bodies, result sets and blobs must fit in it.
const MaxMessageSize = 16 << 20

// HostPIDEnv names the variable in which the host tells a plugin its PID, so
// the plugin's watchdog also catches a host that died before it started.
const HostPIDEnv = "ATRIUM_PLUGIN_HOST_PID"

// Handshake never changes except with ProtocolVersion. It is not a secret:
// it only stops a plugin binary from being run by hand by mistake.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "ATRIUM_PLUGIN",
	MagicCookieValue: "2f8c1c56-atrium-plugin-v1",
}

// streamWorkers is the number of goroutines a server keeps to run calls.
// gRPC otherwise starts a goroutine per call, whose stack then grows (and is
// copied) on every request that goes deeper than 8 KiB, as JSON handling
// does; a busy server still starts extra goroutines past this number.
const streamWorkers = 16

// Flow-control windows, fixed. By default gRPC sizes its windows from
// round-trip samples: a PING after data arrives, and the peer's
// acknowledgement, which with one small message per call are extra writes
// and wake-ups on both sides of nearly every call (a plugin request wrote
// three times on each of atriumd's two plugin connections; now once). A
// plugin's connection is a local socket, with no bandwidth-delay product to
// estimate, and these windows let a call's messages through without
// waiting for an update.
const (
	streamWindow = 1 << 20
	connWindow   = 8 << 20
)

// ServerOptions and DialOptions raise gRPC's default 4 MiB limit to
// MaxMessageSize on every connection of the protocol and fix its windows;
// servers also keep warm worker goroutines.
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.NumStreamWorkers(streamWorkers),
		grpc.StaticStreamWindowSize(streamWindow),
		grpc.StaticConnWindowSize(connWindow),
	}
}

// DialOptions: see ServerOptions.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithStaticStreamWindowSize(streamWindow),
		grpc.WithStaticConnWindowSize(connWindow),
	}
}
