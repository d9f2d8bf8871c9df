package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/postgres/postgrestest"
)

const (
	pluginOperatorEmail    = "ops@atriumd.test"
	pluginOperatorPassword = "atriumd operator password"
)

// runningCore is an atriumd process and where it serves.
type runningCore struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	// exited is closed once the process is reaped, with its error in
	// waitErr.
	exited  chan struct{}
	waitErr error
}

// startAtriumd starts atriumd with env and waits until it serves.
func startAtriumd(t *testing.T, env ...string) *runningCore {
	t.Helper()
	cmd := atriumd(t, env...)
	// Should this test process die first, atriumd goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	require.NoError(t, cmd.Start())
	c := &runningCore{t: t, cmd: cmd, exited: make(chan struct{})}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
	})

	addr := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "serving HTTP" {
				addr <- rec.Addr
			}
		}
		// Drained: atriumd never blocks on stdout. Now reap it.
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	select {
	case a := <-addr:
		c.base = "http://" + a
	case <-time.After(time.Minute):
		t.Fatalf("atriumd never said where it serves; stderr: %s", stderr.String())
	}
	return c
}

// lockedBuffer is a bytes.Buffer safe to read while the process writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// do sends body as JSON with token and decodes a 2xx reply into out.
func (c *runningCore) do(method, path, token string, body, out any) int {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		require.NoError(c.t, err)
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, r)
	require.NoError(c.t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	if out != nil && resp.StatusCode < 300 {
		require.NoError(c.t, json.Unmarshal(raw, out), string(raw))
	}
	return resp.StatusCode
}

func (c *runningCore) operatorToken() string {
	c.t.Helper()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	status := c.do(http.MethodPost, "/api/v1/operator/login", "", map[string]string{"email": pluginOperatorEmail, "password": pluginOperatorPassword}, &tok)
	require.Equal(c.t, http.StatusOK, status)
	return tok.AccessToken
}

type pluginState struct {
	Name  string `json:"name"`
	State string `json:"state"`
	PID   int    `json:"pid"`
}

// plugin waits until the named plugin runs and returns its state.
func (c *runningCore) plugin(token, name string) pluginState {
	c.t.Helper()
	var p pluginState
	require.Eventually(c.t, func() bool {
		var list struct{ Items []pluginState }
		require.Equal(c.t, http.StatusOK, c.do(http.MethodGet, "/api/v1/plugins", token, nil, &list))
		for _, it := range list.Items {
			if it.Name == name {
				p = it
			}
		}
		return p.State == "running" && p.PID > 0
	}, 10*time.Second, 50*time.Millisecond, "plugin %s never ran", name)
	return p
}

// stopped waits up to within for atriumd's process to be reaped.
func (c *runningCore) stopped(within time.Duration) error {
	c.t.Helper()
	select {
	case <-c.exited:
		return c.waitErr
	case <-time.After(within):
		c.t.Fatalf("atriumd still runs %s later", within)
		return nil
	}
}

// alive reports whether pid runs and is not a zombie waiting to be reaped.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	st := string(stat)
	fields := strings.Fields(st[strings.LastIndexByte(st, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// processesIn lists the live processes whose executable is in dir.
func processesIn(t *testing.T, dir string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && filepath.Dir(exe) == dir && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// No plugin process outlives atriumd, even when atriumd is SIGKILLed and
// has no chance to stop it; a restarted atriumd launches the registered
// plugin from the catalog, and stops it on SIGTERM.
func TestNoPluginOutlivesAtriumd(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "testplugin"),
		"github.com/atriumhq/atrium/sdk/internal/testplugin").CombinedOutput()
	require.NoError(t, err, string(out))
	env := []string{
		"DATABASE_URL=" + postgrestest.NewDatabase(t), "ATRIUM_HTTP_ADDR=127.0.0.1:0",
		"ATRIUM_BLOB_URL=file://" + t.TempDir(), "ATRIUM_PLUGIN_DIR=" + dir,
		"ATRIUM_BOOTSTRAP_OPERATOR_EMAIL=" + pluginOperatorEmail, "ATRIUM_BOOTSTRAP_OPERATOR_PASSWORD=" + pluginOperatorPassword,
	}

	core := startAtriumd(t, env...)
	op := core.operatorToken()
	var reg pluginState
	require.Equal(t, http.StatusOK, core.do(http.MethodPost, "/api/v1/plugins", op, map[string]string{"name": "testplugin", "file": "testplugin"}, &reg))
	require.Equal(t, "running", reg.State)
	require.True(t, alive(reg.PID))

	require.NoError(t, core.cmd.Process.Signal(syscall.SIGKILL))
	require.Error(t, core.stopped(10*time.Second), "killed, not exited")
	assert.Eventually(t, func() bool { return !alive(reg.PID) }, 2*time.Second, 20*time.Millisecond,
		"plugin process %d outlived its SIGKILLed core", reg.PID)
	assert.Empty(t, processesIn(t, dir))

	// The catalog survives: the next atriumd launches the plugin at start.
	core = startAtriumd(t, env...)
	p := core.plugin(core.operatorToken(), "testplugin")
	assert.NotEqual(t, reg.PID, p.PID)
	require.NoError(t, core.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, core.stopped(20*time.Second), "SIGTERM is a clean exit")
	assert.False(t, alive(p.PID), "a stopping core stops its plugins")
	assert.Empty(t, processesIn(t, dir))
}

// atriumd registers its plugin directory's new plugins before it serves,
// and an executable there that is no plugin costs a warning, not the
// start.
func TestRegistersThePluginDirectoryBeforeServing(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "testplugin"),
		"github.com/atriumhq/atrium/sdk/internal/testplugin").CombinedOutput()
	require.NoError(t, err, string(out))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notaplugin"), []byte("#!/bin/sh\nexit 3\n"), 0o755))

	s := serve(t, atriumd(t, "DATABASE_URL="+postgrestest.NewDatabase(t), "ATRIUM_HTTP_ADDR=127.0.0.1:0",
		"ATRIUM_BLOB_URL=file://"+t.TempDir(), "ATRIUM_PLUGIN_DIR="+dir))
	reg := s.fields["plugin registered from the plugin directory"]
	assert.Equal(t, "testplugin", reg["plugin"], s.log)
	assert.Equal(t, "1.0.0", reg["version"])
	assert.Len(t, reg["sha256"], 64)
	refused := s.fields["a file in the plugin directory was not registered"]
	assert.Equal(t, "WARN", refused["level"], s.log)
	assert.Equal(t, "notaplugin", refused["file"])
	assert.Contains(t, refused["error"], "the plugin did not start")
	s.stop(t)
}
