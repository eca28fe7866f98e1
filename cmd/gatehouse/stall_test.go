package main

import (
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage/storagetest"
)

// silentServer is a store that is up but stalled: it accepts and never
// answers (storagetest.SilentServer).
func silentServer(t *testing.T) string { return storagetest.SilentServer(t) }

// closedPort returns a loopback address nothing listens on (a store that
// is down: connections are refused).
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// stallProxy forwards TCP connections to a server until it stalls; from
// then on it reads what either side sends and forwards nothing, like a
// server that accepts connections and never answers. With first > 0 it
// stalls every connection after the first `first` by itself.
type stallProxy struct {
	ln      net.Listener
	target  string
	first   int
	stalled atomic.Bool

	mu    sync.Mutex
	n     int
	conns []net.Conn
}

// newStallProxy listens on a free loopback port in front of target.
func newStallProxy(t *testing.T, target string, first int) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target, first: first}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

func (p *stallProxy) addr() string { return p.ln.Addr().String() }

// stall stops every connection, open or new, from forwarding anything.
func (p *stallProxy) stall() { p.stalled.Store(true) }

func (p *stallProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.n++
		silent := p.first > 0 && p.n > p.first
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		if silent || p.stalled.Load() {
			go io.Copy(io.Discard, c)
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, s)
		p.mu.Unlock()
		go p.pipe(s, c)
		go p.pipe(c, s)
	}
}

// pipe copies src to dst until it stalls; then it only reads src.
func (p *stallProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.stalled.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

// onLogLine is a log destination that calls fn, once, when a line holding
// substr is written, before the write returns: so fn runs before the code
// that logged the line goes on.
type onLogLine struct {
	syncBuffer
	substr string
	fn     func()
	once   sync.Once
}

func (w *onLogLine) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.substr) {
		w.once.Do(w.fn)
	}
	return w.syncBuffer.Write(p)
}
