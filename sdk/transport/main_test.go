package transport_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/atriumhq/atrium/sdk/internal/testplugin/echo"
	"github.com/atriumhq/atrium/sdk/internal/wire"
	"github.com/atriumhq/atrium/sdk/transport"
)

// The test plugin binary, built once for the package.
var (
	pluginPath string
	pluginSum  []byte
)

func TestMain(m *testing.M) {
	if os.Getenv("TRANSPORT_TEST_PARENT") != "" {
		os.Exit(runParent())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "transport-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	pluginPath = filepath.Join(dir, "testplugin")
	build := exec.Command("go", "build", "-o", pluginPath, "github.com/atriumhq/atrium/sdk/internal/testplugin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build test plugin:", err)
		return 1
	}
	if pluginSum, err = fileSHA256(pluginPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// runParent is the process the watchdog test SIGKILLs: it launches the
// plugin, prints the plugin's PID and waits to be killed. In "launch" mode
// it uses transport.Launch; in "plain" mode a bare go-plugin client that
// asks for no parent-death signal, so only sdk.Serve's own guard is left.
func runParent() int {
	path := os.Getenv("TRANSPORT_TEST_PLUGIN")
	var pid int
	switch os.Getenv("TRANSPORT_TEST_PARENT") {
	case "launch":
		conn, err := transport.Launch(context.Background(), transport.Config{
			Name: "testplugin", Path: path, SHA256: mustHex(os.Getenv("TRANSPORT_TEST_SUM")),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pid = conn.Pid()
	case "plain":
		cmd := exec.Command(path)
		client := plugin.NewClient(&plugin.ClientConfig{
			HandshakeConfig:  wire.Handshake,
			Plugins:          plugin.PluginSet{wire.PluginName: echo.Plugin{}}, // never dispensed
			Cmd:              cmd,
			AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
			AutoMTLS:         true,
			SkipHostEnv:      true,
			Logger:           hclog.NewNullLogger(),
		})
		if _, err := client.Client(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pid = cmd.Process.Pid
	}
	fmt.Println(pid)
	time.Sleep(time.Minute)
	return 0
}

func mustHex(s string) []byte {
	b := make([]byte, len(s)/2)
	for i := range b {
		n, _ := strconv.ParseUint(s[2*i:2*i+2], 16, 8)
		b[i] = byte(n)
	}
	return b
}

// launch starts the test plugin with env and stops it when the test ends.
func launch(t testing.TB, logger *slog.Logger, env ...string) *transport.Conn {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	conn, err := transport.Launch(context.Background(), transport.Config{
		Name: "testplugin", Path: pluginPath, SHA256: pluginSum, Logger: logger,
		StartTimeout: 10 * time.Second, Env: env,
	})
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// processesOf lists the live processes running the binary at path.
func processesOf(t *testing.T, path string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc")
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == path && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// alive reports whether pid runs and is not a zombie waiting to be reaped.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// logRecorder keeps the records of a slog logger for assertions.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(r, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (r *logRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sc := bufio.NewScanner(strings.NewReader(string(p)))
	for sc.Scan() {
		r.lines = append(r.lines, sc.Text())
	}
	return len(p), nil
}

// find waits briefly for a line containing every part.
func (r *logRecorder) find(parts ...string) string {
	for range 50 {
		r.mu.Lock()
		for _, l := range r.lines {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(l, p)
			}
			if ok {
				r.mu.Unlock()
				return l
			}
		}
		r.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	return ""
}
