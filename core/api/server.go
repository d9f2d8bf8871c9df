package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/atriumhq/atrium/core/health"
)

// Server is atriumd's HTTP listener.
type Server struct {
	srv   *http.Server
	log   *slog.Logger
	ln    net.Listener
	lame  *Lameduck
	delay time.Duration
}

// Lameduck is a shutdown's first step: readiness fails (its check,
// "shutdown", is down) while the server still serves every request.
type Lameduck struct{ on atomic.Bool }

// Check is the readiness check that fails once shutdown began.
func (l *Lameduck) Check() health.Check {
	return health.Check{Name: "shutdown", Probe: func(context.Context) error {
		if l.on.Load() {
			return errors.New("shutting down")
		}
		return nil
	}}
}

// WithReadinessDelay makes Stop first set lame (readiness 503) and keep
// serving for delay before it closes the listener, so load balancers,
// polling readiness, stop sending requests before connections are refused.
func (s *Server) WithReadinessDelay(lame *Lameduck, delay time.Duration) *Server {
	s.lame, s.delay = lame, delay
	return s
}

// NewServer returns a server for h on addr; Start binds it.
func NewServer(addr string, h http.Handler, log *slog.Logger) *Server {
	return &Server{
		log: log,
		srv: &http.Server{
			Addr:              addr,
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       2 * time.Minute,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}
}

// Start binds the address (so a taken port fails the start, not later) and
// serves in the background.
func (s *Server) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.srv.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.srv.Addr, err)
	}
	s.ln = ln
	s.log.Info("serving HTTP", "addr", ln.Addr().String())
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("HTTP server stopped", "error", err)
		}
	}()
	return nil
}

// answerWithin is what Stop keeps of its deadline to answer the requests
// still running at the end of the drain (at most a quarter of it).
const answerWithin = time.Second

// Stop stops accepting connections and waits for in-flight requests until
// shortly before ctx's deadline. Then, when the handler can abandon
// requests (the Router), those still running are answered 503 and their
// units of work rolled back; what is left at the deadline is closed.
func (s *Server) Stop(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	if s.lame != nil {
		s.lame.on.Store(true)
		if s.delay > 0 {
			s.log.Info("not ready: serving until the readiness delay passes, then closing the listener", "delay", s.delay.String())
			select {
			case <-time.After(s.delay):
			case <-ctx.Done():
			}
		}
	}
	ab, canAbandon := s.srv.Handler.(interface{ Abandon() int })
	drain := ctx
	if dl, ok := ctx.Deadline(); ok && canAbandon {
		var cancel context.CancelFunc
		drain, cancel = context.WithDeadline(ctx, dl.Add(-min(answerWithin, time.Until(dl)/4)))
		defer cancel()
	}
	err := s.srv.Shutdown(drain)
	if err != nil && canAbandon && ctx.Err() == nil {
		n := ab.Abandon()
		s.log.Warn("HTTP drain deadline passed; answering the requests still running with 503", "requests", n)
		err = s.srv.Shutdown(ctx) // they answer, and their connections close
	}
	if err != nil {
		s.log.Warn("HTTP drain deadline passed; closing remaining connections", "error", err)
		return s.srv.Close()
	}
	s.log.Info("HTTP server drained")
	return nil
}

// Addr is the bound address, useful when configured with port 0.
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.srv.Addr
	}
	return s.ln.Addr().String()
}
