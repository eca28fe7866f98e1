// Package mailtest starts a real SMTP server (go-smtp) for tests, on
// 127.0.0.1:0, that keeps every message it accepts: the other end of the
// conversation mail.Sender holds, in plain text, with STARTTLS or with
// implicit TLS under a certificate made for the test.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options say what the server offers.
type Options struct {
	// TLS is "starttls" (STARTTLS offered), "tls" (TLS from the first
	// byte) or "" (plain text only).
	TLS string
	// User and Password are the only credentials AUTH PLAIN accepts; with
	// User set, MAIL needs a login. "" offers no AUTH.
	User, Password string
	// RefuseRcpt refuses every recipient (550).
	RefuseRcpt bool
}

// Message is what the server accepted: the envelope and the data.
type Message struct {
	From string
	To   []string
	Data []byte
}

// Server is a running test SMTP server; Start stops it when the test ends.
type Server struct {
	// Addr is host:port (127.0.0.1).
	Addr string
	// RootCAs trusts the server's certificate (for 127.0.0.1, ::1 and
	// localhost).
	RootCAs *x509.CertPool

	mu       sync.Mutex
	messages []Message
	logins   []string
	arrived  chan struct{}
}

// Start starts a server with o on 127.0.0.1:0.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	cert, pool := newCert(t)
	s := &Server{RootCAs: pool, arrived: make(chan struct{}, 1000)}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, o: o}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = logger{t}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch o.TLS {
	case "starttls":
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	case "tls":
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
	default:
		srv.AllowInsecureAuth = true
	}
	s.Addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return s
}

// Messages returns what the server accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Logins returns the users who logged in, in order.
func (s *Server) Logins() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.logins...)
}

// Wait waits up to timeout until the server has accepted n messages in
// all, and returns them; it fails t when they do not come.
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("SMTP server: %d messages after %s, want %d", len(s.Messages()), timeout, n)
		}
	}
}

type logger struct{ t testing.TB }

func (l logger) Printf(format string, v ...any) { l.t.Logf("smtp server: "+format, v...) }
func (l logger) Println(v ...any)               { l.t.Log(append([]any{"smtp server:"}, v...)...) }

func newCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gatehouse test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

type session struct {
	s    *Server
	o    Options
	msg  Message
	user string
}

func (s *session) AuthMechanisms() []string {
	if s.o.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		if user != s.o.User || password != s.o.Password {
			return errors.New("invalid credentials")
		}
		s.user = user
		s.s.mu.Lock()
		s.s.logins = append(s.s.logins, user)
		s.s.mu.Unlock()
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.o.User != "" && s.user == "" {
		return smtp.ErrAuthRequired
	}
	s.msg = Message{From: from}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.o.RefuseRcpt {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = b
	s.s.mu.Lock()
	s.s.messages = append(s.s.messages, s.msg)
	s.s.mu.Unlock()
	select {
	case s.s.arrived <- struct{}{}:
	default:
	}
	return nil
}

func (s *session) Reset()        { s.msg = Message{} }
func (s *session) Logout() error { return nil }
