package transport

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel SIGKILL the plugin when the core dies, the
// second guard besides the watchdog in sdk.Serve.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
