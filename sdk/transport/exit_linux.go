//go:build linux

package transport

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// started starts watching the process, confined from its start.
func (s *sandbox) started(p *os.Process) {
	if s.limits == (Limits{}) {
		return
	}
	if s.cgroups != nil {
		s.cgroups.started()
	}
	s.watching = true
	go s.watchExit(p.Pid)
	if s.applied.CPUWatchdog {
		go s.watchCPU(p)
	}
}

// watchExit waits for the process to exit without reaping it, so that its
// pid and the process group it leads stay its own, and kills what it left
// behind: its group, whatever is still in its cgroups, and, unless another
// launch of the plugin runs, every process of its own uid.
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
	if s.hold != nil {
		s.hold.release(true)
		s.hold = nil
	}
}

// release removes what the launch made, once the process is gone.
func (s *sandbox) release() {
	s.released.Do(func() {
		if s.watching {
			<-s.exited
		}
		if s.hold != nil {
			s.hold.release(false) // the process never ran
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
