package main

import (
	"errors"
	"net"
	"strings"
	"sync"
	"syscall"
)

// listen opens the HTTP listener on addr (host:port, as Validate accepts
// it). The host localhost means both loopback addresses, 127.0.0.1 and
// [::1] (when the machine has IPv6), on one port: a browser sent to
// http://localhost may try either, and net.Listen would bind only the
// first address the name resolves to. Any other addr is net.Listen's.
func listen(addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host != "localhost" {
		return net.Listen("tcp", addr)
	}
	// With port 0 the IPv6 listener takes the port the IPv4 one got, which
	// another process may hold on ::1: try again with another.
	for attempt := 0; ; attempt++ {
		v4, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
		if err != nil {
			return nil, err
		}
		_, got, _ := net.SplitHostPort(v4.Addr().String())
		v6, err := net.Listen("tcp", net.JoinHostPort("::1", got))
		switch {
		case err == nil:
			return newMultiListener(v4, v6), nil
		case errors.Is(err, syscall.EADDRNOTAVAIL), errors.Is(err, syscall.EAFNOSUPPORT):
			return v4, nil // no IPv6 loopback here: 127.0.0.1 alone
		case port == "0" && errors.Is(err, syscall.EADDRINUSE) && attempt < 5:
			v4.Close()
			continue
		}
		v4.Close()
		return nil, err
	}
}

// multiListener accepts the connections of several listeners as one.
type multiListener struct {
	lns   []net.Listener
	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	close sync.Once
}

func newMultiListener(lns ...net.Listener) *multiListener {
	m := &multiListener{lns: lns, conns: make(chan net.Conn), errs: make(chan error), done: make(chan struct{})}
	for _, ln := range lns {
		go m.acceptFrom(ln)
	}
	return m
}

// acceptFrom hands ln's connections and errors to Accept until ln closes.
func (m *multiListener) acceptFrom(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			select { // a temporary error: http.Server waits and accepts again
			case m.errs <- err:
				continue
			case <-m.done:
				return
			}
		}
		select {
		case m.conns <- c:
		case <-m.done:
			c.Close()
			return
		}
	}
}

func (m *multiListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case err := <-m.errs:
		return nil, err
	case <-m.done:
		return nil, net.ErrClosed
	}
}

func (m *multiListener) Close() error {
	var err error
	m.close.Do(func() {
		close(m.done)
		for _, ln := range m.lns {
			err = errors.Join(err, ln.Close())
		}
	})
	return err
}

// Addr returns the addresses of every listener, written as one.
func (m *multiListener) Addr() net.Addr {
	var s []string
	for _, ln := range m.lns {
		s = append(s, ln.Addr().String())
	}
	return multiAddr(strings.Join(s, " "))
}

type multiAddr string

func (multiAddr) Network() string  { return "tcp" }
func (a multiAddr) String() string { return string(a) }
