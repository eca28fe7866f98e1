package mail

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/mail/mailtest"
)

var fixedNow = time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)

func newSender(t *testing.T, url string, pool *x509.CertPool, timeout time.Duration) *Sender {
	t.Helper()
	s, err := New(Config{URL: url, From: "Gatehouse <login@gatehouse.test>", Timeout: timeout, RootCAs: pool,
		Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// readMessage parses what the server received as a mail message and
// returns its headers and decoded body.
func readMessage(t *testing.T, data []byte) (netmail.Header, string) {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("received message does not parse: %v\n%s", err, data)
	}
	if got := m.Header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding: got %q, want quoted-printable", got)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return m.Header, string(body)
}

// TestSendModes sends one message in each TLS mode to a real server and
// checks what arrived: envelope, headers and body.
func TestSendModes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server mailtest.Options
		url    func(addr string) string
	}{
		{"starttls", mailtest.Options{TLS: "starttls"}, func(a string) string { return "smtp://" + a }},
		{"starttls with auth", mailtest.Options{TLS: "starttls", User: "mailer", Password: "p@ss w:rd/%"},
			func(a string) string { return "smtp://mailer:p%40ss%20w%3Ard%2F%25@" + a + "?tls=starttls" }},
		{"implicit tls", mailtest.Options{TLS: "tls"}, func(a string) string { return "smtps://" + a }},
		{"implicit tls by query", mailtest.Options{TLS: "tls", User: "u", Password: "pw"},
			func(a string) string { return "smtp://u:pw@" + a + "?tls=tls" }},
		{"plain on loopback", mailtest.Options{}, func(a string) string { return "smtp://" + a + "?tls=none" }},
		{"plain on loopback with auth", mailtest.Options{User: "u", Password: "pw"},
			func(a string) string { return "smtp://u:pw@" + a + "?tls=none" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := mailtest.Start(t, tc.server)
			s := newSender(t, tc.url(ts.Addr), ts.RootCAs, 5*time.Second)
			body := "Hello Zoë,\n\nopen https://login.example/reset?token=abc\n.\nA line that is rather long so that quoted-printable has to wrap it somewhere past seventy-six characters.\n"
			err := s.Send(t.Context(), "Zoë Example <zoe@example.com>", "Réinitialiser your password", body)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := ts.Messages()
			if len(msgs) != 1 {
				t.Fatalf("server received %d messages, want 1", len(msgs))
			}
			m := msgs[0]
			if m.From != "login@gatehouse.test" || len(m.To) != 1 || m.To[0] != "zoe@example.com" {
				t.Errorf("envelope: got from %q to %q, want login@gatehouse.test to [zoe@example.com]", m.From, m.To)
			}
			if tc.server.User != "" {
				if len(ts.Logins()) != 1 || ts.Logins()[0] != tc.server.User {
					t.Errorf("authenticated as %q, want [%s]", ts.Logins(), tc.server.User)
				}
			}
			h, got := readMessage(t, m.Data)
			if want := strings.ReplaceAll(body, "\n", "\r\n"); got != want {
				t.Errorf("body: got %q, want %q", got, want)
			}
			var dec mime.WordDecoder
			subject, err := dec.DecodeHeader(h.Get("Subject"))
			if err != nil || subject != "Réinitialiser your password" {
				t.Errorf("Subject: got %q (%v), want the subject sent", subject, err)
			}
			to, err := h.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Name != "Zoë Example" || to[0].Address != "zoe@example.com" {
				t.Errorf("To: got %v (%v), want Zoë Example <zoe@example.com>", to, err)
			}
			from, err := h.AddressList("From")
			if err != nil || len(from) != 1 || from[0].Address != "login@gatehouse.test" || from[0].Name != "Gatehouse" {
				t.Errorf("From: got %v (%v), want Gatehouse <login@gatehouse.test>", from, err)
			}
			if d, err := h.Date(); err != nil || !d.Equal(fixedNow) {
				t.Errorf("Date: got %v (%v), want %v", d, err, fixedNow)
			}
			if id := h.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@gatehouse.test>") || len(id) != len("<@gatehouse.test>")+32 {
				t.Errorf("Message-ID: got %q, want <32 hex digits@gatehouse.test>", id)
			}
			if ct := h.Get("Content-Type"); ct != "text/plain; charset=utf-8" || h.Get("Mime-Version") != "1.0" {
				t.Errorf("Content-Type %q, MIME-Version %q: want text/plain; charset=utf-8 and 1.0", ct, h.Get("Mime-Version"))
			}
		})
	}
}

// TestStartTLSRequired checks that in the default mode a server that does
// not offer STARTTLS gets nothing: not the message, not the password.
func TestStartTLSRequired(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{User: "u", Password: "secret-pw"})
	s := newSender(t, "smtp://u:secret-pw@"+ts.Addr, ts.RootCAs, 5*time.Second)
	err := s.Send(t.Context(), "zoe@example.com", "s", "b")
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("Send to a server without STARTTLS: got %v, want an error saying it offers no STARTTLS", err)
	}
	if strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("error %q contains the password", err)
	}
	if n := len(ts.Messages()); n != 0 || len(ts.Logins()) != 0 {
		t.Errorf("server got %d messages and %d logins, want none", n, len(ts.Logins()))
	}
}

// TestUntrustedCertificate checks that a certificate not signed by a
// trusted root is refused, in both TLS modes.
func TestUntrustedCertificate(t *testing.T) {
	for _, mode := range []string{"starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			ts := mailtest.Start(t, mailtest.Options{TLS: mode})
			url := "smtp://" + ts.Addr + "?tls=" + mode
			s := newSender(t, url, x509.NewCertPool(), 5*time.Second)
			err := s.Send(t.Context(), "zoe@example.com", "s", "b")
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &unknown) {
				t.Fatalf("Send with an untrusted certificate: got %v, want x509.UnknownAuthorityError", err)
			}
			if n := len(ts.Messages()); n != 0 {
				t.Errorf("server got %d messages, want 0", n)
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{TLS: "starttls", User: "u", Password: "right"})
	s := newSender(t, "smtp://u:wrong@"+ts.Addr, ts.RootCAs, 5*time.Second)
	err := s.Send(t.Context(), "zoe@example.com", "s", "b")
	if err == nil || !strings.Contains(err.Error(), "AUTH PLAIN") {
		t.Fatalf("Send with a wrong password: got %v, want an AUTH PLAIN error", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error %q contains the password", err)
	}
}

func TestRecipientRefused(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{TLS: "starttls", RefuseRcpt: true})
	s := newSender(t, "smtp://"+ts.Addr, ts.RootCAs, 5*time.Second)
	err := s.Send(t.Context(), "zoe@example.com", "s", "b")
	if err == nil || !strings.Contains(err.Error(), "RCPT TO") || !strings.Contains(err.Error(), "550") {
		t.Fatalf("Send to a refused recipient: got %v, want RCPT TO ... 550", err)
	}
}

// TestUnreachableAndHanging checks that a server that refuses connections
// fails at once, and one that accepts and never answers (or never answers
// after the greeting) fails within the timeout.
func TestUnreachableAndHanging(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	s := newSender(t, "smtp://"+closed+"?tls=none", nil, 5*time.Second)
	start := time.Now()
	if err := s.Send(t.Context(), "zoe@example.com", "s", "b"); err == nil {
		t.Errorf("Send to a closed port: got nil, want an error")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send to a closed port took %s, want an immediate error", d)
	}

	for _, tc := range []struct {
		name  string
		greet string
	}{{"silent", ""}, {"greets then hangs", "220 hang.test ESMTP\r\n"}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var conns []net.Conn
			var mu sync.Mutex
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					mu.Lock()
					conns = append(conns, c)
					mu.Unlock()
					io.WriteString(c, tc.greet)
				}
			}()
			t.Cleanup(func() {
				ln.Close()
				mu.Lock()
				for _, c := range conns {
					c.Close()
				}
				mu.Unlock()
			})
			s := newSender(t, "smtp://"+ln.Addr().String(), nil, 300*time.Millisecond)
			start := time.Now()
			err = s.Send(t.Context(), "zoe@example.com", "s", "b")
			d := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Send to a hanging server: got %v, want context.DeadlineExceeded", err)
			}
			if d < 250*time.Millisecond || d > 2*time.Second {
				t.Errorf("Send to a hanging server returned after %s, want about the 300ms timeout", d)
			}
		})
	}

	// A caller's context ending cuts the conversation too.
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln2.Close()
	go func() {
		c, err := ln2.Accept()
		if err == nil {
			defer c.Close()
			io.Copy(io.Discard, c)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	s = newSender(t, "smtp://"+ln2.Addr().String(), nil, time.Minute)
	start = time.Now()
	if err := s.Send(ctx, "zoe@example.com", "s", "b"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send with a context ending: got %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Send with a context ending after 200ms took %s", d)
	}
}

// TestHeaderInjection tries to smuggle headers or recipients through the
// address and the subject: each is refused before any connection.
func TestHeaderInjection(t *testing.T) {
	ts := mailtest.Start(t, mailtest.Options{TLS: "starttls"})
	s := newSender(t, "smtp://"+ts.Addr, ts.RootCAs, 5*time.Second)
	for _, tc := range []struct{ to, subject string }{
		{"zoe@example.com\r\nBcc: evil@example.com", "s"},
		{"zoe@example.com\nBcc: evil@example.com", "s"},
		{"\"Zoë\r\nBcc: evil@example.com\" <zoe@example.com>", "s"},
		{"zoe@example.com, evil@example.com", "s"},
		{"zoe@example.com>\r\nRCPT TO:<evil@example.com", "s"},
		{"not an address", "s"},
		{"", "s"},
		{"zoe", "s"},
		{"zoe@example.com", "hello\r\nBcc: evil@example.com"},
		{"zoe@example.com", "hello\nBcc: evil@example.com"},
		{"zoe@example.com", "hello\rBcc: evil@example.com"},
		{"zoe@example.com", "nul\x00byte"},
	} {
		err := s.Send(t.Context(), tc.to, tc.subject, "body")
		if !errors.Is(err, ErrBadHeader) {
			t.Errorf("Send(to %q, subject %q): got %v, want ErrBadHeader", tc.to, tc.subject, err)
		}
	}
	if n := len(ts.Messages()); n != 0 {
		t.Errorf("server received %d messages, want 0", n)
	}
	// A body line that is only a dot or starts like a header stays body.
	if err := s.Send(t.Context(), "zoe@example.com", "s", ".\nBcc: evil@example.com\n.\n"); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := ts.Messages()
	if len(msgs) != 1 || len(msgs[0].To) != 1 {
		t.Fatalf("got %d messages, want 1 with one recipient", len(msgs))
	}
	h, body := readMessage(t, msgs[0].Data)
	if h.Get("Bcc") != "" || body != ".\r\nBcc: evil@example.com\r\n.\r\n" {
		t.Errorf("Bcc header %q, body %q: want no Bcc and the body as sent", h.Get("Bcc"), body)
	}
}

// TestParseURL tries good and bad server URLs.
func TestParseURL(t *testing.T) {
	good := []struct {
		url  string
		want Server
	}{
		{"smtp://mail.example.com", Server{Host: "mail.example.com", Port: 587, TLS: StartTLS}},
		{"smtp://mail.example.com:2525?tls=starttls", Server{Host: "mail.example.com", Port: 2525, TLS: StartTLS}},
		{"smtp://u:p%40ss@mail.example.com?tls=tls", Server{Host: "mail.example.com", Port: 465, TLS: ImplicitTLS, Username: "u", Password: "p@ss"}},
		{"smtps://mail.example.com", Server{Host: "mail.example.com", Port: 465, TLS: ImplicitTLS}},
		{"smtps://mail.example.com:4650/", Server{Host: "mail.example.com", Port: 4650, TLS: ImplicitTLS}},
		{"smtp://localhost?tls=none", Server{Host: "localhost", Port: 25, TLS: NoTLS}},
		{"smtp://127.0.0.1:1025?tls=none", Server{Host: "127.0.0.1", Port: 1025, TLS: NoTLS}},
		{"smtp://[::1]:1025?tls=none", Server{Host: "::1", Port: 1025, TLS: NoTLS}},
		{"smtp://apikey@mail.example.com", Server{Host: "mail.example.com", Port: 587, TLS: StartTLS, Username: "apikey"}},
	}
	for _, tc := range good {
		got, err := ParseURL(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q): got %+v, %v; want %+v", tc.url, got, err, tc.want)
		}
	}
	bad := []struct{ url, want string }{
		{"http://mail.example.com", `scheme "http"`},
		{"mail.example.com", `scheme ""`},
		{"smtp://", "host is missing"},
		{"smtp://:25", "host is missing"},
		{"smtp://mail.example.com?tls=none", "only allowed for a loopback host"},
		{"smtp://10.0.0.1?tls=none", "only allowed for a loopback host"},
		{"smtp://localhost.evil.test?tls=none", "only allowed for a loopback host"},
		{"smtp://mail.example.com?tls=ssl", `tls="ssl"`},
		{"smtp://mail.example.com?tls=STARTTLS", `tls="STARTTLS"`},
		{"smtp://mail.example.com?tls=tls&tls=none", `query parameter "tls"`},
		{"smtp://mail.example.com?insecure=1", `query parameter "insecure"`},
		{"smtps://mail.example.com?tls=starttls", "contradicts"},
		{"smtps://localhost?tls=none", "contradicts"},
		{"smtp://mail.example.com:0", `port "0"`},
		{"smtp://mail.example.com:70000", `port "70000"`},
		{"smtp://mail.example.com/path", "no path"},
		{"smtp://mail.example.com#frag", "no path or fragment"},
		{"smtp://:secret@mail.example.com", "password without a user"},
		{"smtp://u:secret@mail example.com", "not a URL"},
	}
	for _, tc := range bad {
		_, err := ParseURL(tc.url)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseURL(%q): got %v, want an error containing %q", tc.url, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q): error %q contains the password", tc.url, err)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{URL: "", From: "a@example.com"}, "smtp_url"},
		{Config{URL: "smtp://u:secret@mail.example.com?tls=none", From: "a@example.com"}, "smtp_url: tls=none"},
		{Config{URL: "smtp://mail.example.com"}, "smtp_from: mail: bad header value: the address is empty"},
		{Config{URL: "smtp://mail.example.com", From: "gatehouse"}, "smtp_from"},
		{Config{URL: "smtp://mail.example.com", From: "a@example.com\r\nBcc: b@example.com"}, "smtp_from"},
		{Config{URL: "smtp://mail.example.com", From: "a@example.com, b@example.com"}, "smtp_from"},
		{Config{URL: "smtp://mail.example.com", From: "a@example.com", Timeout: -time.Second}, "timeout"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): got %v, want an error containing %q", tc.cfg, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("New: error %q contains the password", err)
		}
	}
}
