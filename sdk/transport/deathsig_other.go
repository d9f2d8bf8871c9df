//go:build !linux

package transport

import "os/exec"

// dieWithParent has nothing to set where there is no parent-death signal;
// the watchdog in sdk.Serve alone guards the plugin there.
func dieWithParent(*exec.Cmd) {}
