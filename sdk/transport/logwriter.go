package transport

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
)

// lineWriter logs each line a plugin prints to its (redirected) stdout or
// stderr after the handshake, so stray output is never lost.
type lineWriter struct {
	logger *slog.Logger
	level  slog.Level
	mu     sync.Mutex
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		if line := bytes.TrimRight(w.buf[:i], "\r"); len(line) > 0 {
			w.logger.Log(context.Background(), w.level, string(line))
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 64<<10 { // a very long line without a newline
		w.logger.Log(context.Background(), w.level, string(w.buf))
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

// startLog keeps the end of what a plugin writes to stderr while it starts,
// so a failed start can say why in its error.
type startLog struct {
	mu      sync.Mutex
	buf     []byte
	stopped bool
}

const startLogSize = 2 << 10

func (s *startLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.buf = append(s.buf, p...)
		if over := len(s.buf) - startLogSize; over > 0 {
			s.buf = s.buf[over:]
		}
	}
	return len(p), nil
}

// stop ends the recording once the plugin has started.
func (s *startLog) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
}

func (s *startLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(bytes.TrimSpace(s.buf))
}
