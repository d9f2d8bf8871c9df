//go:build linux

package transport

import (
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
	cred    *syscall.Credential
	run     string // the run directory, own uid only
	home    string // the process's home and TMPDIR, own uid only
	sockets string // where go-plugin makes its socket directory
	binary  string // the verified copy that runs, own uid only

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
	s.run = run
	if s.home, err = makeHome(filepath.Join(run, "home"), s.name, id); err != nil {
		return err
	}
	if s.sockets, err = makeSocketParent(filepath.Join(run, "sock"), s.name); err != nil {
		return err
	}
	// No supplementary groups: Groups is empty, so setgroups(0) drops them.
	s.cred = &syscall.Credential{Uid: uint32(id), Gid: uint32(id), Groups: []uint32{}} //nolint:gosec // id is within the validated uid range
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

// prepare sets up cmd to start confined.
func (s *sandbox) prepare(cmd *exec.Cmd) error {
	if s.limits == (Limits{}) {
		return nil
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
	if s.applied.CPUWatchdog {
		// A Go plugin then keeps within its share by itself; under a
		// cgroup the Go runtime reads the CPU limit on its own.
		cmd.Env = append(cmd.Env, "GOMAXPROCS="+strconv.Itoa(int(math.Ceil(s.applied.CPU))))
	}
	if s.cred != nil {
		bin, err := copyBinary(cmd.Path, filepath.Join(s.run, "bin"), s.name)
		if err != nil {
			return err
		}
		s.binary, cmd.Path = bin, bin
		cmd.Dir = s.home
		cmd.Env = append(cmd.Env, "TMPDIR="+s.home)
		attr.Credential = s.cred
	}
	if s.cgroups != nil {
		s.cgroups.prepare(attr)
	}
	return nil
}

// socketConfig puts go-plugin's sockets where the plugin's uid can reach them.
func (s *sandbox) socketConfig() *plugin.UnixSocketConfig {
	if s.cred == nil {
		return &plugin.UnixSocketConfig{TempDir: s.sockets}
	}
	return &plugin.UnixSocketConfig{Group: strconv.Itoa(int(s.cred.Gid)), TempDir: s.sockets}
}

// shareSocketDir lets the plugin make its socket in dir and connect to the
// core's there. The sticky bit keeps it from replacing the core's sockets.
func (s *sandbox) shareSocketDir(dir string) error {
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(dir, 0, int(s.cred.Gid)); err != nil {
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
		return fmt.Errorf("start in its cgroup (clone3 is refused; the next launch joins the cgroup after its start): %w", err)
	}
	return err
}

// started confines the process the moment it runs and starts watching it.
// One that has already exited needs no limits: go-plugin then reports its
// early exit with what it said on stderr.
func (s *sandbox) started(p *os.Process) error {
	if s.limits == (Limits{}) {
		return nil
	}
	if err := s.confine(p.Pid); err != nil && !exited(p.Pid) {
		return err
	}
	s.watching = true
	go s.watchExit(p.Pid)
	if s.applied.CPUWatchdog {
		go s.watchCPU(p)
	}
	return nil
}

func (s *sandbox) confine(pid int) error {
	if s.cgroups != nil {
		if err := s.cgroups.join(pid); err != nil {
			return fmt.Errorf("move the plugin into its cgroup: %w", err)
		}
	}
	if s.applied.Mechanism == MechanismRlimit {
		return s.setRlimits(pid)
	}
	return nil
}

// exited tells whether a child has exited, leaving it unreaped.
func exited(pid int) bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err == nil && info.Signo == int32(unix.SIGCHLD)
}

// watchExit waits for the process to exit without reaping it, so that its
// pid and the process group it leads stay its own, and kills what it left
// behind: its group, and whatever is still in its cgroups.
func (s *sandbox) watchExit(pid int) {
	defer close(s.exited)
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if s.cgroups != nil {
		n := s.cgroups.oomKills()
		s.cgroups.kill(pid)
		s.mu.Lock()
		s.oomKills = n
		s.mu.Unlock()
	}
}

// release removes what the launch made, once the process is gone.
func (s *sandbox) release() {
	s.released.Do(func() {
		if s.watching {
			<-s.exited
		}
		if s.cgroups != nil {
			if err := s.cgroups.remove(); err != nil {
				s.log.Warn("remove plugin cgroup", "error", err)
			}
		}
		if s.binary != "" {
			_ = os.Remove(s.binary)
		}
		for _, dir := range []string{s.home, s.sockets} {
			if dir == "" {
				continue
			}
			if err := os.RemoveAll(dir); err != nil {
				s.log.Warn("remove a plugin's directory", "error", err)
			}
		}
	})
}

// exitReason names the limit that ended the process, if one did.
func (s *sandbox) exitReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.killedFor != "":
		return s.killedFor
	case s.oomKills > 0:
		return fmt.Sprintf("killed by the kernel's OOM killer at the memory limit of %d bytes", s.applied.MemoryBytes)
	}
	return ""
}
