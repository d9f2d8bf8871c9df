package app_test

import (
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/atriumhq/atrium/core/config"
)

// installLimitPlugin builds limitplugin (sdk/internal: it misbehaves on
// request) into the plugin directory under each of names, the names of the
// plugins it then is.
func (s *pluginServer) installLimitPlugin(names ...string) {
	s.t.Helper()
	bin := filepath.Join(s.t.TempDir(), "limitplugin")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/atriumhq/atrium/sdk/internal/limitplugin").CombinedOutput()
	require.NoError(s.t, err, string(out))
	data, err := os.ReadFile(bin)
	require.NoError(s.t, err)
	for _, name := range names {
		require.NoError(s.t, os.WriteFile(filepath.Join(s.dir, name), data, 0o755))
	}
}

// A plugin that blows its memory limit is killed and restarted like a
// crash, and says why; the core and the other plugins serve on. As root,
// each plugin runs under a uid of its own and cannot read atriumd's
// environment.
func TestPluginOverItsMemoryLimitIsRestarted(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("plugin limits are enforced on Linux only")
	}
	t.Parallel()
	for _, mechanism := range []string{"auto", "rlimit"} {
		t.Run(mechanism, func(t *testing.T) {
			t.Parallel()
			memoryHogRestarts(t, mechanism)
		})
	}
}

func memoryHogRestarts(t *testing.T, mechanism string) {
	const memory = 256 << 20
	run, err := os.MkdirTemp("", "atrium-run-") // reachable by plugin uids, unlike t.TempDir()
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(run) })
	require.NoError(t, os.Chmod(run, 0o755))
	s := startPluginCore(t, func(c *config.Config) {
		c.PluginLimits, c.PluginMemoryBytes = mechanism, memory
		// A run directory and uids of this test's own: no other test's
		// plugin shares them.
		c.PluginRunDir, c.PluginUIDBase = run, 10_000_000+rand.IntN(100_000)*1000
	})
	s.installLimitPlugin("limitplugin", "bystander")
	hog := s.mustRegister("limitplugin", "limitplugin")
	other := s.mustRegister("bystander", "bystander")
	admin := s.tenant("acme", "limitplugin", "bystander")

	require.NotNil(t, hog.Limits, "the plugins API shows the limits")
	t.Logf("limits: %+v", *hog.Limits)
	if mechanism == "auto" {
		assert.Contains(t, []string{"cgroup2", "cgroup1", "rlimit"}, hog.Limits.Mechanism)
	} else {
		assert.Equal(t, mechanism, hog.Limits.Mechanism)
	}
	assert.Equal(t, int64(memory), hog.Limits.MemoryBytes)
	assert.Equal(t, 1.0, hog.Limits.CPU)
	assert.Equal(t, 256, hog.Limits.Processes)
	assert.NotEmpty(t, s.logs.find(`"msg":"plugin process launched"`, `"plugin":"limitplugin"`,
		`"mechanism":"`+hog.Limits.Mechanism+`"`, `"memory_bytes":`+strconv.Itoa(memory)))
	if os.Geteuid() == 0 {
		assert.True(t, hog.Limits.OwnUID)
		assert.Empty(t, hog.Limits.Warnings)
		assert.NotEqual(t, hog.Limits.UID, other.Limits.UID, "each plugin has a uid of its own")
		var peek struct {
			UID          int    `json:"uid"`
			PID          int    `json:"pid"`
			EnvironError string `json:"environ_error"`
		}
		s.call(http.MethodGet, "/api/v1/limitplugin/peek", admin, nil).want(t, http.StatusOK, &peek)
		assert.Equal(t, hog.Limits.UID, peek.UID)
		assert.Equal(t, os.Getpid(), peek.PID, "the plugin's parent is atriumd")
		assert.Contains(t, peek.EnvironError, "permission denied", "atriumd's environment is out of the plugin's reach")
	} else {
		assert.False(t, hog.Limits.OwnUID)
		assert.Contains(t, strings.Join(hog.Limits.Warnings, "; "), "not root")
	}

	s.call(http.MethodGet, "/api/v1/bystander/ping", admin, nil).want(t, http.StatusOK, nil)
	s.call(http.MethodGet, "/api/v1/limitplugin/hog", admin, nil).want(t, http.StatusAccepted, nil)
	p := s.waitRestarted("limitplugin", hog.PID)
	t.Logf("last exit: %s", p.LastExit)
	assert.False(t, alive(hog.PID))
	assert.GreaterOrEqual(t, p.Restarts, 1)
	assert.Regexp(t, "OOM killer|Go runtime ran out of memory", p.LastExit)
	assert.NotEmpty(t, s.logs.find(`"plugin":"limitplugin"`, "plugin process exited; restarting", "memory"))
	assert.Equal(t, 1.0, s.metric(`atrium_plugin_restarts_total{plugin="limitplugin"}`))

	// The core and the other plugin carried on; the restarted one serves.
	s.healthy(admin)
	assert.Equal(t, other.PID, s.plugin("bystander").PID, "the other plugin was untouched")
	assert.Zero(t, s.plugin("bystander").Restarts)
	var ping struct{ PID int }
	s.call(http.MethodGet, "/api/v1/bystander/ping", admin, nil).want(t, http.StatusOK, &ping)
	assert.Equal(t, other.PID, ping.PID)
	s.call(http.MethodGet, "/api/v1/limitplugin/ping", admin, nil).want(t, http.StatusOK, nil)
	assert.Equal(t, hog.Limits, p.Limits)
}
