package app_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/api"
	"github.com/atriumhq/atrium/core/config"
)

// waitInFlight waits until at least n HTTP requests are in flight in the
// core, then a little longer for them to reach the plugin.
func (s *pluginServer) waitInFlight(n int) {
	s.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.metric("atrium_http_requests_in_flight") < float64(n) {
		require.True(s.t, time.Now().Before(deadline), "the requests never got in flight")
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
}

// kill SIGKILLs a plugin process.
func kill(t *testing.T, pid int) {
	t.Helper()
	require.Positive(t, pid)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
}

// A plugin killed mid-traffic costs only its in-flight requests, which fail
// at once as 503 plugin_unavailable; the core keeps serving, and the plugin
// is restarted and serves again within seconds.
func TestPluginCrashCostsOnlyItsInFlightRequests(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, nil)
	s.install("testplugin", "testplugin")
	reg := s.mustRegister("testplugin", "testplugin")
	admin := s.tenant("acme", "testplugin")
	s.call(http.MethodPost, "/api/v1/testplugin/echo", admin, map[string]any{"name": "before"}).want(t, http.StatusOK, nil)

	const inFlight = 4 // /sleep answers after 30 s; the call deadline is 10 s
	results := make(chan result, inFlight)
	for range inFlight {
		go func() { results <- s.call(http.MethodGet, "/api/v1/testplugin/sleep", admin, nil) }()
	}
	s.waitInFlight(inFlight)
	kill(t, reg.PID)
	for range inFlight {
		select {
		case r := <-results:
			require.NoError(t, r.err, "no hung or broken connection")
			require.Contains(t, []int{http.StatusBadGateway, http.StatusServiceUnavailable}, r.status, r.String())
			r.problem(t, r.status, "plugin_unavailable")
		case <-time.After(5 * time.Second):
			t.Fatal("an in-flight request still hangs 5 s after its plugin was killed")
		}
	}
	s.healthy(admin)

	p := s.waitRestarted("testplugin", reg.PID)
	assert.False(t, alive(reg.PID))
	assert.NotEmpty(t, s.logs.find(`"plugin":"testplugin"`, "plugin process exited; restarting"))
	assert.GreaterOrEqual(t, p.Restarts, 1)
	assert.GreaterOrEqual(t, s.metric(`atrium_plugin_restarts_total{plugin="testplugin"}`), 1.0)
	assert.Equal(t, 1.0, s.metric(`atrium_plugin_state{plugin="testplugin",state="running"}`))
	for range 10 {
		s.call(http.MethodPost, "/api/v1/testplugin/echo", admin, map[string]any{"name": "after"}).want(t, http.StatusOK, nil)
	}
	s.healthy(admin)
}

// A plugin that does not answer within ATRIUM_PLUGIN_TIMEOUT (and its
// grace) costs its request a 504; the hung process is killed and replaced.
// A handler that gives up at its deadline costs its request the same 504,
// and its process, which answered, keeps running.
func TestPluginThatHangsIsTimedOutKilledAndRestarted(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, func(c *config.Config) { c.PluginTimeout = time.Second })
	s.install("testplugin", "testplugin")
	reg := s.mustRegister("testplugin", "testplugin")
	admin := s.tenant("acme", "testplugin")

	// /sleep gives up at the 1 s deadline, and its answer arrives within
	// the grace.
	start := time.Now()
	s.call(http.MethodGet, "/api/v1/testplugin/sleep", admin, nil).problem(t, http.StatusGatewayTimeout, "plugin_timeout")
	assert.Less(t, time.Since(start), 2*time.Second, "answered at the deadline, not at its grace's end")
	p := s.plugin("testplugin")
	assert.Equal(t, reg.PID, p.PID, "a plugin that answered is not killed")
	assert.Zero(t, p.Restarts)

	// /hang ignores the deadline, and makes no host call: the plugin never
	// answers, and is not waiting on the core.
	r := s.call(http.MethodGet, "/api/v1/testplugin/hang", admin, nil)
	r.problem(t, http.StatusGatewayTimeout, "plugin_timeout")
	s.healthy(admin)

	p = s.waitRestarted("testplugin", reg.PID)
	assert.False(t, alive(reg.PID), "the hung process was killed")
	assert.Equal(t, 1, p.Restarts)
	assert.NotEmpty(t, s.logs.find(`"plugin":"testplugin"`, "plugin did not answer in time; killing it"))
	assert.Equal(t, 2.0, s.metric(`atrium_plugin_calls_total{outcome="timeout",plugin="testplugin"}`))
	s.call(http.MethodPost, "/api/v1/testplugin/echo", admin, map[string]any{"name": "after"}).want(t, http.StatusOK, nil)
}

// A binary whose checksum no longer matches the catalog's is refused at its
// next launch: nothing runs, requests get 503, the core stays healthy, and
// the operator's upgrade (registering it again) brings it back.
func TestPluginWithAChangedBinaryIsRefused(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, nil)
	path := s.install("testplugin", "testplugin")
	reg := s.mustRegister("testplugin", "testplugin")
	admin := s.tenant("acme", "testplugin")

	// The same program with a byte more: it would run, but it is not the
	// binary the operator registered. Replaced the way a deploy would (a
	// running executable cannot be written in place).
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	tmp := filepath.Join(s.dir, ".testplugin.new")
	require.NoError(t, os.WriteFile(tmp, append(data, 0), 0o755))
	require.NoError(t, os.Rename(tmp, path))
	kill(t, reg.PID)

	p := s.waitFor("testplugin", 10*time.Second, "refused", func(p api.PluginStatus) bool {
		return p.State != "running" && strings.Contains(p.LastError, "checksum")
	})
	assert.Contains(t, []string{"restarting", "failed"}, p.State)
	assert.Zero(t, p.PID)
	assert.Empty(t, processesIn(t, s.dir), "nothing was launched from the plugin directory")
	s.call(http.MethodGet, "/api/v1/testplugin/missing/1", admin, nil).problem(t, http.StatusServiceUnavailable, "plugin_unavailable")
	s.healthy(admin)
	// Refused again at every retry, until the breaker stops trying; the
	// reason stays in view.
	p = s.waitFor("testplugin", 10*time.Second, "failed", func(p api.PluginStatus) bool { return p.State == "failed" })
	assert.Contains(t, p.LastError, "checksum")
	assert.Empty(t, processesIn(t, s.dir))

	// Registering the new binary is the upgrade: it runs again.
	again := s.mustRegister("testplugin", "testplugin")
	assert.NotEqual(t, reg.PID, again.PID)
	s.call(http.MethodGet, "/api/v1/testplugin/missing/1", admin, nil).problem(t, http.StatusNotFound, "not_found")

	// A file that is not in the plugin directory is refused at registration.
	for _, file := range []string{"nope", "../testplugin", "/bin/sh"} {
		status, raw, _ := s.register("other", file)
		assert.Equal(t, http.StatusUnprocessableEntity, status, file+": "+string(raw))
	}
	s.healthy(admin)
}

// A plugin that cannot start (it prints to stdout before Serve, has an
// invalid manifest, exits, or is another plugin) fails its registration
// cleanly with 422: nothing is registered, nothing keeps running, and the
// core is unaffected.
func TestPluginThatCannotStartIsNotRegistered(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, atriumdsUID) // its scripts run a binary in the test's private directory
	bin := s.install("testplugin", "testplugin-real")
	admin := s.tenant("acme")

	cases := []struct{ file, script, detail string }{
		{"stdout", "TESTPLUGIN_MODE=stdout exec '" + bin + "'", "nothing may print to stdout before sdk.Serve"},
		{"badname", "TESTPLUGIN_MODE=badname exec '" + bin + "'", "Bad-Name"},
		{"exits", "echo 'no configuration, giving up' >&2\nexit 1", "no configuration, giving up"},
	}
	for _, c := range cases {
		s.script(c.file, c.script)
		status, raw, _ := s.register("testplugin", c.file)
		require.Equal(t, http.StatusUnprocessableEntity, status, c.file+": "+string(raw))
		p := result{status: status, ctype: "application/problem+json", body: raw}.problem(t, status, "plugin_invalid")
		assert.Contains(t, p.Detail, c.detail, c.file)
	}
	// The notes binary is not the test plugin.
	s.install("notesplugin", "notes")
	status, raw, _ := s.register("testplugin", "notes")
	require.Equal(t, http.StatusUnprocessableEntity, status, string(raw))
	assert.Contains(t, string(raw), "notes")

	var list struct{ Items []api.PluginStatus }
	s.do(http.MethodGet, "/api/v1/plugins", s.op, nil, &list)
	assert.Empty(t, list.Items, "nothing was registered")
	assert.Empty(t, processesIn(t, s.dir), "no process was left running")
	s.healthy(admin)
	// The same binary, run properly, registers.
	s.mustRegister("testplugin", "testplugin-real")
}

// A plugin that keeps crashing opens the breaker: restarts pause and the
// plugin is reported failed, which takes the core out of readiness only when
// the plugin is required.
func TestPluginCrashLoopOpensTheBreaker(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, atriumdsUID) // its script runs a binary in the test's private directory
	bin := s.install("testplugin", "testplugin-real")
	marker := filepath.Join(s.dir, "broken")
	// Starts normally until the marker exists, then exits at every start.
	s.script("flaky", "if [ -e '"+marker+"' ]; then echo 'cannot start' >&2; exit 1; fi\nexec '"+bin+"'")
	var reg api.PluginStatus
	status, raw := s.do(http.MethodPost, "/api/v1/plugins", s.op, map[string]any{"name": "testplugin", "file": "flaky", "required": true}, &reg)
	require.Equal(t, http.StatusOK, status, string(raw))
	require.Equal(t, "running", reg.State)
	assert.True(t, reg.Required)
	admin := s.tenant("acme", "testplugin")
	s.healthy(admin)

	require.NoError(t, os.WriteFile(marker, nil, 0o600))
	kill(t, reg.PID)
	p := s.waitFor("testplugin", 10*time.Second, "failed", func(p api.PluginStatus) bool { return p.State == "failed" })
	assert.Contains(t, p.LastError, "crash loop")
	assert.Contains(t, p.LastError, "cannot start", "with the last start's own words")
	assert.Zero(t, p.PID)
	assert.GreaterOrEqual(t, p.Restarts, 1)
	assert.Equal(t, 1.0, s.metric(`atrium_plugin_state{plugin="testplugin",state="failed"}`))
	assert.Empty(t, processesIn(t, s.dir))

	s.call(http.MethodGet, "/api/v1/testplugin/missing/1", admin, nil).problem(t, http.StatusServiceUnavailable, "plugin_unavailable")
	require.Equal(t, http.StatusOK, s.me(admin), "the core's own routes work")
	status, body := get(t, s.base+"/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, status, "a required plugin is down")
	assert.Contains(t, body, `"plugins":{"status":"down"`)

	// The breaker holds: no new attempt while it is open.
	attempts := s.logs.count(`"plugin":"testplugin"`, "plugin did not start")
	assert.GreaterOrEqual(t, attempts, 4, "the starts that failed before the breaker opened")
	time.Sleep(time.Second)
	assert.Equal(t, attempts, s.logs.count(`"plugin":"testplugin"`, "plugin did not start"))
	assert.Equal(t, "failed", s.plugin("testplugin").State)
}

// Registration launches the binary once: the process it validated is the
// one that serves.
func TestRegistrationLaunchesOnce(t *testing.T) {
	t.Parallel()
	s := startPluginCore(t, atriumdsUID) // the process runs the file in the plugin directory
	s.install("testplugin", "testplugin")
	reg := s.mustRegister("testplugin", "testplugin")
	assert.Equal(t, 1, s.logs.count(`"msg":"plugin process launched"`, `"plugin":"testplugin"`), "one launch")
	assert.Equal(t, 1, s.logs.count(`"msg":"plugin process launched"`, fmt.Sprintf(`"pid":%d`, reg.PID)), "of the process that serves")
	assert.Equal(t, []int{reg.PID}, processesIn(t, s.dir))
}

// atriumdsUID runs plugins as atriumd's own uid even as root: for tests
// whose plugins are scripts that run files in the test's private (0700)
// directory, which a plugin's own uid may not enter.
func atriumdsUID(c *config.Config) { c.PluginUIDBase = 0 }
