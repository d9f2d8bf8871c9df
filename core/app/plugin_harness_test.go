package app_test

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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

	"github.com/stretchr/testify/require"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/app"
	"github.com/atriumhq/atrium/core/config"
	"github.com/atriumhq/atrium/core/postgres/postgrestest"
	"github.com/atriumhq/atrium/core/telemetry"
)

// The plugin binaries of the end-to-end plugin tests, built once for the
// package: the SDK's test plugin, notesplugin (testdata) for real data
// work, and the first-party projects plugin. They live in a directory named
// after this process; directories of earlier runs whose process is gone are
// removed.
var (
	buildOnce   sync.Once
	builtDir    string
	errBuilding error
)

const buildDirPrefix = "atrium-app-plugins-"

func pluginBinary(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		sweepBuildDirs()
		builtDir, errBuilding = os.MkdirTemp("", buildDirPrefix+strconv.Itoa(os.Getpid())+"-")
		if errBuilding != nil {
			return
		}
		// Into the directory, each binary named after its package.
		out, err := exec.Command("go", "build", "-o", builtDir+string(filepath.Separator),
			"github.com/atriumhq/atrium/sdk/internal/testplugin",
			"github.com/atriumhq/atrium/core/app/testdata/notesplugin",
			"github.com/atriumhq/atrium/core/app/testdata/relayplugin",
			"github.com/atriumhq/atrium/plugins/projects",
			"github.com/atriumhq/atrium/plugins/documents").CombinedOutput()
		if err != nil {
			errBuilding = fmt.Errorf("build the plugins: %w\n%s", err, out)
		}
	})
	require.NoError(t, errBuilding)
	return filepath.Join(builtDir, name)
}

func sweepBuildDirs() {
	old, _ := filepath.Glob(filepath.Join(os.TempDir(), buildDirPrefix+"*"))
	for _, dir := range old {
		pid, err := strconv.Atoi(strings.SplitN(strings.TrimPrefix(filepath.Base(dir), buildDirPrefix), "-", 2)[0])
		if err == nil && syscall.Kill(pid, 0) != nil {
			_ = os.RemoveAll(dir)
		}
	}
}

// pluginServer is a core with a plugin directory of its own, whose log
// the test reads.
type pluginServer struct {
	*server
	dir  string
	op   string
	logs *logRecorder
}

// startPluginCore starts a core on a fresh database whose plugin directory
// is empty; change adjusts the configuration first. It is startCore with
// the core's log recorded.
func startPluginCore(t *testing.T, change func(*config.Config)) *pluginServer {
	t.Helper()
	return startPluginCoreLogging(t, change, &logRecorder{})
}

// startPluginCoreLogging is startPluginCore keeping the core's log lines in
// logs, or none when it is nil (a long run would hold them all).
func startPluginCoreLogging(t *testing.T, change func(*config.Config), logs *logRecorder) *pluginServer {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	dir := t.TempDir()
	cfg := testConfig(t, postgrestest.NewDatabase(t))
	cfg.BootstrapOperatorEmail, cfg.BootstrapOperatorPassword = operatorEmail, operatorPassword
	cfg.PluginDir = dir
	cfg.AuditCheckpointInterval = 0
	if change != nil {
		change(&cfg)
	}
	log := testLogger()
	if logs != nil {
		log = logs.logger()
	}
	var srv *api.Server
	a := fxtest.New(t, app.Options(cfg, log), fx.Populate(&srv))
	a.RequireStart()
	// db reaches the database itself, past any pooler.
	s := &pluginServer{server: &server{t: t, base: "http://" + srv.Addr(), db: cmp.Or(cfg.DatabaseDirectURL, cfg.DatabaseURL)}, dir: dir, logs: logs}
	s.op = s.operatorToken()
	// Tenants own server-wide roles: delete them before the app stops.
	t.Cleanup(func() {
		var list api.TenantList
		s.do(http.MethodGet, "/api/v1/tenants", s.op, nil, &list)
		for _, tn := range list.Items {
			if status, raw := s.do(http.MethodDelete, "/api/v1/tenants/"+tn.Slug, s.op, nil, nil); status != http.StatusNoContent {
				t.Errorf("delete tenant %s: %d %s", tn.Slug, status, raw)
			}
		}
		a.RequireStop()
	})
	return s
}

// logRecorder keeps the core's log lines (JSON) for assertions; with
// ATRIUM_TEST_LOG set they also go to stderr.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) logger() *slog.Logger {
	var w io.Writer = r
	if os.Getenv("ATRIUM_TEST_LOG") != "" {
		w = io.MultiWriter(r, os.Stderr)
	}
	return telemetry.NewLogger(w, slog.LevelInfo) // atriumd's: lines carry the request's fields
}

func (r *logRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for line := range strings.Lines(string(p)) {
		r.lines = append(r.lines, strings.TrimSpace(line))
	}
	return len(p), nil
}

// count is the number of lines containing every part.
func (r *logRecorder) count(parts ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.lines {
		if containsAll(l, parts) {
			n++
		}
	}
	return n
}

func containsAll(line string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(line, p) {
			return false
		}
	}
	return true
}

// find waits up to 5 s for a line containing every part.
func (r *logRecorder) find(parts ...string) string {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		r.mu.Lock()
		for _, l := range r.lines {
			if containsAll(l, parts) {
				r.mu.Unlock()
				return l
			}
		}
		r.mu.Unlock()
	}
	return ""
}

// install copies a built plugin binary (testplugin or notesplugin) into the
// plugin directory as file.
func (s *pluginServer) install(bin, file string) string {
	s.t.Helper()
	data, err := os.ReadFile(pluginBinary(s.t, bin))
	require.NoError(s.t, err)
	path := filepath.Join(s.dir, file)
	require.NoError(s.t, os.WriteFile(path, data, 0o755))
	return path
}

// script writes an executable shell script into the plugin directory: a
// plugin that misbehaves at start, or runs the test plugin in one of its
// modes (the core passes a plugin none of its own environment).
func (s *pluginServer) script(file, body string) string {
	s.t.Helper()
	path := filepath.Join(s.dir, file)
	require.NoError(s.t, os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
	return path
}

// register registers a plugin through the operator API.
func (s *pluginServer) register(name, file string) (int, []byte, api.PluginStatus) {
	s.t.Helper()
	var st api.PluginStatus
	status, raw := s.do(http.MethodPost, "/api/v1/plugins", s.op, map[string]any{"name": name, "file": file}, &st)
	return status, raw, st
}

func (s *pluginServer) mustRegister(name, file string) api.PluginStatus {
	s.t.Helper()
	status, raw, st := s.register(name, file)
	require.Equal(s.t, http.StatusOK, status, string(raw))
	require.Equal(s.t, "running", st.State, string(raw))
	require.Positive(s.t, st.PID)
	return st
}

// plugin is a plugin as GET /api/v1/plugins shows it.
func (s *pluginServer) plugin(name string) api.PluginStatus {
	s.t.Helper()
	var list api.PluginList
	status, raw := s.do(http.MethodGet, "/api/v1/plugins", s.op, nil, &list)
	require.Equal(s.t, http.StatusOK, status, string(raw))
	for _, p := range list.Items {
		if p.Name == name {
			return p
		}
	}
	s.t.Fatalf("plugin %s is not listed: %s", name, raw)
	return api.PluginStatus{}
}

// waitFor polls the plugin's status until ok holds, for at most within.
func (s *pluginServer) waitFor(name string, within time.Duration, what string, ok func(api.PluginStatus) bool) api.PluginStatus {
	s.t.Helper()
	deadline := time.Now().Add(within)
	for {
		p := s.plugin(name)
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("plugin %s: not %s within %s: %+v", name, what, within, p)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitRestarted waits for the plugin to run again in a process other than
// pid.
func (s *pluginServer) waitRestarted(name string, pid int) api.PluginStatus {
	s.t.Helper()
	return s.waitFor(name, 10*time.Second, "running again", func(p api.PluginStatus) bool {
		return p.State == "running" && p.PID != 0 && p.PID != pid
	})
}

// tenant creates a tenant that enables plugins (through PATCH, as an
// operator would later) and returns its admin's token.
func (s *pluginServer) tenant(slug string, plugins ...string) string {
	s.t.Helper()
	s.createTenant(s.op, slug)
	if len(plugins) > 0 {
		s.enable(slug, plugins...)
	}
	return s.signIn(slug, "admin@"+slug+".test", adminPassword).AccessToken
}

func (s *pluginServer) enable(slug string, plugins ...string) {
	s.t.Helper()
	var tn api.TenantResponse
	status, raw := s.do(http.MethodPatch, "/api/v1/tenants/"+slug, s.op, map[string]any{"plugins": append([]string{}, plugins...)}, &tn)
	require.Equal(s.t, http.StatusOK, status, string(raw))
	require.Equal(s.t, len(plugins), len(tn.Plugins), string(raw))
	require.Subset(s.t, tn.Plugins, plugins)
}

// healthy checks that the core still serves its own routes.
func (s *pluginServer) healthy(token string) {
	s.t.Helper()
	require.Equal(s.t, http.StatusOK, s.me(token), "the core's own routes work")
	status, body := get(s.t, s.base+"/readyz")
	require.Equal(s.t, http.StatusOK, status, body)
}

// metric returns the value of the metric line that starts with series, or
// -1 when there is none.
func (s *pluginServer) metric(series string) float64 {
	s.t.Helper()
	return metricAt(s.t, s.base, series)
}

// result is one HTTP exchange.
type result struct {
	status int
	ctype  string
	body   []byte
	err    error
	header http.Header
}

func (r result) String() string { return fmt.Sprintf("%d %s (err %v)", r.status, r.body, r.err) }

// call sends body as JSON with token. It reports instead of failing the
// test, so other goroutines can use it, and gives up after 15 s so that a
// hung connection is an error rather than a hung test.
func (s *pluginServer) call(method, path, token string, body any) result {
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return result{err: err}
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		return result{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: raw, err: err, header: resp.Header}
}

// want checks the status of a successful exchange and decodes its body
// into out (when not nil).
func (r result) want(t *testing.T, status int, out any) result {
	t.Helper()
	require.NoError(t, r.err)
	require.Equal(t, status, r.status, string(r.body))
	if out != nil {
		require.NoError(t, json.Unmarshal(r.body, out), string(r.body))
	}
	return r
}

// problem checks a problem+json reply with status and code.
func (r result) problem(t *testing.T, status int, code string) api.Problem {
	t.Helper()
	require.NoError(t, r.err)
	require.Equal(t, status, r.status, string(r.body))
	require.Equal(t, "application/problem+json", r.ctype, string(r.body))
	var p api.Problem
	require.NoError(t, json.Unmarshal(r.body, &p), string(r.body))
	require.Equal(t, code, p.Code, string(r.body))
	require.Equal(t, status, p.Status, string(r.body))
	return p
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
