// Package mail sends one plain-text message over SMTP: the one thing
// Gatehouse mails is a password-reset link. The server is named by a URL
// (ParseURL), the connection is encrypted unless the server is on this
// machine, and every message is bounded by a timeout.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/netip"
	"net/smtp"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// TLSMode is how the connection to the SMTP server is protected.
type TLSMode string

const (
	// StartTLS (the default) connects in plain text and upgrades with
	// STARTTLS before anything else is said; a server that does not offer
	// STARTTLS is refused.
	StartTLS TLSMode = "starttls"
	// ImplicitTLS speaks TLS from the first byte (smtps://, port 465).
	ImplicitTLS TLSMode = "tls"
	// NoTLS sends in plain text: only to a loopback host.
	NoTLS TLSMode = "none"
)

// DefaultTimeout bounds one message, connection included, when
// Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Server is an SMTP server as ParseURL reads it.
type Server struct {
	Host string
	Port int
	TLS  TLSMode
	// Username and Password authenticate with AUTH PLAIN (always inside
	// TLS, or on a loopback host); both empty means no authentication.
	Username string
	Password string
}

// Addr is host:port.
func (s Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// ParseURL reads an SMTP server URL:
//
//	smtp://[user:password@]host[:port][?tls=starttls|tls|none]
//	smtps://[user:password@]host[:port]
//
// The default mode is starttls (port 587); tls, or the smtps scheme, is
// implicit TLS (port 465); none (port 25) is allowed only for a loopback
// host (localhost, 127.0.0.0/8, ::1). Errors never contain the password.
func ParseURL(raw string) (Server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the URL, password and all.
		return Server{}, errors.New("not a URL of the form smtp://[user:password@]host[:port][?tls=starttls|tls|none]")
	}
	var s Server
	switch u.Scheme {
	case "smtp":
		s.TLS = StartTLS
	case "smtps":
		s.TLS = ImplicitTLS
	default:
		return Server{}, fmt.Errorf("scheme %q: want smtp or smtps", u.Scheme)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.Fragment != "" || u.RawFragment != "" {
		return Server{}, errors.New("an SMTP URL has no path or fragment")
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Server{}, errors.New("the query cannot be read")
	}
	for k, v := range q {
		if k != "tls" || len(v) != 1 {
			return Server{}, fmt.Errorf("query parameter %q: only one tls=starttls|tls|none is known", k)
		}
	}
	if v := q.Get("tls"); v != "" {
		m := TLSMode(v)
		if m != StartTLS && m != ImplicitTLS && m != NoTLS {
			return Server{}, fmt.Errorf("tls=%q: want starttls, tls or none", v)
		}
		if u.Scheme == "smtps" && m != ImplicitTLS {
			return Server{}, fmt.Errorf("smtps:// is implicit TLS; tls=%s contradicts it", v)
		}
		s.TLS = m
	}
	s.Host = u.Hostname()
	if s.Host == "" {
		return Server{}, errors.New("the host is missing")
	}
	s.Port = map[TLSMode]int{StartTLS: 587, ImplicitTLS: 465, NoTLS: 25}[s.TLS]
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Server{}, fmt.Errorf("port %q: want 1-65535", p)
		}
		s.Port = n
	}
	if s.TLS == NoTLS && !loopback(s.Host) {
		return Server{}, fmt.Errorf("tls=none sends mail and passwords in plain text: only allowed for a loopback host, not %q", s.Host)
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
		if s.Username == "" {
			return Server{}, errors.New("a password without a user name")
		}
	}
	return s, nil
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Config configures a Sender. URL and From are required.
type Config struct {
	// URL names the server (ParseURL).
	URL string
	// From is the sender: an address, optionally with a name
	// ("Gatehouse <login@example.com>").
	From string
	// Timeout bounds one message from the connection to QUIT
	// (DefaultTimeout when zero).
	Timeout time.Duration
	// RootCAs verifies the server's certificate; nil means the system's.
	RootCAs *x509.CertPool
	// Hello is the name given in EHLO (default "localhost").
	Hello  string
	Now    func() time.Time
	Random io.Reader
}

// Sender sends messages through one SMTP server. Create it with New; it is
// safe for concurrent use (each Send is its own connection).
type Sender struct {
	server Server
	from   *netmail.Address
	cfg    Config
}

// New checks cfg and returns a Sender. Its errors name what is wrong and
// never contain the password.
func New(cfg Config) (*Sender, error) {
	s, err := ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("smtp_url: %w", err)
	}
	from, err := parseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp_from: %w", err)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("smtp timeout %s: want > 0", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Hello == "" {
		cfg.Hello = "localhost"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Random == nil {
		cfg.Random = rand.Reader
	}
	return &Sender{server: s, from: from, cfg: cfg}, nil
}

// Server is the server the Sender sends through.
func (s *Sender) Server() Server { return s.server }

// ErrBadHeader means an address or subject given to Send could not go
// into a header as it is (a line break, another control character, or an
// address net/mail cannot read).
var ErrBadHeader = errors.New("mail: bad header value")

// CheckAddress says what is wrong with s as a sender or recipient (one
// address, optionally with a name), or nil.
func CheckAddress(s string) error {
	_, err := parseAddress(s)
	return err
}

// parseAddress reads one address (with an optional name), refusing line
// breaks and other control characters anywhere in it.
func parseAddress(s string) (*netmail.Address, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: the address is empty", ErrBadHeader)
	}
	if hasControl(s) {
		return nil, fmt.Errorf("%w: %q has a line break or control character", ErrBadHeader, s)
	}
	a, err := netmail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %q is not an email address: %w", ErrBadHeader, s, err)
	}
	if hasControl(a.Address) || !strings.Contains(a.Address, "@") {
		return nil, fmt.Errorf("%w: %q is not an email address", ErrBadHeader, s)
	}
	return a, nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// Send sends one text/plain UTF-8 message to the address to (a bare
// address or "Name <address>"). It fails with ErrBadHeader, before
// connecting, when to or subject cannot go into a header; otherwise with
// what the connection or the server said, within the Sender's timeout or
// when ctx ends.
func (s *Sender) Send(ctx context.Context, to, subject, body string) error {
	rcpt, err := parseAddress(to)
	if err != nil {
		return err
	}
	if hasControl(subject) {
		return fmt.Errorf("%w: the subject has a line break or control character", ErrBadHeader)
	}
	msg, err := s.message(rcpt, subject, body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	if err := s.send(ctx, rcpt.Address, msg); err != nil {
		return fmt.Errorf("mail: %s: %w", s.server.Addr(), err)
	}
	return nil
}

// message builds the message: headers (From, To, Subject, Date,
// Message-ID, MIME) written by net/mail and mime, and the body in
// quoted-printable with CRLF line ends. Dots at the start of a line are
// doubled by DATA's writer (net/textproto).
func (s *Sender) message(to *netmail.Address, subject, body string) ([]byte, error) {
	id := make([]byte, 16)
	if _, err := io.ReadFull(s.cfg.Random, id); err != nil {
		return nil, fmt.Errorf("mail: message id: %w", err)
	}
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	var b bytes.Buffer
	header := func(name, value string) { b.WriteString(name + ": " + value + "\r\n") }
	header("From", s.from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", s.cfg.Now().Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	body = strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", "\n")
	if _, err := qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n"))); err != nil {
		return nil, fmt.Errorf("mail: body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return nil, fmt.Errorf("mail: body: %w", err)
	}
	// DATA's writer ends the last line, if it is not ended, before the
	// final dot.
	return b.Bytes(), nil
}

// send holds one SMTP conversation: connect (TLS at once in ImplicitTLS),
// EHLO, STARTTLS (required in StartTLS), AUTH PLAIN when a user is set,
// MAIL, RCPT, DATA, QUIT. The connection's deadline is ctx's, and ctx
// ending cuts it.
func (s *Sender) send(ctx context.Context, to string, msg []byte) error {
	tlsConfig := &tls.Config{ServerName: s.server.Host, RootCAs: s.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	var conn net.Conn
	var err error
	if s.server.TLS == ImplicitTLS {
		d := tls.Dialer{Config: tlsConfig}
		conn, err = d.DialContext(ctx, "tcp", s.server.Addr())
	} else {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "tcp", s.server.Addr())
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return err
		}
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, s.server.Host)
	if err != nil {
		return s.cut(ctx, err)
	}
	defer c.Close()
	if err := c.Hello(s.cfg.Hello); err != nil {
		return s.cut(ctx, err)
	}
	if s.server.TLS == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("the server does not offer STARTTLS (set ?tls=tls for implicit TLS, or ?tls=none on a loopback host)")
		}
		if err := c.StartTLS(tlsConfig); err != nil {
			return s.cut(ctx, fmt.Errorf("STARTTLS: %w", err))
		}
	}
	if s.server.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("a user is set but the server offers no AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", s.server.Username, s.server.Password, s.server.Host)); err != nil {
			return s.cut(ctx, fmt.Errorf("AUTH PLAIN: %w", err))
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return s.cut(ctx, fmt.Errorf("MAIL FROM: %w", err))
	}
	if err := c.Rcpt(to); err != nil {
		return s.cut(ctx, fmt.Errorf("RCPT TO: %w", err))
	}
	w, err := c.Data()
	if err != nil {
		return s.cut(ctx, fmt.Errorf("DATA: %w", err))
	}
	if _, err := w.Write(msg); err != nil {
		return s.cut(ctx, fmt.Errorf("DATA: %w", err))
	}
	if err := w.Close(); err != nil {
		return s.cut(ctx, fmt.Errorf("DATA: %w", err))
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// cut says that the time ran out, or ctx ended, when that is why err
// happened: the connection's deadline is ctx's, so it may pass a moment
// before ctx reports it.
func (s *Sender) cut(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
	}
	return err
}
