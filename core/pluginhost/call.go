package pluginhost

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/atriumhq/atrium/core/kernel"
	"github.com/atriumhq/atrium/sdk"
	"github.com/atriumhq/atrium/sdk/transport"
)

// Found says what Match found.
type Found uint8

// What Match finds.
const (
	NotPlugin   Found = iota // the path is no registered plugin's
	Matched                  // a route
	NoRoute                  // the plugin's path, but none of its routes
	WrongMethod              // a route's path, under another method
	Unknown                  // the plugin has not started yet: its routes are unknown
)

// Match finds the plugin route for a request.
func (h *Host) Match(method, path string) (Match, Found) {
	name := pluginOf(path)
	p, ok := h.get(name)
	if !ok {
		return Match{}, NotPlugin
	}
	p.mu.RLock()
	routes := p.routes
	p.mu.RUnlock()
	if routes == nil {
		return Match{Plugin: name}, Unknown
	}
	m, found, pathFound := routes.match(method, path)
	m.Plugin = name
	switch {
	case found:
		return m, Matched
	case pathFound:
		return m, WrongMethod
	}
	return m, NoRoute
}

// ErrUnavailable matches (errors.Is) the error of a request whose plugin is
// not running or crashed while handling it.
var ErrUnavailable = &kernel.Error{Kind: kernel.KindUnavailable, Code: "plugin_unavailable"}

func errNotRunning(name string, s State) error {
	return kernel.E(kernel.KindUnavailable, "plugin %s is not running (%s); retry later", name, s).WithCode(ErrUnavailable.Code)
}

// Call sends a request to the plugin under the call deadline, with svc
// serving its host calls. A plugin that does not answer in time is killed
// (and restarted by its supervisor), unless it was waiting on the host
// (hostWork); a crash costs only the requests in flight. Errors are kernel
// errors: the plugin's own keep their kind.
func (h *Host) Call(ctx context.Context, m Match, req *transport.Request, svc transport.Services) (*transport.Response, error) {
	p, ok := h.get(m.Plugin)
	if !ok {
		return nil, kernel.NotFound("plugin")
	}
	conn, learned, err := p.currentWithPrefetch()
	if err != nil {
		h.metrics.call(m.Plugin, "unavailable", 0)
		return nil, err
	}
	// The handler and its host calls end at the deadline; the call stays
	// open HangGrace longer, for the answer of a handler that gave up at
	// the deadline (or whose host call did) to arrive.
	deadline := time.Now().Add(h.o.CallTimeout)
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(h.o.HangGrace))
	defer cancel()
	req.Route, req.Deadline = m.Index, deadline
	start := time.Now()
	var work *hostWork
	if svc != nil {
		// A route that does not mutate may have its first statement run
		// here, saving the plugin a call back (prefetch.go).
		if !m.Route.Mutates && conn.TakesPrefetch() {
			if req.Prefetch, err = h.prefetch(ctx, deadline, m, svc, learned); err != nil {
				return nil, err
			}
		}
		work = newHostWork(svc, deadline)
		svc = work
	}
	resp, err := conn.Handle(ctx, req, svc)
	took := time.Since(start)
	if work != nil && !m.Route.Mutates && pluginAnswered(err) {
		h.learn(m, req.Prefetch, work, learned)
	}
	if err == nil {
		h.metrics.call(m.Plugin, "ok", took)
		return resp, nil
	}
	var check *transport.CheckError
	if errors.As(err, &check) {
		// A deferred check refused (or the policy failed): the core's own
		// answer, not the plugin's.
		h.metrics.call(m.Plugin, "ok", took)
		return nil, checkError(m.Plugin, check.Err)
	}
	var se *sdk.Error
	if !errors.As(err, &se) {
		se = &sdk.Error{Kind: sdk.KindInternal, Message: err.Error()}
	}
	// The transport labels its own failures (no answer: the deadline passed,
	// the process died) SourcePlugin too, as it does the errors the plugin
	// returned; what tells them apart is the local cause, Err, which the
	// transport's failures carry and an error from the plugin never does
	// (Err does not cross the boundary).
	answered := se.Err == nil
	outcome := "error"
	switch {
	case se.Kind == sdk.KindTimeout && (!answered || time.Until(deadline) < deadlineSlack):
		// No answer by deadline+grace, or a handler that gave up at its
		// deadline: a 504 either way. Which one is to blame decides the
		// rest: a request that waited on the host (its SQL behind a lock)
		// timed out on its data, and the plugin, healthy, is left
		// running; a plugin that did not answer and was not waiting on us
		// hangs, and is killed.
		outcome = "timeout"
		h.metrics.call(m.Plugin, outcome, took)
		if work != nil && work.waitedOnHost() {
			return nil, kernel.E(kernel.KindTimeout, "the request did not finish within %s: it was waiting for its data", h.o.CallTimeout)
		}
		if !answered {
			p.kill(conn)
		}
		return nil, kernel.E(kernel.KindTimeout, "plugin %s did not finish within %s", m.Plugin, h.o.CallTimeout).WithCode("plugin_timeout")
	case !answered && se.Kind == sdk.KindUnavailable && ctx.Err() == nil:
		outcome = "unavailable"
		h.metrics.call(m.Plugin, outcome, took)
		return nil, kernel.Wrap(kernel.KindUnavailable, err, "plugin %s stopped while handling the request; retry later", m.Plugin).WithCode(ErrUnavailable.Code)
	}
	h.metrics.call(m.Plugin, outcome, took)
	return nil, toKernel(m.Plugin, se)
}

// pluginAnswered tells whether the plugin answered a call (with an error of its
// own, perhaps), as opposed to the call failing: a request canceled or
// timed out says nothing of what its handler does.
func pluginAnswered(err error) bool {
	var check *transport.CheckError
	var se *sdk.Error
	return err == nil || errors.As(err, &check) || errors.As(err, &se) && se.Err == nil
}

// checkError is a deferred check's failure as the client gets it: the
// core's error as its authorizer gave it, when it crossed as the cause.
func checkError(plugin string, err error) error {
	var ke *kernel.Error
	if errors.As(err, &ke) {
		return ke
	}
	var se *sdk.Error
	if errors.As(err, &se) {
		return toKernel(plugin, se)
	}
	return err
}

// toKernel turns an error the plugin returned into the kernel's kind and
// code, so the one HTTP mapping applies and a plugin route answers a
// mistake as a core route does. A plugin's internal error keeps its text
// for the log only.
func toKernel(plugin string, se *sdk.Error) error {
	k, ok := kinds[se.Kind]
	if !ok || k.Kind == kernel.KindInternal {
		return fmt.Errorf("plugin %s (%s): %w", plugin, se.Source, se)
	}
	e := &kernel.Error{Kind: k.Kind, Code: k.Code, Message: se.Message, Err: se}
	for _, f := range se.Fields {
		e.Fields = append(e.Fields, kernel.FieldError{Field: f.Field, Message: f.Message})
	}
	return e
}

// kinds maps every error kind a plugin can raise to the kernel's kind and
// code (core/api's problem table then gives the status). A kind missing here
// is a 500: TestKindsRoundTrip fails until it is added.
var kinds = map[sdk.Kind]*kernel.Error{
	sdk.KindInternal:        {Kind: kernel.KindInternal},
	sdk.KindInvalid:         kernel.ErrInvalid,
	sdk.KindUnauthenticated: kernel.ErrUnauthenticated,
	sdk.KindForbidden:       kernel.ErrForbidden,
	sdk.KindNotFound:        kernel.ErrNotFound,
	sdk.KindConflict:        kernel.ErrConflict,
	sdk.KindTooLarge:        kernel.ErrTooLarge,
	sdk.KindUnavailable:     kernel.ErrUnavailable,
	sdk.KindTimeout:         kernel.ErrTimeout,
	sdk.KindBadRequest:      kernel.ErrBadRequest,
	sdk.KindInvalidQuery:    kernel.ErrInvalidQuery,
	sdk.KindInvalidCursor:   kernel.ErrInvalidCursor,
	sdk.KindMalformedJSON:   kernel.ErrMalformedJSON,
	sdk.KindRateLimited:     kernel.ErrRateLimited,
	sdk.KindUnsupported:     {Kind: kernel.KindUnsupported},
}

// ToSDK turns a host-side error into the sdk error the plugin receives:
// kinds the plugin can act on are kept, with their client-safe message;
// anything else is internal, its text kept out of the plugin.
func ToSDK(err error) error {
	var se *sdk.Error
	if errors.As(err, &se) {
		return se
	}
	var ke *kernel.Error
	if !errors.As(err, &ke) {
		return err
	}
	sk, ok := sdkKinds[kindCode{ke.Kind, ke.Code}]
	if !ok {
		// A code of the core's own (tenant_suspended) has no sdk kind of
		// its own: the plugin sees its kind.
		sk, ok = sdkKinds[kindCode{ke.Kind, ""}]
	}
	if !ok || sk == sdk.KindInternal {
		return err
	}
	out := &sdk.Error{Kind: sk, Message: ke.Message, Err: err}
	for _, f := range ke.Fields {
		out.Fields = append(out.Fields, sdk.FieldError{Field: f.Field, Message: f.Message})
	}
	return out
}

type kindCode struct {
	kind kernel.Kind
	code string
}

// sdkKinds is kinds the other way round.
var sdkKinds = func() map[kindCode]sdk.Kind {
	m := make(map[kindCode]sdk.Kind, len(kinds))
	for sk, ke := range kinds {
		m[kindCode{ke.Kind, ke.Code}] = sk
	}
	return m
}()

// deadlineSlack: a handler's timeout that arrives this close to the
// deadline is the deadline's (the plugin may see it pass a moment before
// the host's timer fires, and timers run late on a busy machine).
const deadlineSlack = 50 * time.Millisecond
