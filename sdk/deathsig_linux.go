package sdk

import "golang.org/x/sys/unix"

// setParentDeathSignal has the kernel SIGKILL this process when its parent
// dies, even when the parent itself was SIGKILLed.
func setParentDeathSignal() error {
	return unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
}
