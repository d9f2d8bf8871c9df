//go:build linux

package transport

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// setRlimits bounds the process's memory and processes. Setting another
// user's limits needs CAP_SYS_RESOURCE, which root often lacks (a
// container's default capabilities leave it out); then the process is
// stopped, and a thread of atriumd that has borrowed the plugin's real uid
// and gid sets them, as prlimit allows a process of the same user to.
func (s *sandbox) setRlimits(pid int) error {
	err := s.prlimits(pid)
	if !errors.Is(err, unix.EPERM) || s.cred == nil {
		return err
	}
	return whileStopped(pid, func() error {
		return asUser(s.cred, func() error { return s.prlimits(pid) })
	})
}

func (s *sandbox) prlimits(pid int) error {
	if m := s.applied.MemoryBytes; m > 0 {
		// RLIMIT_DATA, not RLIMIT_AS: a Go program reserves far more
		// address space than it uses (1.7 GB for an idle plugin), and
		// RLIMIT_DATA counts what it maps writable (about 120 MB idle).
		lim := unix.Rlimit{Cur: uint64(m), Max: uint64(m)}
		if err := unix.Prlimit(pid, unix.RLIMIT_DATA, &lim, nil); err != nil {
			return fmt.Errorf("apply memory limit: %w", err)
		}
	}
	if n := s.applied.Processes; n > 0 {
		lim := unix.Rlimit{Cur: uint64(n), Max: uint64(n)}
		if err := unix.Prlimit(pid, unix.RLIMIT_NPROC, &lim, nil); err != nil {
			return fmt.Errorf("apply process limit: %w", err)
		}
	}
	return nil
}

const (
	cldStopped = 5           // siginfo's si_code for a child stopped by a signal
	keep       = ^uintptr(0) // setresuid's and setresgid's -1: unchanged
)

// whileStopped runs fn while the process is stopped, so that it runs none
// of its code meanwhile.
func whileStopped(pid int, fn func() error) error {
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		return fmt.Errorf("stop the plugin: %w", err)
	}
	defer func() { _ = unix.Kill(pid, unix.SIGCONT) }()
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WSTOPPED|unix.WEXITED|unix.WNOWAIT, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("stop the plugin: %w", err)
		}
		break
	}
	if info.Code != cldStopped {
		return errors.New("the plugin exited before its limits were set")
	}
	return fn()
}

// asUser runs fn on a thread of its own whose real uid and gid are cred's
// (its effective ones stay root's). The thread changes alone (raw
// syscalls, not Go's all-threads setresuid), and it is discarded unless it
// gets its own ids back.
func asUser(cred *syscall.Credential, fn func() error) error {
	uid, gid := uintptr(unix.Getuid()), uintptr(unix.Getgid())
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, e := unix.RawSyscall(sysSetresgid, uintptr(cred.Gid), keep, keep); e != 0 {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("borrow the plugin's gid: %w", e)
			return
		}
		if _, _, e := unix.RawSyscall(sysSetresuid, uintptr(cred.Uid), keep, keep); e != 0 {
			done <- fmt.Errorf("borrow the plugin's uid: %w", e)
			return // still locked: the thread ends with the goroutine
		}
		err := fn()
		_, _, eu := unix.RawSyscall(sysSetresuid, uid, keep, keep)
		_, _, eg := unix.RawSyscall(sysSetresgid, gid, keep, keep)
		if eu == 0 && eg == 0 {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}
