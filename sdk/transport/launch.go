package transport

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/atriumhq/atrium/sdk/internal/hclogslog"
	"github.com/atriumhq/atrium/sdk/internal/wire"
)

// Config says which plugin binary to launch and how.
type Config struct {
	// Name is the plugin's name in the catalog; the manifest must agree.
	Name string
	Path string
	// SHA256 is the binary's checksum from the catalog. A binary whose
	// checksum differs is refused before it runs.
	SHA256 []byte
	// Logger receives go-plugin's messages and everything the plugin logs,
	// with the attribute plugin=<Name>. Default: slog.Default().
	Logger *slog.Logger
	// StartTimeout bounds the start: process, handshake and manifest.
	// Default: 10 s.
	StartTimeout time.Duration
	// Env is the plugin's whole environment: the core's own is never
	// passed on, so its secrets stay in the core.
	Env []string
	// Limits bound the process and choose its uid; the zero value
	// applies none.
	Limits Limits
}

// Launch starts the plugin binary, connects to it over gRPC with mutual TLS,
// and fetches and validates its manifest. The process dies with the core,
// even when the core is SIGKILLed. On any failure nothing is left running.
func Launch(ctx context.Context, cfg Config) (*Conn, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("launch plugin %s: %w", cfg.Name, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("plugin", cfg.Name)
	timeout := cfg.StartTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}

	box, err := newSandbox(cfg.Name, cfg.Limits, logger)
	if err != nil {
		return nil, fmt.Errorf("launch plugin %s: %w", cfg.Name, err)
	}
	cmd := exec.Command(cfg.Path)
	cmd.Env = append(slices.Clone(cfg.Env), wire.HostPIDEnv+"="+strconv.Itoa(os.Getpid()))
	dieWithParent(cmd)
	exe, err := box.prepare(cmd)
	if err != nil {
		box.release()
		return nil, fmt.Errorf("launch plugin %s: %w", cfg.Name, err)
	}
	run := &procRunner{cmd: cmd, exe: exe, name: cfg.Path, sum: cfg.SHA256, box: box}
	stderr := &startLog{}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         plugin.PluginSet{wire.PluginName: &grpcPlugin{}},
		// The runner checks the checksum on the file that runs as the
		// plugin (a copy when the plugin has a uid of its own), and the
		// process starts confined.
		RunnerFunc:       run.runnerFunc,
		UnixSocketConfig: box.socketConfig(),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     timeout,
		Logger:           hclogslog.New(logger),
		SyncStdout:       &lineWriter{logger: logger.With("stream", "stdout"), level: slog.LevelInfo},
		SyncStderr:       &lineWriter{logger: logger.With("stream", "stderr"), level: slog.LevelWarn},
		Stderr:           io.MultiWriter(stderr, &run.goOOM),
		GRPCDialOptions:  wire.DialOptions(),
	})
	conn, err := connect(ctx, client, run, cfg.Name, logger, timeout)
	if err != nil {
		client.Kill() // returns once the process and its output are done
		box.release()
		var early *earlyExit
		if said := stderr.String(); errors.As(err, &early) && said != "" {
			err = fmt.Errorf("%w; its stderr ends with:\n%s", err, said)
		}
		return nil, fmt.Errorf("launch plugin %s: %w", cfg.Name, err)
	}
	stderr.stop()
	limits := box.applied
	attrs := []any{"pid", conn.Pid(), "version", conn.Manifest().Version, "limits", limits}
	if len(box.notUsed) > 0 {
		attrs = append(attrs, "limits_not_used", box.notUsed)
	}
	logger.Info("plugin process launched", attrs...)
	for _, w := range limits.Warnings {
		logger.Warn("plugin limit not applied", "pid", conn.Pid(), "problem", w)
	}
	return conn, nil
}

func (cfg Config) check() error {
	switch {
	case cfg.Name == "":
		return errors.New("no name")
	case cfg.Path == "":
		return errors.New("no path")
	case len(cfg.SHA256) != sha256.Size:
		return fmt.Errorf("the SHA256 checksum must be %d bytes, got %d", sha256.Size, len(cfg.SHA256))
	}
	return nil
}

// connect starts the process, serves the host service over the broker and
// reads the manifest.
func connect(ctx context.Context, client *plugin.Client, run *procRunner, name string, logger *slog.Logger, timeout time.Duration) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	type started struct {
		rpc plugin.ClientProtocol
		err error
	}
	ch := make(chan started, 1)
	go func() {
		rpc, err := client.Client()
		ch <- started{rpc, err}
	}()
	var s started
	select {
	case s = <-ch:
	case <-ctx.Done():
		client.Kill()
		<-ch
		return nil, fmt.Errorf("start: %w", ctx.Err())
	}
	if s.err != nil {
		if errors.Is(s.err, plugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("refused: the binary's checksum differs from the catalog's: %w", s.err)
		}
		return nil, startError(s.err)
	}
	raw, err := s.rpc.Dispense(wire.PluginName)
	if err != nil {
		return nil, fmt.Errorf("dispense: %w", err)
	}
	pc, ok := raw.(*pluginClient)
	if !ok {
		return nil, fmt.Errorf("dispense: unexpected %T", raw)
	}

	conn := newConn(name, wire.NewPluginClient(pc.conn), logger)
	conn.proc = &launched{client: client, run: run}
	id := pc.broker.NextId()
	go pc.broker.AcceptAndServe(id, conn.newGRPCServer)
	if err := conn.start(ctx, id); err != nil {
		return nil, err
	}
	return conn, nil
}

// startError rephrases go-plugin's handshake failures, whose text lists
// causes that do not apply to an Atrium plugin.
func startError(err error) error {
	const unrecognized = "Unrecognized remote plugin message: "
	msg := err.Error()
	i := strings.Index(msg, unrecognized)
	switch {
	case i < 0:
		return fmt.Errorf("start: %w", err)
	case strings.Contains(msg, "Failed to read any lines"):
		return &earlyExit{}
	}
	line, _, _ := strings.Cut(msg[i+len(unrecognized):], "\n")
	return fmt.Errorf("start: the plugin printed %q to stdout before its handshake; nothing may print to stdout before sdk.Serve", line)
}

// earlyExit is a plugin that exited before its handshake: its stderr says
// why, so Launch adds it to the error.
type earlyExit struct{}

func (*earlyExit) Error() string { return "start: the plugin exited before its handshake" }

// start announces the host service and installs the manifest.
func (c *Conn) start(ctx context.Context, hostService uint32) error {
	w, err := c.plugin.GetManifest(ctx, &wire.ManifestRequest{HostService: hostService, HostProtocol: wire.ProtocolVersion, HostChecks: true, HostAudit: true})
	if err != nil {
		return fmt.Errorf("get manifest: %w", err)
	}
	m := manifestFromWire(w)
	if m.Name != c.name {
		return fmt.Errorf("the binary is plugin %q, not %q", m.Name, c.name)
	}
	c.takesPrefetch = w.GetTakesPrefetch()
	return c.setManifest(m)
}

// grpcPlugin is the go-plugin glue of the host side.
type grpcPlugin struct{ plugin.NetRPCUnsupportedPlugin }

type pluginClient struct {
	broker *plugin.GRPCBroker
	conn   *grpc.ClientConn
}

func (grpcPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the host does not serve the plugin protocol")
}

func (grpcPlugin) GRPCClient(_ context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &pluginClient{broker: b, conn: c}, nil
}

// launched is a plugin in its own process.
type launched struct {
	client *plugin.Client
	run    *procRunner
}

func (l *launched) exited() bool { return l.client.Exited() }

func (l *launched) kill() {
	_ = l.run.Kill(context.Background())
	l.client.Kill()
}

func (l *launched) close() error {
	l.client.Kill() // asks the plugin to stop, then kills it after 2 s
	return nil
}

func (l *launched) pid() int { return l.run.procID() }
