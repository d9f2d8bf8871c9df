package transport

import (
	"fmt"
	"log/slog"
	"time"
)

// Mechanism is what enforces a plugin process's resource limits.
type Mechanism string

// Mechanisms. Auto takes the first of cgroup v2, cgroup v1 and rlimits that
// this machine allows.
const (
	MechanismAuto    Mechanism = "auto"
	MechanismCgroup2 Mechanism = "cgroup2"
	MechanismCgroup1 Mechanism = "cgroup1"
	// MechanismRlimit bounds memory with RLIMIT_DATA and processes with
	// RLIMIT_NPROC, and holds CPU with a watchdog (RLIMIT_CPU counts
	// seconds since the start and would kill every long-running plugin).
	MechanismRlimit Mechanism = "rlimit"
	MechanismOff    Mechanism = "off"
)

// ParseMechanism reads a mechanism's name.
func ParseMechanism(s string) (Mechanism, error) {
	switch m := Mechanism(s); m {
	case MechanismAuto, MechanismCgroup2, MechanismCgroup1, MechanismRlimit, MechanismOff:
		return m, nil
	}
	return "", fmt.Errorf("plugin limits %q: want auto, cgroup2, cgroup1, rlimit or off", s)
}

// MaxPluginUIDs is how many uids from Limits.UIDBase plugins may take.
const MaxPluginUIDs = 1000

// DefaultCPUWindow is the span over which the rlimit mechanism's watchdog
// measures a plugin's CPU use.
const DefaultCPUWindow = 10 * time.Second

// Limits bound a launched plugin process and choose who it runs as. The zero
// value applies nothing: the process runs as the core's uid, unbounded.
type Limits struct {
	// Mechanism is how to enforce the limits below; "" is MechanismOff.
	Mechanism Mechanism
	// MemoryBytes, CPU (in CPUs) and Processes (processes and threads
	// together, as the kernel counts them) bound the process and its
	// children; 0 leaves one unbounded.
	MemoryBytes int64
	CPU         float64
	Processes   int
	// UIDBase, when the core runs as root, gives each plugin a uid and gid
	// of its own: UIDBase plus the plugin's number (1 to MaxPluginUIDs),
	// assigned on its first launch and kept in RunDir. 0 keeps the core's
	// uid.
	UIDBase int
	// RunDir holds, for plugins with a uid of their own, the uid
	// assignments, the verified copy of each binary being launched, each
	// process's home and its sockets, and the locks that tell whether a
	// uid is in use. It must be owned by root and traversable by every
	// user.
	RunDir string
	// CPUWindow is the span over which the rlimit mechanism's watchdog
	// measures CPU use. Default: DefaultCPUWindow.
	CPUWindow time.Duration
}

// Applied is what confines one plugin process: the mechanism, the limits
// in force, its uid and gid, and every limit asked for that could not be
// applied, with why.
type Applied struct {
	Mechanism   Mechanism
	MemoryBytes int64
	CPU         float64
	// CPUWatchdog means CPU is held by killing a plugin that used more
	// than its share over a window, not by the scheduler.
	CPUWatchdog bool
	Processes   int
	UID, GID    int
	// OwnUID is true when the process runs under a uid of its own rather
	// than the core's.
	OwnUID   bool
	Warnings []string
}

// LogValue logs the limits as one group.
func (a Applied) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("mechanism", string(a.Mechanism)),
		slog.Int64("memory_bytes", a.MemoryBytes),
		slog.Float64("cpu", a.CPU),
		slog.Int("processes", a.Processes),
		slog.Int("uid", a.UID),
		slog.Int("gid", a.GID),
		slog.Bool("own_uid", a.OwnUID),
	}
	if a.CPUWatchdog {
		attrs = append(attrs, slog.Bool("cpu_watchdog", true))
	}
	return slog.GroupValue(attrs...)
}

func (a *Applied) warn(format string, args ...any) {
	a.Warnings = append(a.Warnings, fmt.Sprintf(format, args...))
}

// Limits reports what confines the plugin's process; nil for a plugin
// attached to this process.
func (c *Conn) Limits() *Applied {
	l, ok := c.proc.(*launched)
	if !ok {
		return nil
	}
	a := l.run.box.applied
	a.Warnings = append([]string(nil), a.Warnings...)
	return &a
}

// ExitReason says why the plugin's process ended: a limit that killed it,
// or its exit status. It is empty while the process runs, and for an
// attached plugin.
func (c *Conn) ExitReason() string {
	l, ok := c.proc.(*launched)
	if !ok || !l.exited() {
		return ""
	}
	return l.run.exitReason()
}
