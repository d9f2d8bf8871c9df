//go:build linux

package transport

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// setRlimits bounds this process, the launcher, and so the plugin it
// becomes: limits are kept across execve and inherited by children.
// Lowering one's own limits, hard ones included, needs no capability, and
// raising them again needs CAP_SYS_RESOURCE, which the plugin lacks.
func (p launchPlan) setRlimits() error {
	if m := p.DataBytes; m > 0 {
		// RLIMIT_DATA, not RLIMIT_AS: a Go program reserves far more
		// address space than it uses (1.7 GB for an idle plugin), and
		// RLIMIT_DATA counts what it maps writable (about 120 MB idle).
		lim := unix.Rlimit{Cur: uint64(m), Max: uint64(m)}
		if err := unix.Prlimit(0, unix.RLIMIT_DATA, &lim, nil); err != nil {
			return fmt.Errorf("apply memory limit: %w", err)
		}
	}
	if n := p.Processes; n > 0 {
		lim := unix.Rlimit{Cur: uint64(n), Max: uint64(n)}
		if err := unix.Prlimit(0, unix.RLIMIT_NPROC, &lim, nil); err != nil {
			return fmt.Errorf("apply process limit: %w", err)
		}
	}
	return nil
}
