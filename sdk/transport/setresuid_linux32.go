//go:build linux && (386 || arm)

package transport

import "golang.org/x/sys/unix"

// The syscalls that set a thread's real, effective and saved ids, with
// 32-bit ids (the plain ones take 16-bit ids here).
const (
	sysSetresuid = unix.SYS_SETRESUID32
	sysSetresgid = unix.SYS_SETRESGID32
)
