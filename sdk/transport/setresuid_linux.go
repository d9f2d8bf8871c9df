//go:build linux && !386 && !arm

package transport

import "golang.org/x/sys/unix"

// The syscalls that set a thread's real, effective and saved ids.
const (
	sysSetresuid = unix.SYS_SETRESUID
	sysSetresgid = unix.SYS_SETRESGID
)
