package transport_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/atriumhq/atrium/sdk/transport"
)

func launchErr(t *testing.T, cfg transport.Config) error {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "testplugin"
	}
	cfg.Path = pluginPath
	if cfg.SHA256 == nil {
		cfg.SHA256 = pluginSum
	}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	conn, err := transport.Launch(context.Background(), cfg)
	if err == nil {
		_ = conn.Close()
		t.Fatal("launch succeeded")
	}
	t.Logf("launch error: %v", err)
	if pids := processesOf(t, pluginPath); len(pids) > 0 {
		t.Errorf("plugin processes left running: %v", pids)
	}
	return err
}

func TestLaunchRefusesWrongChecksum(t *testing.T) {
	sum := append([]byte(nil), pluginSum...)
	sum[0] ^= 0xff
	err := launchErr(t, transport.Config{SHA256: sum})
	if !strings.Contains(err.Error(), "checksum") {
		t.Errorf("err = %v", err)
	}
}

func TestLaunchFailsOnStdoutBeforeServe(t *testing.T) {
	err := launchErr(t, transport.Config{Env: []string{"TESTPLUGIN_MODE=stdout"}})
	if !strings.Contains(err.Error(), `printed "hello from init, before Serve" to stdout`) {
		t.Errorf("err = %v", err)
	}
}

func TestLaunchFailsOnBadManifest(t *testing.T) {
	err := launchErr(t, transport.Config{Env: []string{"TESTPLUGIN_MODE=badname"}, StartTimeout: 5 * time.Second})
	if !strings.Contains(err.Error(), `name "Bad-Name" must match`) {
		t.Errorf("err = %v", err)
	}
}

func TestLaunchRefusesOtherName(t *testing.T) {
	err := launchErr(t, transport.Config{Name: "other"})
	if !strings.Contains(err.Error(), `is plugin "testplugin", not "other"`) {
		t.Errorf("err = %v", err)
	}
}

func TestLaunchNeedsChecksum(t *testing.T) {
	_, err := transport.Launch(context.Background(), transport.Config{Name: "x", Path: pluginPath})
	if err == nil || !strings.Contains(err.Error(), "SHA256") {
		t.Errorf("err = %v", err)
	}
}

// TestPluginDiesWithHost SIGKILLs a host process and expects its plugin gone
// within 2 s: with transport.Launch, and with a host that asks for no
// parent-death signal, which leaves sdk.Serve's watchdog alone on guard.
func TestPluginDiesWithHost(t *testing.T) {
	for _, mode := range []string{"launch", "plain"} {
		t.Run(mode, func(t *testing.T) { killHost(t, mode) })
	}
}

func killHost(t *testing.T, mode string) {
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(),
		"TRANSPORT_TEST_PARENT="+mode,
		"TRANSPORT_TEST_PLUGIN="+pluginPath,
		"TRANSPORT_TEST_SUM="+hex.EncodeToString(pluginSum))
	out, err := parent.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	parent.Stderr = os.Stderr
	if err := parent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = parent.Process.Kill(); _ = parent.Wait() }()

	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("read plugin pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || !alive(pid) {
		t.Fatalf("plugin pid %q not running", line)
	}
	if err := parent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = parent.Wait()
	deadline := time.Now().Add(2 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d still running 2 s after its host was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
