// Command limitplugin is the plugin the tests of plugin process limits
// launch. Its routes start a misbehaviour in the background and answer at
// once: /hog allocates without bound, /fork spawns `sleep` children without
// end, /spin spins on every core, /setsid leaves a `sleep` behind in a
// session of its own, /spinchild spins in a child process it never waits
// for. /peek reports who the process runs as, the limits it had when its
// first code ran, and what it can reach of another process (atriumd's, by
// default). It is named after its file, so that one binary serves as
// several plugins. It is built by the tests, never shipped.
package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/atriumhq/atrium/sdk"
)

// childEnv makes the binary a spinning child instead of a plugin.
const childEnv = "LIMITPLUGIN_CHILD"

// atStart is what confined the process when its first code ran, before
// the host could have done anything more to it.
var atStart = startState()

func startState() map[string]string {
	limits, _ := os.ReadFile("/proc/self/limits")
	cgroup, _ := os.ReadFile("/proc/self/cgroup")
	data := ""
	if m := regexp.MustCompile(`Max data size\s+(\S+)`).FindSubmatch(limits); m != nil {
		data = string(m[1])
	}
	return map[string]string{"data_limit": data, "cgroup": string(cgroup)}
}

func main() {
	if os.Getenv(childEnv) == "spin" {
		spinForever()
	}
	name := filepath.Base(os.Args[0])
	perm := name + ".probe.run"
	sdk.Serve(sdk.Plugin{
		Name:        name,
		Version:     "1.0.0",
		Permissions: []sdk.Permission{{Name: perm, Description: "Run a misbehaviour", Roles: []string{"admin"}}},
		Routes: []sdk.Route{
			{Method: http.MethodGet, Path: "/ping", Permission: perm, Handler: ping},
			{Method: http.MethodGet, Path: "/hog", Permission: perm, Handler: hog},
			{Method: http.MethodGet, Path: "/fork", Permission: perm, Handler: forks},
			{Method: http.MethodGet, Path: "/spin", Permission: perm, Handler: spin},
			{Method: http.MethodGet, Path: "/setsid", Permission: perm, Handler: setsid},
			{Method: http.MethodGet, Path: "/spinchild", Permission: perm, Handler: spinChild},
			{Method: http.MethodGet, Path: "/peek", Permission: perm, Handler: peek},
		},
	})
}

func ping(c *sdk.Context) error {
	return c.JSON(http.StatusOK, map[string]int{"pid": os.Getpid()})
}

// chunks holds what hog allocates, so none of it is ever collected.
var chunks [][]byte

// hog allocates 8 MiB at a time and writes every page, so each one is
// really in memory, until something stops it.
func hog(c *sdk.Context) error {
	go func() {
		for {
			b := make([]byte, 8<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			chunks = append(chunks, b)
		}
	}()
	return c.JSON(http.StatusAccepted, map[string]bool{"started": true})
}

// forks starts `sleep <secs>` children, never waiting for them, and keeps
// trying when the kernel refuses, as a fork bomb does. ?secs= marks the
// children so a test can count them.
func forks(c *sdk.Context) error {
	secs := c.Query("secs")
	if _, err := strconv.Atoi(secs); err != nil {
		return sdk.Invalid(sdk.FieldError{Field: "secs", Message: "want a number of seconds"})
	}
	go func() {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
			if err := exec.Command("sleep", secs).Start(); err != nil {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()
	return c.JSON(http.StatusAccepted, map[string]bool{"started": true})
}

// spin keeps twice as many goroutines as there are cores busy.
func spin(c *sdk.Context) error {
	spinners()
	return c.JSON(http.StatusAccepted, map[string]bool{"started": true})
}

func spinners() {
	for range 2 * runtime.NumCPU() {
		go func() {
			for n := 0; ; n++ {
				if n < 0 {
					runtime.Gosched()
				}
			}
		}()
	}
}

func spinForever() {
	spinners()
	select {}
}

// setsid starts `sleep <secs>` in a session of its own, out of the
// plugin's process group, and never waits for it.
func setsid(c *sdk.Context) error {
	secs := c.Query("secs")
	if _, err := strconv.Atoi(secs); err != nil {
		return sdk.Invalid(sdk.FieldError{Field: "secs", Message: "want a number of seconds"})
	}
	cmd := exec.Command("sleep", secs)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]int{"pid": cmd.Process.Pid})
}

// spinChild starts a copy of this binary that spins on every core, and
// never waits for it, so its CPU time is never the plugin's own;
// ?setsid=1 puts it in a session of its own.
func spinChild(c *sdk.Context) error {
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), childEnv+"=spin")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: c.Query("setsid") == "1"}
	if err := cmd.Start(); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]int{"pid": cmd.Process.Pid})
}

// peek reports the process's uid, gid, groups, working directory and
// TMPDIR (and whether it can write there), its data limit and cgroups when
// its first code ran, and what it gets reading the
// environment of, and signalling, process ?pid= (default: its parent).
func peek(c *sdk.Context) error {
	pid := os.Getppid()
	if p := c.Query("pid"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return sdk.Invalid(sdk.FieldError{Field: "pid", Message: "want a process ID"})
		}
		pid = n
	}
	groups, _ := os.Getgroups()
	cwd, _ := os.Getwd()
	out := map[string]any{
		"uid": os.Getuid(), "gid": os.Getgid(), "groups": groups, "cwd": cwd, "tmpdir": os.TempDir(),
		"pid": pid, "environ_error": "", "signal_error": "", "tmp_writable": false, "at_start": atStart,
	}
	if f, err := os.CreateTemp("", "peek-"); err == nil {
		out["tmp_writable"] = true
		_ = f.Close()
		_ = os.Remove(f.Name())
	}
	if _, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ"); err != nil {
		out["environ_error"] = err.Error()
	}
	if err := syscall.Kill(pid, 0); err != nil {
		out["signal_error"] = err.Error()
	}
	return c.JSON(http.StatusOK, out)
}
