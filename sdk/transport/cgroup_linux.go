//go:build linux

package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgroups are a plugin process's control groups: one directory under cgroup
// v2, one per controller under v1, each a child of atriumd's own cgroup,
// made for one launch and removed after it.
type cgroups struct {
	v2   bool
	dirs map[string]string // controller ("" under v2) -> directory
	fd   int               // v2: the directory, open for clone3 to start the process in; else -1
}

// cgroupControllers are the controllers plugin limits need.
var cgroupControllers = []string{"memory", "pids", "cpu"}

const (
	cgroupPrefix = "atrium-" // + plugin name, atriumd's pid, a sequence number
	cpuPeriod    = 100_000   // µs
)

var (
	cgroupSeq atomic.Int64
	// cgroupFDRefused is set once starting a process inside its cgroup
	// (clone3 with CLONE_INTO_CGROUP) has failed: later processes join
	// their cgroups in the launcher, before the plugin runs, instead.
	cgroupFDRefused atomic.Bool
)

func newCgroups(m Mechanism, name string, l Limits) (*cgroups, error) {
	own, err := ownCgroupDirs()
	if err != nil {
		return nil, err
	}
	leaf := fmt.Sprintf("%s%s-%d-%d", cgroupPrefix, name, os.Getpid(), cgroupSeq.Add(1))
	if m == MechanismCgroup2 {
		return newCgroup2(own, leaf, l)
	}
	return newCgroup1(own, leaf, l)
}

func cpuQuota(cpu float64) int64 { return max(1000, int64(math.Ceil(cpu*cpuPeriod))) }

func newCgroup1(own cgroupDirs, leaf string, l Limits) (*cgroups, error) {
	cg := &cgroups{dirs: map[string]string{}, fd: -1}
	needs := map[string]bool{"memory": l.MemoryBytes > 0, "pids": l.Processes > 0, "cpu": l.CPU > 0}
	for _, c := range cgroupControllers {
		if !needs[c] {
			continue
		}
		parent, ok := own.v1[c]
		if !ok {
			_ = cg.remove()
			return nil, fmt.Errorf("no cgroup v1 %s hierarchy is mounted", c)
		}
		sweep(parent)
		dir := filepath.Join(parent, leaf)
		if err := os.Mkdir(dir, 0o755); err != nil { //nolint:gosec // cgroupfs: the mode is the usual one
			_ = cg.remove()
			return nil, fmt.Errorf("create the plugin's %s cgroup: %w", c, err)
		}
		cg.dirs[c] = dir
	}
	if err := cg.writeLimits1(l); err != nil {
		_ = cg.remove()
		return nil, err
	}
	return cg, nil
}

func (cg *cgroups) writeLimits1(l Limits) error {
	if dir, ok := cg.dirs["memory"]; ok {
		v := strconv.FormatInt(l.MemoryBytes, 10)
		if err := writeCgroup(dir, "memory.limit_in_bytes", v); err != nil {
			return fmt.Errorf("apply memory limit: %w", err)
		}
		if err := writeIfPresent(dir, "memory.memsw.limit_in_bytes", v); err != nil { // no swap past it
			return fmt.Errorf("apply memory limit: %w", err)
		}
	}
	if dir, ok := cg.dirs["pids"]; ok {
		if err := writeCgroup(dir, "pids.max", strconv.Itoa(l.Processes)); err != nil {
			return fmt.Errorf("apply process limit: %w", err)
		}
	}
	if dir, ok := cg.dirs["cpu"]; ok {
		err := writeCgroup(dir, "cpu.cfs_period_us", strconv.Itoa(cpuPeriod))
		if err == nil {
			err = writeCgroup(dir, "cpu.cfs_quota_us", strconv.FormatInt(cpuQuota(l.CPU), 10))
		}
		if err != nil {
			return fmt.Errorf("apply CPU limit: %w", err)
		}
	}
	return nil
}

// prepare has the process start inside its cgroup (cgroup v2 only).
func (cg *cgroups) prepare(attr *syscall.SysProcAttr) {
	if cg.fd >= 0 {
		attr.UseCgroupFD, attr.CgroupFD = true, cg.fd
	}
}

// joinDirs are the cgroups the launcher moves into before it executes the
// plugin: all of them, unless the process starts inside its cgroup.
func (cg *cgroups) joinDirs() []string {
	if cg.fd >= 0 {
		return nil
	}
	return slices.Collect(maps.Values(cg.dirs))
}

// started closes the cgroup directory the process started in.
func (cg *cgroups) started() {
	if cg.fd >= 0 {
		_ = unix.Close(cg.fd)
		cg.fd = -1
	}
}

// kill ends every process left in the cgroups but main, the plugin's own
// process, which has exited and waits to be reaped.
func (cg *cgroups) kill(main int) {
	for _, dir := range cg.dirs {
		if cg.v2 && writeCgroup(dir, "cgroup.kill", "1") == nil {
			continue
		}
		for range 200 { // a fork bomb's children may still be forking
			left := slices.DeleteFunc(cgroupProcs(dir), func(p int) bool { return p == main })
			if len(left) == 0 {
				break
			}
			for _, p := range left {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// remove deletes the cgroups; one whose last process was just reaped may be
// busy a moment longer.
func (cg *cgroups) remove() error {
	if cg.fd >= 0 {
		_ = unix.Close(cg.fd)
		cg.fd = -1
	}
	var errs []error
	for _, dir := range cg.dirs {
		var err error
		for range 200 {
			if err = os.Remove(dir); err == nil || errors.Is(err, fs.ErrNotExist) {
				err = nil
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// oomKills is how many processes the kernel's OOM killer ended in the
// memory cgroup.
func (cg *cgroups) oomKills() int {
	dir, file := cg.dirs["memory"], "memory.oom_control"
	if cg.v2 {
		dir, file = cg.dirs[""], "memory.events"
	}
	if dir == "" {
		return 0
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "oom_kill "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// sweep removes the cgroups of plugins whose atriumd is gone (killed
// before it could remove them).
func sweep(parent string) {
	dirs, _ := filepath.Glob(filepath.Join(parent, cgroupPrefix+"*"))
	for _, dir := range dirs {
		parts := strings.Split(filepath.Base(dir), "-")
		if len(parts) != 4 || !gonePID(parts[2]) {
			continue
		}
		for _, p := range cgroupProcs(dir) {
			_ = syscall.Kill(p, syscall.SIGKILL)
		}
		_ = os.Remove(dir)
	}
}
