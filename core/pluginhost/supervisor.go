package pluginhost

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// State is where a plugin's process stands.
type State string

// States.
const (
	StateStarting   State = "starting"
	StateRunning    State = "running"
	StateRestarting State = "restarting" // crashed or killed; waiting out its backoff
	StateFailed     State = "failed"     // the breaker is open: a crash loop, or it cannot start
	StateStopped    State = "stopped"
)

// Supervision tunes restarts.
type Supervision struct {
	// MinBackoff and MaxBackoff bound the wait before a restart; it doubles
	// with each crash. A process that ran for StableAfter (0: never) starts
	// both the backoff and the breaker's count of crashes over.
	MinBackoff, MaxBackoff, StableAfter time.Duration
	// BreakAfter crashes within BreakWindow open the breaker: no restart
	// for Cooldown, then one attempt (half-open).
	BreakAfter  int
	BreakWindow time.Duration
	Cooldown    time.Duration
	// Poll is how often a running process is checked for an exit.
	Poll time.Duration
}

// DefaultSupervision restarts fast, backs off to 30 s, and stops a crash
// loop of five crashes in a minute for five minutes.
var DefaultSupervision = Supervision{
	MinBackoff: 100 * time.Millisecond, MaxBackoff: 30 * time.Second, StableAfter: time.Minute,
	BreakAfter: 5, BreakWindow: time.Minute, Cooldown: 5 * time.Minute, Poll: 100 * time.Millisecond,
}

// launcher starts one process of a plugin.
type launcher func(ctx context.Context) (*transport.Conn, error)

// supervised is one plugin and its current process.
type supervised struct {
	entry  Entry
	launch launcher
	sup    Supervision
	log    *slog.Logger
	events hostEvents

	mu       sync.RWMutex
	conn     *transport.Conn
	manifest sdk.Manifest
	routes   *table
	prefetch *prefetcher // the current process's routes' first statements
	state    State
	restarts int
	lastErr  string
	limits   *transport.Applied // the last launch's
	lastExit string             // why the last process ended
	started  chan struct{}      // closed once the first launch has succeeded or failed

	stop context.CancelFunc
	done chan struct{}
}

// hostEvents are what the host does when a plugin's process changes.
type hostEvents interface {
	started(p *supervised, m sdk.Manifest) error // validate against the catalog, register permissions
	restarted(name string)
	stateChanged(name string, s State)
}

func newSupervised(e Entry, launch launcher, sup Supervision, log *slog.Logger, ev hostEvents) *supervised {
	return &supervised{entry: e, launch: launch, sup: sup, log: log.With("plugin", e.Name), events: ev,
		state: StateStarting, started: make(chan struct{}), done: make(chan struct{})}
}

// run launches and relaunches the plugin until ctx ends.
func (p *supervised) run(ctx context.Context) {
	defer close(p.done)
	r := restarts{sup: p.sup}
	first := true
	for ctx.Err() == nil {
		conn, err := p.start(ctx)
		if first {
			close(p.started)
			first = false
		}
		var (
			ran time.Duration
			why string
		)
		if err == nil {
			began := time.Now()
			why = p.watch(ctx, conn)
			ran = time.Since(began)
		}
		if ctx.Err() != nil {
			break
		}
		wait, broke := r.ended(time.Now(), ran)
		if err == nil {
			// A process killed at a limit (memory, the CPU watchdog) is
			// restarted like any crash; why says which.
			p.log.Error("plugin process exited; restarting", "backoff", wait, "reason", why)
			p.events.restarted(p.entry.Name)
		} else {
			p.log.Error("plugin did not start", "error", err, "backoff", wait)
		}
		if broke {
			cause := "crash loop: restarts paused"
			if err != nil { // keep the cause: a refused checksum is no mere crash
				cause += "; the last start failed: " + err.Error()
			}
			p.setState(StateFailed, cause)
			p.log.Error("plugin is crash-looping; restarts paused", "cooldown", p.sup.Cooldown)
		} else {
			p.setState(StateRestarting, "")
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	p.mu.Lock()
	conn := p.conn
	p.conn = nil
	p.mu.Unlock()
	if conn != nil {
		_ = conn.Close()
	}
	p.setState(StateStopped, "")
}

func (p *supervised) start(ctx context.Context) (*transport.Conn, error) {
	conn, err := p.launch(ctx)
	if err == nil {
		if err = p.events.started(p, conn.Manifest()); err != nil {
			conn.Kill()
			conn = nil
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.lastErr = err.Error()
		return nil, err
	}
	p.conn, p.manifest, p.routes = conn, conn.Manifest(), newTable(conn.Manifest())
	p.prefetch = newPrefetcher(len(p.manifest.Routes))
	p.state, p.lastErr, p.limits = StateRunning, "", conn.Limits()
	p.events.stateChanged(p.entry.Name, StateRunning)
	p.log.Info("plugin running", "version", p.manifest.Version, "pid", conn.Pid())
	return conn, nil
}

// watch returns when the process exits, with why it did (or when ctx
// ends).
func (p *supervised) watch(ctx context.Context, conn *transport.Conn) string {
	t := time.NewTicker(p.sup.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ""
		case <-t.C:
			if conn.Exited() {
				// A process that died on its own still holds its gRPC
				// connection and the broker's host service: release them.
				_ = conn.Close()
				why := conn.ExitReason()
				p.mu.Lock()
				if p.conn == conn {
					p.conn = nil
				}
				p.restarts++
				p.lastExit = why
				p.mu.Unlock()
				return why
			}
		}
	}
}

func (p *supervised) setState(s State, why string) {
	p.mu.Lock()
	p.state = s
	if why != "" {
		p.lastErr = why
	}
	p.mu.Unlock()
	p.events.stateChanged(p.entry.Name, s)
}

// current is the running process, or an unavailable error.
func (p *supervised) current() (*transport.Conn, error) {
	conn, _, err := p.currentWithPrefetch()
	return conn, err
}

// currentWithPrefetch is current with what is learned of its routes.
func (p *supervised) currentWithPrefetch() (*transport.Conn, *prefetcher, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.conn == nil || p.conn.Exited() {
		if p.state == StateRunning { // its process just ended; the supervisor has yet to say so
			return nil, nil, kernel.E(kernel.KindUnavailable, "plugin %s is not running: its process exited; retry later",
				p.entry.Name).WithCode(ErrUnavailable.Code)
		}
		return nil, nil, errNotRunning(p.entry.Name, p.state)
	}
	return p.conn, p.prefetch, nil
}

// kill ends a hung process; run restarts it.
func (p *supervised) kill(conn *transport.Conn) {
	p.log.Error("plugin did not answer in time; killing it", "pid", conn.Pid())
	conn.Kill()
}
