package conformance

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"net/http"
	netmail "net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-idp/gatehouse/mail/mailtest"
)

// TestPasswordResetByEmail runs "Forgot password?" through the real
// binary configured with smtp_url, against an SMTP server the test runs:
// the link arrives by mail, sets a new password once, ends the session a
// relying party signed in through and revokes its refresh token; the old
// password stops working, the new one works. An unknown account gets the
// same answer and no mail.
func TestPasswordResetByEmail(t *testing.T) {
	t.Parallel()
	smtp := mailtest.Start(t, mailtest.Options{User: "gatehouse", Password: "smtp-pass"})
	s := launch(t, &server{t: t, dir: newStateDir(t), host: "127.0.0.1", backendEnv: suiteBackend(t),
		extraEnv: []string{
			"GATEHOUSE_SMTP_URL=smtp://gatehouse:smtp-pass@" + smtp.Addr + "?tls=none",
			"GATEHOUSE_SMTP_FROM=Gatehouse <login@gatehouse.test>",
		}})
	if strings.Contains(s.log(), "smtp-pass") {
		t.Errorf("the server's log holds the SMTP password:\n%s", s.log())
	}
	const oldPassword = "dana-password-long-enough"
	if out, err := s.gatehouseCLI(oldPassword+"\n", "users", "add", "dana", "--email", "dana@example.com", "--password-stdin"); err != nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	signedIn := newBrowser(t)
	f := newFlow()
	tok, _ := r.exchange(f, r.code(s, f, signedIn.login(r.authURL(f), "dana", oldPassword)))

	if p := signedIn.get(s.issuer + "/account"); p.status != http.StatusOK {
		t.Fatalf("GET /account signed in: got %d, want 200", p.status)
	}

	b := newBrowser(t)
	if p := b.get(s.issuer + "/login"); !strings.Contains(p.body, `href="/login/forgot"`) {
		t.Fatalf("sign-in page: no Forgot password? link\n%s", p.body)
	}
	ask := func(account string) page {
		t.Helper()
		form := b.get(s.issuer + "/login/forgot")
		fields := formFields(form.body)
		fields.Set("account", account)
		return b.postForm(s.issuer+"/login/forgot", fields)
	}
	answer := ask("dana@example.com")
	if answer.status != http.StatusOK || !strings.Contains(answer.body, "If an account exists") {
		t.Fatalf("forgot: %d\n%s", answer.status, answer.body)
	}
	msg := smtp.Wait(t, 1, 15*time.Second)[0]
	if len(msg.To) != 1 || msg.To[0] != "dana@example.com" || msg.From != "login@gatehouse.test" {
		t.Fatalf("mail from %q to %q, want login@gatehouse.test to dana@example.com", msg.From, msg.To)
	}
	if logins := smtp.Logins(); len(logins) != 1 || logins[0] != "gatehouse" {
		t.Errorf("SMTP logins %q, want [gatehouse]", logins)
	}
	m, err := netmail.ReadMessage(bytes.NewReader(msg.Data))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`http://\S+/login/reset\?token=[A-Za-z0-9_-]{43}`).FindString(string(body))
	if !strings.HasPrefix(link, s.issuer+"/login/reset?token=") {
		t.Fatalf("no reset link under the issuer in the mail:\n%s", body)
	}

	if other := ask("nobody@example.com"); other.status != answer.status || other.body != answer.body {
		t.Errorf("unknown account: got %d, want the same answer as for dana\n%s", other.status, other.body)
	}

	form := b.get(link)
	if form.status != http.StatusOK {
		t.Fatalf("GET the link: %d\n%s", form.status, form.body)
	}
	const newPassword = "dana-new-password-long-enough"
	fields := formFields(form.body)
	fields.Set("new", newPassword)
	fields.Set("again", newPassword)
	if done := b.postForm(s.issuer+"/login/reset", fields); done.status != http.StatusOK || !strings.Contains(done.body, "Your password is changed") {
		t.Fatalf("reset: %d\n%s", done.status, done.body)
	}
	if again := b.postForm(s.issuer+"/login/reset", fields); again.status != http.StatusBadRequest || !strings.Contains(again.body, "/login/forgot") {
		t.Errorf("the link used twice: %d, want 400 offering a new link", again.status)
	}
	if p := signedIn.get(s.issuer + "/account"); p.status != http.StatusSeeOther || !strings.Contains(p.location, "/login") {
		t.Errorf("the session opened with the old password: GET /account got %d to %q, want the sign-in page", p.status, p.location)
	}
	if _, err := r.refresh(tok.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh token issued before the reset: got %v, want invalid_grant", err)
	}
	if p := newBrowser(t).postLogin(s, "dana", oldPassword); p.status != http.StatusOK || !strings.Contains(p.body, "Incorrect username or password") {
		t.Errorf("the old password: got %d, want the form again", p.status)
	}
	if p := newBrowser(t).postLogin(s, "dana", newPassword); p.status != http.StatusSeeOther {
		t.Errorf("the new password: got %d, want 303", p.status)
	}
	if n := len(smtp.Messages()); n != 1 {
		t.Errorf("%d mails, want 1 (none for the unknown account)", n)
	}
	events := auditEvents(t, s, func(e map[string][]map[string]string) bool {
		return len(e["password_reset_requested"]) >= 2 && len(e["password_reset_completed"]) >= 1
	})
	if n := len(events["password_reset_completed"]); n != 1 {
		t.Errorf("%d password_reset_completed events, want 1", n)
	}
}
