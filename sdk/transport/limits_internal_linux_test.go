//go:build linux

package transport

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The limits reach the cgroup files the kernel reads, in the kernel's
// units: checked on a directory standing in for cgroupfs.
func TestCgroupLimitFiles(t *testing.T) {
	l := Limits{MemoryBytes: 512 << 20, CPU: 1.5, Processes: 256}
	read := func(dir, file string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	v2 := t.TempDir()
	for _, f := range []string{"memory.swap.max", "memory.oom.group"} { // present where swap and OOM groups are
		if err := os.WriteFile(filepath.Join(v2, f), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeLimits2(v2, l); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"memory.max": "536870912", "memory.swap.max": "0",
		"memory.oom.group": "1", "pids.max": "256", "cpu.max": "150000 100000"} {
		if got := read(v2, file); got != want {
			t.Errorf("v2 %s = %q, want %q", file, got, want)
		}
	}

	v1 := &cgroups{dirs: map[string]string{"memory": t.TempDir(), "pids": t.TempDir(), "cpu": t.TempDir()}, fd: -1}
	if err := v1.writeLimits1(l); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ctrl, file, want string }{
		{"memory", "memory.limit_in_bytes", "536870912"},
		{"pids", "pids.max", "256"},
		{"cpu", "cpu.cfs_period_us", "100000"},
		{"cpu", "cpu.cfs_quota_us", "150000"},
	} {
		if got := read(v1.dirs[c.ctrl], c.file); got != c.want {
			t.Errorf("v1 %s = %q, want %q", c.file, got, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(v1.dirs["memory"], "memory.memsw.limit_in_bytes")); err == nil {
		t.Error("memsw written where swap accounting is absent")
	}
	if q := cpuQuota(0.001); q != 1000 {
		t.Errorf("the smallest quota is 1 ms, got %d µs", q)
	}
}

// A container mounts its cgroup hierarchy from below the hierarchy's root.
// A plugin's Go runtime is told its CPU share under every mechanism: under
// a cgroup it would read the share itself, but never go below 2.
func TestGoPluginsKeepToTheirCPUShare(t *testing.T) {
	for _, m := range []Mechanism{MechanismCgroup1, MechanismCgroup2, MechanismRlimit} {
		s := &sandbox{limits: Limits{Mechanism: m, MemoryBytes: 512 << 20, CPU: 1},
			applied: Applied{Mechanism: m, MemoryBytes: 512 << 20, CPU: 1, CPUWatchdog: m == MechanismRlimit}}
		if m != MechanismRlimit {
			s.cgroups = &cgroups{dirs: map[string]string{"cpu": t.TempDir()}, fd: -1}
		}
		cmd := exec.Command("/bin/true")
		if _, err := s.prepare(cmd); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(cmd.Env, "GOMAXPROCS=1") || !slices.Contains(cmd.Env, "GOMEMLIMIT=483183819") {
			t.Errorf("%s: environment %q, want GOMAXPROCS=1 and GOMEMLIMIT=483183819", m, cmd.Env)
		}
	}
}

func TestMountedAt(t *testing.T) {
	for _, c := range []struct{ mnt, root, path, want string }{
		{"/sys/fs/cgroup", "/", "/user.slice/atriumd.service", "/sys/fs/cgroup/user.slice/atriumd.service"},
		{"/sys/fs/cgroup/memory", "/docker/abc", "/docker/abc", "/sys/fs/cgroup/memory"},
		{"/sys/fs/cgroup/memory", "/docker/abc", "/docker/abc/sub", "/sys/fs/cgroup/memory/sub"},
		{"/sys/fs/cgroup/memory", "/docker/abc", "/docker/abcd", "/sys/fs/cgroup/memory/docker/abcd"},
	} {
		if got := mountedAt(c.mnt, c.root, c.path); got != c.want {
			t.Errorf("mountedAt(%q, %q, %q) = %q, want %q", c.mnt, c.root, c.path, got, c.want)
		}
	}
}

// Each plugin name keeps its number, names never share one, and numbers
// whose uid or gid is an account of the machine are skipped.
func TestPluginNumbers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "uids")
	number := func(name string, base int) int {
		t.Helper()
		n, err := pluginNumber(file, name, base)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	const base = 3_999_000 // no account has these uids
	a, b := number("alpha", base), number("beta", base)
	if a != 1 || b != 2 || number("alpha", base) != 1 {
		t.Errorf("numbers: alpha %d, beta %d", a, b)
	}
	if c := number("gamma", base); c != 3 {
		t.Errorf("gamma got %d, want 3", c)
	}

	accounts := filepath.Join(t.TempDir(), "uids")
	n, err := pluginNumber(accounts, "alpha", -1) // uid -1+1 = 0 is root
	if err != nil {
		t.Fatal(err)
	}
	if n < 2 || accountExists(n-1) {
		t.Errorf("number %d: uid %d is an account", n, n-1)
	}
}

func TestCPUTimeOfThisProcess(t *testing.T) {
	before, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until the kernel has counted 200 ms of CPU time to this
	// process (getrusage), however long a loaded machine takes to give it.
	start := cpuTime(t)
	for cpuTime(t)-start < 200*time.Millisecond {
	}
	after, err := readStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after.own-before.own < 150*time.Millisecond {
		t.Errorf("200 ms of CPU time counted as %v", after.own-before.own)
	}
	if after.ppid != os.Getppid() || after.start != before.start || after.start == 0 {
		t.Errorf("stat = %+v, want ppid %d and one start time", after, os.Getppid())
	}
}

// The CPU meter counts a child once: while it runs, and not again when
// its parent waits for it and its time moves into the parent's.
func TestCPUMeterCountsReapedChildrenOnce(t *testing.T) {
	// The subshell is a child that spins; sh waits for it, then sleeps.
	sh := exec.Command("sh", "-c", `(i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done); sleep 0.3`)
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sh.Wait() }()
	leader := sh.Process.Pid
	m := (&sandbox{}).cpuMeter(leader)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		m.sample()
		p, err := readStat(leader)
		if err != nil {
			t.Fatal(err)
		}
		if p.reaped == 0 {
			continue // the child still runs
		}
		used, total := m.sample(), p.own+p.reaped
		t.Logf("the meter counted %v; sh and its child used %v", used, total)
		if total < 100*time.Millisecond || used < total-5*clockTick || used > total+5*clockTick {
			t.Errorf("the meter counted %v of %v", used, total)
		}
		return
	}
	t.Fatal("the child never ended")
}

// What a killed atriumd left in the run directory and among the cgroups
// goes; what a live one uses stays.
func TestSweepRun(t *testing.T) {
	dir := t.TempDir()
	dead := 1 << 22 // above any pid the kernel hands out
	gone := filepath.Join(dir, "notes-"+strconv.Itoa(dead)+"-123")
	mine := filepath.Join(dir, runEntry("notes")+"456")
	for _, d := range []string{gone, mine} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	sweepRun(dir)
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("%s stays: %v", gone, err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("%s went: %v", mine, err)
	}

	cgroups := t.TempDir() // standing in for atriumd's cgroup
	gone = filepath.Join(cgroups, cgroupPrefix+"notes-"+strconv.Itoa(dead)+"-1")
	mine = filepath.Join(cgroups, fmt.Sprintf("%snotes-%d-1", cgroupPrefix, os.Getpid()))
	for _, d := range []string{gone, mine} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	sweep(cgroups)
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Errorf("cgroup %s stays: %v", gone, err)
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("cgroup %s went: %v", mine, err)
	}
}

// cpuTime is this process's CPU time as getrusage tells it.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
