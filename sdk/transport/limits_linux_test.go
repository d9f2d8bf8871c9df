//go:build linux

package transport_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atriumhq/atrium/sdk/transport"
)

// limitplugin misbehaves on request (sdk/internal/limitplugin); it is built
// next to the test plugin, in the directory TestMain removes.
var limitBuild struct {
	once sync.Once
	path string
	sum  []byte
	err  error
}

func limitPlugin(t *testing.T) (string, []byte) {
	t.Helper()
	limitBuild.once.Do(func() {
		limitBuild.path = filepath.Join(filepath.Dir(pluginPath), "limitplugin")
		out, err := exec.Command("go", "build", "-o", limitBuild.path, "github.com/atriumhq/atrium/sdk/internal/limitplugin").CombinedOutput()
		if err != nil {
			limitBuild.err = fmt.Errorf("build limitplugin: %w\n%s", err, out)
			return
		}
		limitBuild.sum, limitBuild.err = fileSHA256(limitBuild.path)
	})
	if limitBuild.err != nil {
		t.Fatal(limitBuild.err)
	}
	return limitBuild.path, limitBuild.sum
}

// runDir is a run directory for plugin uids: root's, reachable by all.
func runDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "atrium-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// limits are the limits of one test: when root, a uid base of its own far
// above any account, so that no other process shares the plugin's uid (and
// its RLIMIT_NPROC count).
func limits(t *testing.T, m transport.Mechanism) transport.Limits {
	l := transport.Limits{Mechanism: m}
	if os.Geteuid() == 0 {
		l.UIDBase, l.RunDir = 10_000_000+rand.IntN(100_000)*transport.MaxPluginUIDs, runDir(t)
	}
	return l
}

// launchLimited launches limitplugin under l, or skips when l names a
// mechanism this machine does not allow.
func launchLimited(t *testing.T, l transport.Limits, rec *logRecorder) *transport.Conn {
	t.Helper()
	path, sum := limitPlugin(t)
	if rec == nil {
		rec = &logRecorder{}
	}
	conn, err := transport.Launch(context.Background(), transport.Config{
		Name: "limitplugin", Path: path, SHA256: sum, Logger: rec.logger(), StartTimeout: 20 * time.Second,
		Env: []string{"PATH=" + os.Getenv("PATH")}, Limits: l,
	})
	if err != nil && strings.Contains(err.Error(), "apply "+string(l.Mechanism)+" limits") {
		t.Skipf("%s is not available on this machine: %v", l.Mechanism, err)
	}
	if err != nil {
		t.Fatalf("launch: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	got := conn.Limits()
	if got.Mechanism != l.Mechanism {
		t.Fatalf("limits applied by %s, want %s: %+v", got.Mechanism, l.Mechanism, got)
	}
	t.Logf("limits: %+v", *got)
	return conn
}

// get calls one of limitplugin's routes.
func get(t *testing.T, conn *transport.Conn, path string, query url.Values) map[string]any {
	t.Helper()
	resp, err := handle(t, conn, &transport.Request{Route: route(t, conn, "GET", path), Query: query}, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return decode(t, resp.Body)
}

// waitExit waits for the plugin's process to end and returns why it did.
func waitExit(t *testing.T, conn *transport.Conn, within time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(within); !conn.Exited(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("plugin %d still runs %s later", conn.Pid(), within)
		}
	}
	return conn.ExitReason()
}

var mechanisms = []transport.Mechanism{transport.MechanismCgroup2, transport.MechanismCgroup1, transport.MechanismRlimit}

// A plugin that allocates without bound is killed at its memory limit: by
// the kernel's OOM killer in its cgroup, by the Go runtime's fatal
// out-of-memory error under RLIMIT_DATA.
func TestMemoryHogIsKilled(t *testing.T) {
	for _, m := range mechanisms {
		t.Run(string(m), func(t *testing.T) {
			l := limits(t, m)
			l.MemoryBytes = 256 << 20
			conn := launchLimited(t, l, nil)
			get(t, conn, "/hog", nil)
			why := waitExit(t, conn, time.Minute)
			t.Logf("exit: %s", why)
			want := "OOM killer"
			if m == transport.MechanismRlimit {
				want = "Go runtime ran out of memory"
			}
			if !strings.Contains(why, want) {
				t.Errorf("exit reason %q, want it to say %q", why, want)
			}
		})
	}
}

// A plugin that spawns children without end gets no more processes and
// threads than its limit, and none of them outlives it.
func TestForkBombIsBounded(t *testing.T) {
	const limit = 64
	for _, m := range mechanisms {
		t.Run(string(m), func(t *testing.T) {
			if m == transport.MechanismRlimit && os.Geteuid() != 0 {
				t.Skip("RLIMIT_NPROC counts a uid's processes: it bounds a plugin only under a uid of its own, which needs root")
			}
			l := limits(t, m)
			l.Processes = limit
			conn := launchLimited(t, l, nil)
			secs := strconv.Itoa(100_000 + rand.IntN(800_000)) // marks this test's children
			get(t, conn, "/fork", url.Values{"secs": {secs}})
			most := 0
			for range 30 {
				most = max(most, len(sleepers(secs)))
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("at most %d children alive at once", most)
			if most == 0 || most > limit {
				t.Errorf("%d children at once, want 1 to %d", most, limit)
			}
			_ = conn.Close()
			deadline := time.Now().Add(10 * time.Second)
			for len(sleepers(secs)) > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("children outlived their plugin: %v", sleepers(secs))
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// sleepers are the live `sleep secs` processes.
func sleepers(secs string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.HasSuffix(string(cmdline), "sleep\x00"+secs+"\x00") && alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// A plugin spinning on every core gets no more than its CPU share under a
// cgroup; under rlimits the watchdog kills it, while it leaves a plugin
// within its share alone.
func TestSpinnerIsHeldToItsShare(t *testing.T) {
	const share = 0.2
	for _, m := range mechanisms {
		t.Run(string(m), func(t *testing.T) {
			l := limits(t, m)
			l.CPU, l.CPUWindow = share, 2*time.Second
			conn := launchLimited(t, l, nil)
			if m == transport.MechanismRlimit {
				time.Sleep(3 * l.CPUWindow)
				if conn.Exited() {
					t.Fatalf("an idle plugin was killed: %s", conn.ExitReason())
				}
			}
			get(t, conn, "/spin", nil)
			if m == transport.MechanismRlimit {
				why := waitExit(t, conn, 30*time.Second)
				t.Logf("exit: %s", why)
				if !strings.Contains(why, "CPU watchdog") {
					t.Errorf("exit reason %q, want the CPU watchdog", why)
				}
				return
			}
			time.Sleep(time.Second)
			rate := cpuRate(t, conn.Pid(), 3*time.Second)
			t.Logf("spinner used %.2f CPU", rate)
			if rate > share*1.5+0.1 {
				t.Errorf("spinner used %.2f CPU, above its share of %.1f", rate, share)
			}
			if conn.Exited() {
				t.Errorf("a throttled plugin exited: %s", conn.ExitReason())
			}
		})
	}
}

// cpuRate is the CPUs a process used over span.
func cpuRate(t *testing.T, pid int, span time.Duration) float64 {
	t.Helper()
	used := func() time.Duration {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		u, _ := strconv.Atoi(f[11])
		k, _ := strconv.Atoi(f[12])
		return time.Duration(u+k) * 10 * time.Millisecond
	}
	start, before := time.Now(), used()
	time.Sleep(span)
	return float64(used()-before) / float64(time.Since(start))
}

// Auto takes the first mechanism the machine allows, and every launch says
// which, in its log line and in Limits.
func TestAutoSaysWhichMechanismApplied(t *testing.T) {
	l := limits(t, transport.MechanismAuto)
	l.MemoryBytes, l.CPU, l.Processes = 512<<20, 1, 256
	path, sum := limitPlugin(t)
	rec := &logRecorder{}
	conn, err := transport.Launch(context.Background(), transport.Config{
		Name: "limitplugin", Path: path, SHA256: sum, Logger: rec.logger(), StartTimeout: 20 * time.Second, Limits: l,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := conn.Limits()
	t.Logf("auto chose %s: %+v", got.Mechanism, *got)
	if got.Mechanism == transport.MechanismAuto || got.Mechanism == transport.MechanismOff || got.MemoryBytes != l.MemoryBytes {
		t.Fatalf("limits = %+v", got)
	}
	if rec.find(`"msg":"plugin process launched"`, `"mechanism":"`+string(got.Mechanism)+`"`, `"memory_bytes":536870912`) == "" {
		t.Error("the launch log line does not tell the mechanism")
	}
	if os.Geteuid() != 0 && rec.find(`"level":"WARN"`, `"msg":"plugin limit not applied"`, "not root") == "" {
		t.Error("running as atriumd's uid is not logged as a warning")
	}
}

// A plugin that fails at start under limits (often before it could be
// confined) fails its launch as it does without them, with its own words.
func TestStartFailuresUnderLimits(t *testing.T) {
	for _, m := range []transport.Mechanism{transport.MechanismCgroup1, transport.MechanismRlimit} {
		t.Run(string(m), func(t *testing.T) {
			l := limits(t, m)
			l.MemoryBytes, l.CPU, l.Processes = 512<<20, 1, 256
			err := launchErr(t, transport.Config{Env: []string{"TESTPLUGIN_MODE=badname"}, StartTimeout: 10 * time.Second, Limits: l})
			if strings.Contains(err.Error(), "apply "+string(m)+" limits") {
				t.Skipf("%s is not available on this machine: %v", m, err)
			}
			if !strings.Contains(err.Error(), `name "Bad-Name" must match`) {
				t.Errorf("err = %v", err)
			}
			if l.RunDir != "" {
				for _, sub := range []string{"bin", "home"} {
					if left, _ := os.ReadDir(filepath.Join(l.RunDir, sub)); len(left) > 0 {
						t.Errorf("%s/%s keeps %d entries", l.RunDir, sub, len(left))
					}
				}
			}
		})
	}
}
