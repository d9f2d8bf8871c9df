package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server is atriumd's HTTP listener.
type Server struct {
	srv *http.Server
	log *slog.Logger
	ln  net.Listener
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
