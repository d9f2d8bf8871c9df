package postgrestest

import (
	"net"
	"net/url"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// Mode is what a Proxy does with the connections it accepts.
type Mode int

// The modes.
const (
	Pass       Mode = iota // forward to the server
	Down                   // close at once: the server is gone
	StartingUp             // refuse as a server starting up does (FATAL 57P03)
	Stall                  // accept and never answer: the server hangs
)

// A stalled connection is closed when the mode changes: the server that
// comes back (or goes down for good) drops what it never answered. pgx
// sends a cancel request on a new connection when it gives up on one, and
// waits up to 15 s for its answer: left stalled, closing a pool would wait
// for that.

// Proxy is a TCP proxy in front of a test database that injects faults:
// tests point the code under test at its URL and change its mode.
type Proxy struct {
	target   string
	listener net.Listener

	mu      sync.Mutex
	mode    Mode
	conns   map[net.Conn]struct{} // open through the proxy, both sides
	stalled []net.Conn
	frozen  chan struct{} // non-nil while frozen; closed to thaw
}

// NewProxy starts a proxy in front of the server of dbURL, in mode Pass,
// and returns it with the URL that reaches the database through it. It
// stops when the test ends.
func NewProxy(tb testing.TB, dbURL string) (*Proxy, string) {
	tb.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatalf("postgrestest: proxy: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("postgrestest: proxy: %v", err)
	}
	p := &Proxy{target: u.Host, listener: l, conns: map[net.Conn]struct{}{}}
	if u.Port() == "" {
		p.target = net.JoinHostPort(u.Hostname(), "5432")
	}
	u.Host = l.Addr().String()
	go p.serve()
	tb.Cleanup(func() {
		_ = l.Close()
		p.Cut()
	})
	return p, u.String()
}

// Set changes what the proxy does with the connections it accepts from now
// on; connections already open stay as they are (see Cut).
func (p *Proxy) Set(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m != p.mode {
		for _, c := range p.stalled {
			_ = c.Close()
			delete(p.conns, c)
		}
		p.stalled = nil
	}
	p.mode = m
}

// Freeze holds every byte sent either way on the connections forwarded
// through the proxy, as a server that stopped answering mid-statement (or a
// network that stopped carrying) would, until thaw is called. It thaws when
// the test ends.
func (p *Proxy) Freeze(tb testing.TB) (thaw func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen == nil {
		p.frozen = make(chan struct{})
	}
	thaw = func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.thaw()
	}
	tb.Cleanup(thaw)
	return thaw
}

func (p *Proxy) thaw() {
	if p.frozen != nil {
		close(p.frozen)
		p.frozen = nil
	}
}

// waitThawed returns when the proxy is not frozen.
func (p *Proxy) waitThawed() {
	p.mu.Lock()
	frozen := p.frozen
	p.mu.Unlock()
	if frozen != nil {
		<-frozen
	}
}

// Cut closes every connection open through the proxy, as a server that
// went away or a network that broke would.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
	p.stalled = nil
	p.thaw() // what was held goes nowhere now: its connections are closed first
}

func (p *Proxy) serve() {
	for {
		c, err := p.listener.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		mode := p.mode
		if mode == Stall { // held open, unanswered
			p.conns[c] = struct{}{}
			p.stalled = append(p.stalled, c)
		}
		p.mu.Unlock()
		switch mode {
		case Pass:
			go p.forward(c)
		case Down:
			_ = c.Close()
		case StartingUp:
			go refuseStartingUp(c)
		case Stall:
		}
	}
}

// track records c as open, for Cut.
func (p *Proxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *Proxy) forward(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	p.track(client)
	p.track(server)
	defer p.untrack(client)
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				p.waitThawed()
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done // either side ended: end both
}

// refuseStartingUp answers the startup message as PostgreSQL does while it
// starts up (or recovers): a FATAL 57P03 ErrorResponse, then it closes.
func refuseStartingUp(c net.Conn) {
	defer c.Close()
	backend := pgproto3.NewBackend(c, c)
	for {
		msg, err := backend.ReceiveStartupMessage()
		if err != nil {
			return
		}
		switch msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if _, err := c.Write([]byte("N")); err != nil { // no encryption; the startup message follows
				return
			}
			continue
		case *pgproto3.StartupMessage:
			backend.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P03",
				Message: "the database system is starting up"})
			_ = backend.Flush()
		}
		return
	}
}
