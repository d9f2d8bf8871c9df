package pluginhost

import (
	"context"
	"errors"
	"fmt"

	"github.com/atriumhq/atrium/core/health"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// Status is a plugin as operators see it.
type Status struct {
	Name      string
	Version   string
	State     State
	Required  bool
	Restarts  int
	LastError string
	// LastExit says why the plugin's last process ended (a limit that
	// killed it, or its exit status).
	LastExit string
	PID      int
	// Limits confine the current process (the last one when none runs);
	// nil for a plugin attached to the core's process.
	Limits      *transport.Applied
	Routes      []sdk.RouteSpec
	Permissions []sdk.Permission
}

func (p *supervised) status() Status {
	p.mu.RLock()
	defer p.mu.RUnlock()
	s := Status{Name: p.entry.Name, Version: p.entry.Version, State: p.state, Required: p.entry.Required,
		Restarts: p.restarts, LastError: p.lastErr, LastExit: p.lastExit, Limits: p.limits,
		Routes: p.manifest.Routes, Permissions: p.manifest.Permissions}
	if p.manifest.Version != "" {
		s.Version = p.manifest.Version
	}
	if p.conn != nil {
		s.PID = p.conn.Pid()
	}
	return s
}

// Statuses lists every plugin, by name.
func (h *Host) Statuses() []Status {
	ps := h.all()
	out := make([]Status, len(ps))
	for i, p := range ps {
		out[i] = p.status()
	}
	return out
}

// Manifests are the manifests of the running plugins, for the OpenAPI
// document.
func (h *Host) Manifests() []sdk.Manifest {
	var out []sdk.Manifest
	for _, p := range h.all() {
		if m, ok := p.runningManifest(); ok {
			out = append(out, m)
		}
	}
	return out
}

// KnownManifests returns the manifest of every plugin that has run, running
// now or not: events are fanned out to subscribers that are down too.
func (h *Host) KnownManifests() []sdk.Manifest {
	var out []sdk.Manifest
	for _, p := range h.all() {
		p.mu.RLock()
		m := p.manifest
		p.mu.RUnlock()
		if m.Name != "" {
			out = append(out, m)
		}
	}
	return out
}

// Deliver hands integration events (req.Events) to plugin's subscriptions,
// as Call hands a request to a route: under the call deadline, with svc
// serving its host calls in the unit of work of ctx.
func (h *Host) Deliver(ctx context.Context, plugin string, req *transport.Request, svc transport.Services) error {
	if len(req.Events) == 0 {
		return errors.New("deliver: no event")
	}
	_, err := h.Call(ctx, Match{Plugin: plugin, Route: sdk.RouteSpec{Mutates: true}}, req, svc)
	return err
}

// Readiness is /readyz's check: every required plugin running. Optional
// plugins are reported, never failing readiness: a crash-looping add-on
// must not take the whole core out of its load balancer.
func (h *Host) Readiness() health.Check {
	return health.Check{Name: "plugins", Probe: func(context.Context) error {
		for _, s := range h.Statuses() {
			if s.Required && s.State != StateRunning {
				return fmt.Errorf("required plugin %s is %s", s.Name, s.State)
			}
		}
		return nil
	}}
}
