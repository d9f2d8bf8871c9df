//go:build linux

package transport

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/hashicorp/go-plugin"
	"golang.org/x/sys/unix"
)

// sandbox confines one plugin process: planned before its start, applied
// as it starts, released once it has exited.
type sandbox struct {
	name    string
	limits  Limits
	log     *slog.Logger
	applied Applied
	notUsed []string // the mechanisms auto passed over, and why

	cgroups *cgroups
	hold    *uidHold // own uid only
	run     string   // the run directory, own uid only
	home    string   // the process's home and TMPDIR, own uid only
	sockets string   // where go-plugin makes its socket directory
	binary  string   // the verified copy that runs, own uid only

	watching bool
	exited   chan struct{} // closed once the process has exited and its descendants are killed

	mu        sync.Mutex
	killedFor string
	oomKills  int
	released  sync.Once
}

func newSandbox(name string, l Limits, log *slog.Logger) (*sandbox, error) {
	s := &sandbox{name: name, limits: l, log: log, exited: make(chan struct{}),
		applied: Applied{Mechanism: MechanismOff, UID: os.Getuid(), GID: os.Getgid()}}
	if l != (Limits{}) {
		if err := s.planIdentity(); err != nil {
			s.release()
			return nil, fmt.Errorf("plugin uid: %w", err)
		}
		if err := s.planLimits(); err != nil {
			s.release()
			return nil, err
		}
	}
	if s.sockets == "" {
		sweepSocketParents()
		var err error
		if s.sockets, err = privateSocketParent(); err != nil {
			s.release()
			return nil, err
		}
	}
	return s, nil
}

// planIdentity gives the plugin a uid of its own when the core is root.
func (s *sandbox) planIdentity() error {
	switch {
	case os.Geteuid() != 0:
		s.applied.warn("uid: atriumd is not root, so the plugin runs as atriumd's uid %d", os.Getuid())
		return nil
	case s.limits.UIDBase == 0:
		s.applied.warn("uid: plugin uids are turned off, so the plugin runs as root")
		return nil
	}
	run, err := prepareRunDir(s.limits.RunDir)
	if err != nil {
		return err
	}
	n, err := pluginNumber(filepath.Join(run, "uids"), s.name, s.limits.UIDBase)
	if err != nil {
		return err
	}
	id := s.limits.UIDBase + n
	if s.hold, err = holdUID(filepath.Join(run, "live"), id); err != nil {
		return err
	}
	s.run = run
	if s.home, err = makeHome(filepath.Join(run, "home"), s.name, id); err != nil {
		return err
	}
	if s.sockets, err = makeSocketParent(filepath.Join(run, "sock"), s.name); err != nil {
		return err
	}
	s.applied.UID, s.applied.GID, s.applied.OwnUID = id, id, true
	return nil
}

// planLimits picks the mechanism and prepares what it needs before the
// start. A mechanism asked for by name that this machine does not allow is
// an error; auto falls through to the next.
func (s *sandbox) planLimits() error {
	l := s.limits
	asked := l.MemoryBytes > 0 || l.CPU > 0 || l.Processes > 0
	if l.Mechanism == "" || l.Mechanism == MechanismOff {
		if asked {
			s.applied.warn("limits are turned off: memory, CPU and processes are unbounded")
		}
		return nil
	}
	if !asked {
		return nil
	}
	tries := []Mechanism{l.Mechanism}
	if l.Mechanism == MechanismAuto {
		tries = []Mechanism{MechanismCgroup2, MechanismCgroup1, MechanismRlimit}
	}
	for _, m := range tries {
		err := s.use(m)
		if err == nil {
			return nil
		}
		if l.Mechanism != MechanismAuto {
			return fmt.Errorf("apply %s limits: %w", m, err)
		}
		s.notUsed = append(s.notUsed, fmt.Sprintf("%s: %v", m, err))
	}
	return errors.New("no limit mechanism applies")
}

func (s *sandbox) use(m Mechanism) error {
	l := s.limits
	switch m {
	case MechanismCgroup2, MechanismCgroup1:
		cg, err := newCgroups(m, s.name, l)
		if err != nil {
			return err
		}
		s.cgroups = cg
	case MechanismRlimit:
		s.applied.CPUWatchdog = l.CPU > 0
		if l.Processes > 0 && !s.applied.OwnUID {
			s.applied.warn("processes: not limited: RLIMIT_NPROC counts every process of a uid, and this plugin shares atriumd's")
			l.Processes = 0
		}
	default:
		return fmt.Errorf("unknown mechanism %q", m)
	}
	s.applied.Mechanism, s.applied.MemoryBytes, s.applied.CPU, s.applied.Processes = m, l.MemoryBytes, l.CPU, l.Processes
	return nil
}

// prepare sets up cmd to start confined, and returns the plugin binary it
// executes: the file whose checksum is to be checked. What must hold from
// the plugin's first instruction (its uid, rlimits, cgroups v1) the
// launcher sets up before it executes the plugin.
func (s *sandbox) prepare(cmd *exec.Cmd) (string, error) {
	exe := cmd.Path
	if s.limits == (Limits{}) {
		return exe, nil
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	attr := cmd.SysProcAttr
	attr.Setpgid = true // its descendants are found, and killed, as its group
	if m := s.applied.MemoryBytes; m > 0 {
		// The collector works harder near the limit rather than die at it.
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+strconv.FormatInt(m/10*9, 10))
	}
	if c := s.applied.CPU; c > 0 {
		// A Go plugin then keeps within its share by itself. Under a
		// cgroup too: the runtime reads the limit there but never goes
		// below 2, and two threads of Go work on a budget of one CPU cost
		// a plugin read a third more CPU than one (measured).
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(int(math.Ceil(c))))
	}
	var plan launchPlan
	if s.applied.OwnUID {
		bin, err := copyBinary(cmd.Path, filepath.Join(s.run, "bin"), s.name)
		if err != nil {
			return "", err
		}
		s.binary, exe = bin, bin
		cmd.Dir = s.home
		cmd.Env = append(cmd.Env, "TMPDIR="+s.home)
		plan.UID, plan.GID = s.applied.UID, s.applied.GID
	}
	if s.cgroups != nil {
		s.cgroups.prepare(attr)
		plan.Join = s.cgroups.joinDirs()
	}
	if s.applied.Mechanism == MechanismRlimit {
		plan.DataBytes, plan.Processes = s.applied.MemoryBytes, s.applied.Processes
	}
	if plan.needed() {
		plan.Path = exe
		raw, err := json.Marshal(plan)
		if err != nil {
			return "", fmt.Errorf("plan the launch: %w", err)
		}
		cmd.Path = selfExe
		cmd.Env = append(cmd.Env, launcherEnv+"="+string(raw))
	}
	return exe, nil
}

// socketConfig puts go-plugin's sockets where the plugin's uid can reach them.
func (s *sandbox) socketConfig() *plugin.UnixSocketConfig {
	if !s.applied.OwnUID {
		return &plugin.UnixSocketConfig{TempDir: s.sockets}
	}
	return &plugin.UnixSocketConfig{Group: strconv.Itoa(s.applied.GID), TempDir: s.sockets}
}

// shareSocketDir lets the plugin make its socket in dir and connect to the
// core's there. The sticky bit keeps it from replacing the core's sockets.
func (s *sandbox) shareSocketDir(dir string) error {
	if !s.applied.OwnUID {
		return nil
	}
	if err := os.Chown(dir, 0, s.applied.GID); err != nil {
		return err
	}
	return os.Chmod(dir, 0o770|os.ModeSticky)
}

// startFailed explains a start that failed; a kernel or seccomp filter
// that refuses clone3 into a cgroup makes later launches join it after
// their start instead.
func (s *sandbox) startFailed(err error) error {
	if s.cgroups != nil && s.cgroups.fd >= 0 && errors.Is(err, unix.ENOSYS) {
		cgroupFDRefused.Store(true)
		return fmt.Errorf("start in its cgroup (clone3 is refused; the next launch joins the cgroup before the plugin runs): %w", err)
	}
	return err
}
