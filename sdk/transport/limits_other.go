//go:build !linux

package transport

import (
	"log/slog"
	"os"
	"os/exec"
	"runtime"

	"github.com/hashicorp/go-plugin"
)

// sandbox confines nothing off Linux: it reports "off", and says so when
// limits were asked for.
type sandbox struct {
	applied Applied
	notUsed []string
	sockets string // where go-plugin makes its socket directory
}

func newSandbox(_ string, l Limits, _ *slog.Logger) (*sandbox, error) {
	s := &sandbox{applied: Applied{Mechanism: MechanismOff, UID: os.Getuid(), GID: os.Getgid()}}
	if l != (Limits{}) {
		s.applied.warn("limits and plugin uids are not supported on %s: the plugin runs unbounded, as atriumd's uid", runtime.GOOS)
	}
	var err error
	if s.sockets, err = privateSocketParent(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *sandbox) socketConfig() *plugin.UnixSocketConfig {
	return &plugin.UnixSocketConfig{TempDir: s.sockets}
}

func (s *sandbox) release() { _ = os.RemoveAll(s.sockets) }

func (s *sandbox) prepare(cmd *exec.Cmd) (string, error) { return cmd.Path, nil }
func (s *sandbox) shareSocketDir(string) error           { return nil }
func (s *sandbox) startFailed(err error) error           { return err }
func (s *sandbox) started(*os.Process)                   {}
func (s *sandbox) exitReason() string                    { return "" }
