package gcpolicy

import (
	"math"
	"os"
	"runtime/debug"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// restore puts the process's collector settings back after a test.
func restore(t *testing.T) {
	t.Helper()
	gogc := debug.SetGCPercent(100)
	debug.SetGCPercent(gogc)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(gogc)
		debug.SetMemoryLimit(limit)
	})
}

// unset removes an environment variable for the test's duration.
func unset(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		t.Setenv(n, "") // registers the restore
		if err := os.Unsetenv(n); err != nil {
			t.Fatal(err)
		}
	}
}

func TestApplyDefaultsAndLimitsBelowTheContainer(t *testing.T) {
	restore(t)
	unset(t, "GOGC", "GOMEMLIMIT", "AUTOMEMLIMIT")
	debug.SetGCPercent(100)

	p, err := apply(memlimit.Limit(512 << 20))
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{GOGC: DefaultGOGC, GOGCFrom: "atriumd", MemoryLimit: 512 << 20 / 10 * 9, MemoryLimitFrom: "cgroup"}
	if p.GOGC != want.GOGC || p.GOGCFrom != want.GOGCFrom || p.MemoryLimitFrom != want.MemoryLimitFrom ||
		math.Abs(float64(p.MemoryLimit-want.MemoryLimit)) > 1 {
		t.Errorf("policy %+v, want %+v", p, want)
	}
	if got := debug.SetGCPercent(100); got != DefaultGOGC {
		t.Errorf("runtime GOGC %d, want %d", got, DefaultGOGC)
	}
	if got := debug.SetMemoryLimit(-1); got != p.MemoryLimit {
		t.Errorf("runtime memory limit %d, want %d", got, p.MemoryLimit)
	}
}

func TestApplyLeavesTheEnvironmentsChoices(t *testing.T) {
	restore(t)
	// The runtime read these at start; here they are set by hand as it would.
	t.Setenv("GOGC", "50")
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetGCPercent(50)
	debug.SetMemoryLimit(1 << 30)

	p, err := apply(memlimit.Limit(512 << 20))
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{GOGC: 50, GOGCFrom: "GOGC", MemoryLimit: 1 << 30, MemoryLimitFrom: "GOMEMLIMIT"}
	if p != want {
		t.Errorf("policy %+v, want %+v", p, want)
	}
	if got := debug.SetGCPercent(100); got != 50 {
		t.Errorf("runtime GOGC %d, want 50", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("runtime memory limit %d, want 1 GiB", got)
	}
}

func TestApplyWithoutAContainerLimit(t *testing.T) {
	for name, limitOf := range map[string]memlimit.Provider{
		"unlimited cgroup": func() (uint64, error) { return 0, memlimit.ErrNoLimit },
		"no cgroup":        func() (uint64, error) { return 0, memlimit.ErrNoCgroup },
		"not Linux":        func() (uint64, error) { return 0, memlimit.ErrCgroupsNotSupported },
	} {
		t.Run(name, func(t *testing.T) {
			restore(t)
			unset(t, "GOGC", "GOMEMLIMIT", "AUTOMEMLIMIT")
			debug.SetMemoryLimit(math.MaxInt64)
			p, err := apply(limitOf)
			if err != nil {
				t.Fatal(err)
			}
			if p.MemoryLimit != 0 || p.MemoryLimitFrom != "none" {
				t.Errorf("policy %+v, want no memory limit", p)
			}
			if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
				t.Errorf("runtime memory limit %d, want none", got)
			}
		})
	}
}

func TestApplyReportsAnUnreadableLimitAndStillSetsGOGC(t *testing.T) {
	restore(t)
	unset(t, "GOGC", "GOMEMLIMIT", "AUTOMEMLIMIT")
	debug.SetMemoryLimit(math.MaxInt64)
	p, err := apply(func() (uint64, error) { return 0, os.ErrPermission })
	if err == nil {
		t.Fatal("no error for an unreadable limit")
	}
	if p.GOGC != DefaultGOGC || p.MemoryLimitFrom != "none" {
		t.Errorf("policy %+v, want GOGC %d and no memory limit", p, DefaultGOGC)
	}
}
