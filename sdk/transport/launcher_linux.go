//go:build linux

package transport

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A confined plugin starts as a launcher: the binary that launches it
// (atriumd) executed again, with launcherEnv set. The launcher joins the
// plugin's cgroups, takes the plugin's uid and sets its rlimits on itself,
// then executes the plugin in its place: same pid, same stdin, stdout and
// stderr (go-plugin's handshake goes through), and every limit already in
// force at the plugin's first instruction. No thread of atriumd ever takes
// the plugin's uid, and nothing the plugin forks escapes a limit.
const (
	launcherEnv = "ATRIUM_PLUGIN_LAUNCH" // the launchPlan, as JSON
	selfExe     = "/proc/self/exe"       // the running binary, even if its file was replaced
	// launcherFailed is the launcher's exit status when it could not
	// confine itself or execute the plugin; it says why on stderr.
	launcherFailed = 125
)

// launchPlan is what the launcher does, in this order, before it executes
// the plugin.
type launchPlan struct {
	// Join are the cgroup directories to move into, while still atriumd's
	// uid: the plugin's uid may not write their cgroup.procs.
	Join []string `json:"join,omitempty"`
	// UID and GID, when not 0, are the plugin's own ids, taken with no
	// supplementary groups and, as every id changes from root, no
	// capabilities.
	UID int `json:"uid,omitempty"`
	GID int `json:"gid,omitempty"`
	// DataBytes and Processes are RLIMIT_DATA and RLIMIT_NPROC when not 0.
	// Lowering one's own limits needs no capability.
	DataBytes int64 `json:"data_bytes,omitempty"`
	Processes int   `json:"processes,omitempty"`
	// Path is the plugin binary: the file whose checksum was checked.
	Path string `json:"path"`
}

func (p launchPlan) needed() bool {
	return len(p.Join) > 0 || p.UID != 0 || p.DataBytes > 0 || p.Processes > 0
}

// The launcher runs in a package initialiser: every binary that can launch
// a plugin (atriumd, the test binaries that launch plugins) imports this
// package, so each is its own launcher without a hook in its main, and the
// launcher runs before the program's main.
// Whoever sets launcherEnv gains nothing: the launcher can only lower its
// own limits, give up root and execute a file.
func init() {
	if plan := os.Getenv(launcherEnv); plan != "" {
		err := runLauncher(plan)
		fmt.Fprintf(os.Stderr, "atrium plugin launcher: %v\n", err)
		os.Exit(launcherFailed)
	}
}

// runLauncher confines this process as plan says and executes the plugin;
// it returns only on failure.
func runLauncher(plan string) error {
	var p launchPlan
	if err := json.Unmarshal([]byte(plan), &p); err != nil {
		return fmt.Errorf("read the launch plan: %w", err)
	}
	if err := os.Unsetenv(launcherEnv); err != nil {
		return fmt.Errorf("clear the launch plan: %w", err)
	}
	// Everything execve needs is made now: under the memory limit this
	// process may no longer map memory (a race-detector build maps far
	// more than any limit), so nothing after the limits allocates.
	path, err := syscall.BytePtrFromString(p.Path)
	if err != nil {
		return fmt.Errorf("plugin path: %w", err)
	}
	argv, err := syscall.SlicePtrFromStrings(os.Args)
	if err != nil {
		return fmt.Errorf("plugin arguments: %w", err)
	}
	envv, err := syscall.SlicePtrFromStrings(os.Environ())
	if err != nil {
		return fmt.Errorf("plugin environment: %w", err)
	}
	// The parent-death signal is this thread's, and changing uids clears
	// it: it is set again on this thread, which executes the plugin.
	runtime.LockOSThread()
	parent := os.Getppid()

	for _, dir := range p.Join {
		if err := writeCgroup(dir, "cgroup.procs", strconv.Itoa(os.Getpid())); err != nil {
			return fmt.Errorf("join the plugin's cgroup: %w", err)
		}
	}
	if p.UID != 0 {
		if err := becomeUser(p.UID, p.GID); err != nil {
			return err
		}
	}
	if err := p.setRlimits(); err != nil {
		return err
	}
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("set the parent-death signal: %w", err)
	}
	if os.Getppid() != parent {
		return errors.New("atriumd exited during the launch")
	}
	_, _, errno := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(path)), //nolint:gosec // execve's arguments, made above
		uintptr(unsafe.Pointer(&argv[0])), uintptr(unsafe.Pointer(&envv[0]))) //nolint:gosec // as above
	return fmt.Errorf("execute %s: %w", p.Path, errno)
}

// becomeUser gives every thread of the process uid and gid as its real,
// effective and saved ids, and no supplementary groups. Go's setresuid and
// setresgid change all threads, so none stays root.
func becomeUser(uid, gid int) error {
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("drop supplementary groups: %w", err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("take the plugin's gid %d: %w", gid, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("take the plugin's uid %d: %w", uid, err)
	}
	return nil
}
