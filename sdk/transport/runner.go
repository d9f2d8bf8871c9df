package transport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
)

// procRunner is go-plugin's runner for a plugin binary. It checks the file
// that is to run as the plugin against the catalog's checksum, starts it
// confined by its sandbox, and releases the sandbox once the process is
// gone.
type procRunner struct {
	cmd  *exec.Cmd
	exe  string // the plugin binary: cmd.Path, or what the launcher cmd starts executes
	name string // the binary as the catalog knows it, for go-plugin's logs
	sum  []byte
	box  *sandbox

	stdout, stderr io.ReadCloser
	goOOM          oomSpotter

	mu    sync.Mutex
	pid   int
	state *os.ProcessState
}

var _ runner.Runner = (*procRunner)(nil)

// runnerFunc is go-plugin's RunnerFunc. spec carries the handshake's
// environment; socketDir is where both sides put their Unix sockets.
func (r *procRunner) runnerFunc(_ hclog.Logger, spec *exec.Cmd, socketDir string) (runner.Runner, error) {
	r.cmd.Env = append(r.cmd.Env, spec.Env...)
	r.cmd.Stdin = spec.Stdin
	if err := r.box.shareSocketDir(socketDir); err != nil {
		return nil, fmt.Errorf("share the socket directory: %w", err)
	}
	var err error
	if r.stdout, err = r.cmd.StdoutPipe(); err != nil {
		return nil, err
	}
	if r.stderr, err = r.cmd.StderrPipe(); err != nil {
		return nil, err
	}
	return r, nil
}

// Start runs go-plugin's own checksum check on exactly the file that is
// to run as the plugin, then starts it.
func (r *procRunner) Start(context.Context) error {
	secure := plugin.SecureConfig{Checksum: r.sum, Hash: sha256.New()}
	ok, err := secure.Check(r.exe)
	if err != nil {
		return fmt.Errorf("verify checksum: %w", err)
	}
	if !ok {
		return plugin.ErrChecksumsDoNotMatch
	}
	if err := r.cmd.Start(); err != nil {
		return r.box.startFailed(err)
	}
	r.box.started(r.cmd.Process)
	r.mu.Lock()
	r.pid = r.cmd.Process.Pid
	r.mu.Unlock()
	return nil
}

func (r *procRunner) Wait(context.Context) error {
	err := r.cmd.Wait()
	r.mu.Lock()
	r.state = r.cmd.ProcessState
	r.mu.Unlock()
	r.box.release()
	return err
}

func (r *procRunner) Kill(context.Context) error {
	if r.cmd.Process == nil {
		return nil
	}
	if err := r.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	return nil
}

func (r *procRunner) ID() string {
	if p := r.procID(); p != 0 {
		return strconv.Itoa(p)
	}
	return ""
}

func (r *procRunner) procID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pid
}

func (r *procRunner) Stdout() io.ReadCloser           { return r.stdout }
func (r *procRunner) Stderr() io.ReadCloser           { return r.stderr }
func (r *procRunner) Name() string                    { return r.name }
func (r *procRunner) Diagnose(context.Context) string { return "" }

func (r *procRunner) PluginToHost(network, addr string) (string, string, error) {
	return network, addr, nil
}

func (r *procRunner) HostToPlugin(network, addr string) (string, string, error) {
	return network, addr, nil
}

// exitReason says why the process ended, once it has.
func (r *procRunner) exitReason() string {
	r.mu.Lock()
	state := r.state
	r.mu.Unlock()
	if why := r.box.exitReason(); why != "" {
		return why
	}
	if r.goOOM.seen.Load() && r.box.applied.MemoryBytes > 0 {
		return fmt.Sprintf("the Go runtime ran out of memory under the memory limit of %d bytes", r.box.applied.MemoryBytes)
	}
	if state == nil {
		return ""
	}
	return state.String()
}

// privateSocketParent makes the directory in which go-plugin makes one
// launch's socket directory, removed with the launch: go-plugin does not
// remove its own when the process never started.
func privateSocketParent() (string, error) {
	dir, err := os.MkdirTemp("", socketParentPrefix+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return "", fmt.Errorf("plugin sockets: %w", err)
	}
	return dir, nil
}

// socketParentPrefix starts the names of privateSocketParent's directories,
// followed by atriumd's pid.
const socketParentPrefix = "atrium-sockets-"

// oomSpotter watches a plugin's stderr for the Go runtime's fatal
// out-of-memory error, which is how an rlimit's memory bound ends a plugin.
type oomSpotter struct{ seen atomic.Bool }

func (o *oomSpotter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("fatal error: out of memory")) || bytes.Contains(p, []byte("runtime: out of memory")) {
		o.seen.Store(true)
	}
	return len(p), nil
}
