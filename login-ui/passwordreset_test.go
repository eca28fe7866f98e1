package loginui

import (
	"bytes"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/mail"
	"github.com/gatehouse-idp/gatehouse/mail/mailtest"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/storagetest"
)

// resetEnv is a UI whose reset links go through a real SMTP server
// (mailtest, STARTTLS) by the real sender.
type resetEnv struct {
	*uiEnv
	smtp *mailtest.Server
}

func newResetEnv(t *testing.T) *resetEnv {
	t.Helper()
	srv := mailtest.Start(t, mailtest.Options{TLS: "starttls", User: "gatehouse", Password: "smtp secret"})
	sender, err := mail.New(mail.Config{URL: "smtp://gatehouse:smtp%20secret@" + srv.Addr, From: "Gatehouse <login@op.example>",
		RootCAs: srv.RootCAs, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	env := newUIEnvWith(t, func(c *Config) { c.Mailer = sender })
	return &resetEnv{uiEnv: env, smtp: srv}
}

// forgot posts the reset request form from ip and waits until the work
// it queued is done.
func (e *resetEnv) forgot(t *testing.T, account, ip string) *httptestResponse {
	t.Helper()
	form := url.Values{"csrf_token": {e.u.csrfToken("forgot", testBrowser, "")}, "account": {account}}
	req := request(http.MethodPost, "/login/forgot", form, BrowserCookie, testBrowser)
	req.RemoteAddr = net.JoinHostPort(ip, "4711")
	// Neither the Host nor a forwarding header changes the link.
	req.Host = "evil.example"
	req.Header.Set("X-Forwarded-Host", "evil.example")
	rec := e.do(req)
	e.u.resetWork.Wait()
	return &httptestResponse{rec.Code, rec.Header().Get("Location"), rec.Body.String()}
}

var resetLink = regexp.MustCompile(`https://\S+`)

// linkIn reads message m as mail and returns the reset link its body
// holds, checking the recipient.
func linkIn(t *testing.T, m mailtest.Message, to string) string {
	t.Helper()
	if len(m.To) != 1 || m.To[0] != to {
		t.Fatalf("mail to %q, want [%s]", m.To, to)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("received mail does not parse: %v", err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	links := resetLink.FindAllString(string(body), -1)
	if len(links) != 1 {
		t.Fatalf("mail body has links %q, want one; body:\n%s", links, body)
	}
	if !strings.HasPrefix(links[0], testIssuer+"/login/reset?token=") {
		t.Fatalf("link %q, want one under the issuer %s/login/reset", links[0], testIssuer)
	}
	return links[0]
}

// pathOf is the path and query of link.
func pathOf(t *testing.T, link string) (string, string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI(), u.Query().Get("token")
}

func (e *resetEnv) resetForm(token, next, again string) url.Values {
	return url.Values{"csrf_token": {e.u.csrfToken("reset", testBrowser, token)}, "token": {token}, "new": {next}, "again": {again}}
}

func (e *resetEnv) postReset(form url.Values, cookies ...string) *httptestResponse {
	rec := e.do(request(http.MethodPost, "/login/reset", form, append([]string{BrowserCookie, testBrowser}, cookies...)...))
	return &httptestResponse{rec.Code, rec.Header().Get("Location"), rec.Body.String()}
}

func (e *resetEnv) getReset(target string) *httptestResponse {
	rec := e.do(request(http.MethodGet, target, nil, BrowserCookie, testBrowser))
	return &httptestResponse{rec.Code, rec.Header().Get("Location"), rec.Body.String()}
}

func wantInvalidLink(t *testing.T, what string, got *httptestResponse) {
	t.Helper()
	if got.status != http.StatusBadRequest || !strings.Contains(got.body, "This link does not work") ||
		!strings.Contains(got.body, `href="/login/forgot"`) {
		t.Errorf("%s: got %d, want 400 and the page offering a new link; body %s", what, got.status, got.body)
	}
}

func eventsOf(env *uiEnv, kind string) []storage.AuditEvent {
	var out []storage.AuditEvent
	for _, ev := range *env.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// TestPasswordReset is the whole flow: a reset request mails a link
// (through a real SMTP server, built from the issuer whatever the Host
// header), the link sets a new password once, every session of the user
// ends and their refresh tokens are revoked, and the browser is not
// signed in. Bad input tried: two new passwords that differ, one too
// short, no CSRF token, a CSRF token for another link, the link used
// twice, a token that is not ours.
func TestPasswordReset(t *testing.T) {
	env := newResetEnv(t)
	user := env.addUser(t, "alice", testPassword, false)
	s1 := env.signedIn(t, user, []string{"pwd"}, testNow.Add(-time.Hour))
	s2 := env.signedIn(t, user, []string{"pwd"}, testNow.Add(-time.Hour))
	grant := &storage.RefreshGrant{TokenHash: "h1", FamilyID: "fam1", ClientID: "web", UserID: user.ID, Scopes: []string{"openid"},
		CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour), AbsoluteExpiresAt: testNow.Add(24 * time.Hour)}
	if err := env.store.CreateRefreshGrant(t.Context(), grant); err != nil {
		t.Fatal(err)
	}

	page := env.do(request(http.MethodGet, "/login", nil, BrowserCookie, testBrowser))
	if !strings.Contains(page.Body.String(), `<a href="/login/forgot">Forgot password?</a>`) {
		t.Errorf("sign-in page has no Forgot password? link: %s", page.Body)
	}
	if rec := env.do(request(http.MethodGet, "/login/forgot", nil, BrowserCookie, testBrowser)); rec.Code != http.StatusOK ||
		!strings.Contains(rec.Body.String(), env.u.csrfToken("forgot", testBrowser, "")) {
		t.Fatalf("GET /login/forgot: %d, want 200 with the form's CSRF token; body %s", rec.Code, rec.Body)
	}
	got := env.forgot(t, "alice", "192.0.2.10")
	if got.status != http.StatusOK || !strings.Contains(got.body, "If an account exists") {
		t.Fatalf("POST /login/forgot: %d, want 200 and the neutral answer; body %s", got.status, got.body)
	}
	msgs := env.smtp.Wait(t, 1, 5*time.Second)
	link := linkIn(t, msgs[0], "alice@example.com")
	target, token := pathOf(t, link)
	if len(token) != 43 {
		t.Fatalf("token %q: want 43 characters (256 bits)", token)
	}
	if _, err := env.store.PasswordReset(t.Context(), token, *env.clock); err == nil {
		t.Errorf("the token itself is stored; want only its hash")
	}
	req := eventsOf(env.uiEnv, EventPasswordResetRequested)
	if len(req) != 1 || req[0].UserID != user.ID || req[0].Detail != "link sent" || req[0].IP != "192.0.2.10" {
		t.Errorf("requested events %+v, want one for %s, link sent, from 192.0.2.10", req, user.ID)
	}

	if got := env.getReset(target); got.status != http.StatusOK || !strings.Contains(got.body, "Choose a new password") {
		t.Fatalf("GET the link: %d; body %s", got.status, got.body)
	}
	const next = "a brand new and long passphrase"
	for _, tc := range []struct {
		name string
		form url.Values
		want int
		text string
	}{
		{"passwords differ", env.resetForm(token, next, next+"!"), http.StatusOK, "not the same"},
		{"too short", env.resetForm(token, "short", "short"), http.StatusOK, "at least 15 characters"},
		{"no CSRF token", url.Values{"token": {token}, "new": {next}, "again": {next}}, http.StatusForbidden, "Form expired"},
		{"CSRF token of another link", url.Values{"csrf_token": {env.u.csrfToken("reset", testBrowser, strings.Repeat("A", 43))},
			"token": {token}, "new": {next}, "again": {next}}, http.StatusForbidden, "Form expired"},
	} {
		if got := env.postReset(tc.form); got.status != tc.want || !strings.Contains(got.body, tc.text) {
			t.Errorf("%s: got %d, want %d saying %q; body %s", tc.name, got.status, tc.want, tc.text, got.body)
		}
	}
	if _, err := env.u.checkPassword(t.Context(), "alice", testPassword); err != nil {
		t.Fatalf("bad input changed the password: %v", err)
	}

	done := env.postReset(env.resetForm(token, next, next), SessionCookie, s1)
	if done.status != http.StatusOK || !strings.Contains(done.body, "Your password is changed") {
		t.Fatalf("reset: %d; body %s", done.status, done.body)
	}
	if _, err := env.u.checkPassword(t.Context(), "alice", testPassword); err == nil {
		t.Error("the old password still works")
	}
	if _, err := env.u.checkPassword(t.Context(), "alice", next); err != nil {
		t.Errorf("the new password: %v", err)
	}
	for _, s := range []string{s1, s2} {
		if _, _, err := env.u.CurrentSession(t.Context(), request(http.MethodGet, "/", nil, SessionCookie, s)); err == nil {
			t.Error("a session survived the reset")
		}
	}
	if revoked, err := env.store.FamilyRevoked(t.Context(), "fam1"); err != nil || !revoked {
		t.Errorf("refresh family: revoked %v, %v; want revoked", revoked, err)
	}
	if n := len(eventsOf(env.uiEnv, EventPasswordResetCompleted)); n != 1 {
		t.Errorf("%d password_reset_completed events, want 1", n)
	}
	if n := countEvents(env.uiEnv, EventSessionEnded); n != 2 {
		t.Errorf("%d session_ended events, want 2", n)
	}

	wantInvalidLink(t, "GET the link after use", env.getReset(target))
	wantInvalidLink(t, "POST the link again", env.postReset(env.resetForm(token, next+" again", next+" again")))
	if _, err := env.u.checkPassword(t.Context(), "alice", next); err != nil {
		t.Errorf("the second use changed the password: %v", err)
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", 43), strings.Repeat("*", 43), token + "A", "../../x"} {
		wantInvalidLink(t, "GET /login/reset?token="+bad, env.getReset("/login/reset?token="+url.QueryEscape(bad)))
	}
}

// TestPasswordResetDoesNotSignIn: the link signs no one in and skips no
// second factor: after it, the new password leads to the code, not to a
// session.
func TestPasswordResetDoesNotSignIn(t *testing.T) {
	env := newResetEnv(t)
	user := env.addUser(t, "alice", testPassword, false)
	env.enrolTOTP(t, user.ID)
	env.forgot(t, "alice", "192.0.2.10")
	target, token := pathOf(t, linkIn(t, env.smtp.Wait(t, 1, 5*time.Second)[0], "alice@example.com"))
	if got := env.getReset(target); got.status != http.StatusOK {
		t.Fatalf("GET the link: %d", got.status)
	}
	const next = "a brand new and long passphrase"
	rec := env.do(request(http.MethodPost, "/login/reset", env.resetForm(token, next, next), BrowserCookie, testBrowser))
	if rec.Code != http.StatusOK || responseCookie(rec, SessionCookie) != nil && responseCookie(rec, SessionCookie).Value != "" {
		t.Fatalf("reset: %d, session cookie %+v; want 200 and no session", rec.Code, responseCookie(rec, SessionCookie))
	}
	if !strings.Contains(rec.Body.String(), "your second factor as before") {
		t.Errorf("done page does not say the second factor is still asked: %s", rec.Body)
	}
	login := env.do(request(http.MethodPost, "/login", env.loginForm("", "alice", next), BrowserCookie, testBrowser))
	if login.Code != http.StatusSeeOther || login.Header().Get("Location") != "/login/factor" || responseCookie(login, SessionCookie) != nil {
		t.Errorf("sign-in with the new password: %d to %q; want 303 to /login/factor and no session", login.Code, login.Header().Get("Location"))
	}
}

// TestPasswordResetLinkEnds: a link works until 15 minutes after it was
// made, and not once the password changed by other means.
func TestPasswordResetLinkEnds(t *testing.T) {
	env := newResetEnv(t)
	user := env.addUser(t, "alice", testPassword, false)
	env.forgot(t, "alice", "192.0.2.10")
	target, _ := pathOf(t, linkIn(t, env.smtp.Wait(t, 1, 5*time.Second)[0], "alice@example.com"))
	*env.clock = testNow.Add(ResetLinkTTL - time.Second)
	if got := env.getReset(target); got.status != http.StatusOK {
		t.Errorf("GET the link a second before it expires: %d, want 200", got.status)
	}
	*env.clock = testNow.Add(ResetLinkTTL)
	wantInvalidLink(t, "GET the link 15 minutes after it was made", env.getReset(target))

	*env.clock = testNow.Add(time.Hour)
	env.forgot(t, "alice", "192.0.2.10")
	target, token := pathOf(t, linkIn(t, env.smtp.Wait(t, 2, 5*time.Second)[1], "alice@example.com"))
	hash, err := HashPassword("changed on the account page meanwhile", cheapArgon2, env.u.random)
	if err != nil {
		t.Fatal(err)
	}
	user.PasswordHash = hash
	if err := env.store.UpdateUser(t.Context(), user); err != nil {
		t.Fatal(err)
	}
	wantInvalidLink(t, "GET the link after the password changed", env.getReset(target))
	const next = "a brand new and long passphrase"
	wantInvalidLink(t, "POST the link after the password changed", env.postReset(env.resetForm(token, next, next)))
	if _, err := env.u.checkPassword(t.Context(), "alice", "changed on the account page meanwhile"); err != nil {
		t.Errorf("the stale link changed the password: %v", err)
	}
}

// TestForgotSameAnswer: an unknown account, a disabled one, one without
// an email address and a known one get the same page; only the known one
// gets mail. An email address finds its accounts, ASCII case ignored.
func TestForgotSameAnswer(t *testing.T) {
	env := newResetEnv(t)
	env.addUser(t, "alice", testPassword, false)
	env.addUser(t, "bob", testPassword, true)
	carol := env.addUser(t, "carol", testPassword, false)
	carol.Email = ""
	if err := env.store.UpdateUser(t.Context(), carol); err != nil {
		t.Fatal(err)
	}
	want := env.forgot(t, "alice", "192.0.2.10")
	env.smtp.Wait(t, 1, 5*time.Second)
	for i, account := range []string{"nobody", "bob", "carol", "bob@example.com", strings.Repeat("x", 10000), "alice\r\nBcc: evil@example.com"} {
		got := env.forgot(t, account, "192.0.2.10")
		if got.status != want.status || got.body != want.body {
			t.Errorf("request %d for %.20q: got %d, want the same answer as for alice (%d)\n%s", i, account, got.status, want.status, got.body)
		}
	}
	if n := len(env.smtp.Messages()); n != 1 {
		t.Errorf("%d mails, want 1 (alice's only)", n)
	}
	details := map[string]int{}
	for _, ev := range eventsOf(env.uiEnv, EventPasswordResetRequested) {
		details[ev.Detail]++
	}
	if details["no such account: no mail"] != 3 || details["account disabled: no mail"] != 2 || details["no email address: no mail"] != 1 {
		t.Errorf("requested events by detail %v, want 3 unknown, 2 disabled, 1 without email", details)
	}

	env.forgot(t, "ALICE@Example.COM", "192.0.2.10")
	linkIn(t, env.smtp.Wait(t, 2, 5*time.Second)[1], "alice@example.com")

	empty := env.forgot(t, "   ", "192.0.2.10")
	if empty.status != http.StatusOK || !strings.Contains(empty.body, "Enter your username or email address.") {
		t.Errorf("empty account: %d, want the form asking for one; body %s", empty.status, empty.body)
	}
}

// TestForgotThrottled: an account gets 3 links freely, an IP asks 10
// times freely; past that a request gets the same answer and no mail.
func TestForgotThrottled(t *testing.T) {
	env := newResetEnv(t)
	env.addUser(t, "alice", testPassword, false)
	var want *httptestResponse
	for i := range 4 {
		got := env.forgot(t, "alice", "192.0.2."+string(rune('1'+i)))
		if want == nil {
			want = got
		} else if got.status != want.status || got.body != want.body {
			t.Errorf("request %d: got %d, want the same answer", i+1, got.status)
		}
	}
	if n := len(env.smtp.Messages()); n != 3 {
		t.Errorf("4 requests for one account from 4 IPs: %d mails, want 3", n)
	}
	var throttled int
	for _, ev := range eventsOf(env.uiEnv, EventPasswordResetRequested) {
		if ev.Detail == "throttled (account): no mail" && ev.UserID == "id-alice" {
			throttled++
		}
	}
	if throttled != 1 {
		t.Errorf("%d account-throttled events, want 1", throttled)
	}

	// Past its wait the account gets mail again.
	*env.clock = testNow.Add(5 * time.Minute)
	env.forgot(t, "alice", "192.0.2.20")
	env.smtp.Wait(t, 4, 5*time.Second)

	// One IP: 10 requests, then the same answer without mail.
	for i := range 11 {
		got := env.forgot(t, "nobody"+string(rune('a'+i)), "198.51.100.7")
		if got.status != want.status || got.body != want.body {
			t.Errorf("IP request %d: got %d, want the same answer", i+1, got.status)
		}
	}
	env.addUser(t, "dave", testPassword, false)
	env.forgot(t, "dave", "198.51.100.7")
	if n := len(env.smtp.Messages()); n != 4 {
		t.Errorf("a request from a throttled IP was mailed: %d mails, want 4", n)
	}
	var ipThrottled int
	for _, ev := range eventsOf(env.uiEnv, EventPasswordResetRequested) {
		if ev.Detail == "throttled (ip): no mail" && ev.IP == "198.51.100.7" && ev.UserID == "" {
			ipThrottled++
		}
	}
	if ipThrottled != 2 {
		t.Errorf("%d IP-throttled events, want 2", ipThrottled)
	}
}

// TestForgotAnswersBeforeMail: the answer does not wait for the mail, so
// its timing tells nothing: against an SMTP server that never answers
// (storagetest.SilentServer; the sender's timeout 2 s), a known account is
// answered at once.
func TestForgotAnswersBeforeMail(t *testing.T) {
	smtp := storagetest.SilentServer(t)
	sender, err := mail.New(mail.Config{URL: "smtp://" + smtp, From: "login@op.example", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	env := newUIEnvWith(t, func(c *Config) { c.Mailer = sender })
	env.addUser(t, "alice", testPassword, false)
	form := url.Values{"csrf_token": {env.u.csrfToken("forgot", testBrowser, "")}, "account": {"alice"}}
	start := time.Now()
	rec := env.do(request(http.MethodPost, "/login/forgot", form, BrowserCookie, testBrowser))
	answered := time.Since(start)
	env.u.resetWork.Wait()
	worked := time.Since(start)
	if rec.Code != http.StatusOK || answered > 500*time.Millisecond {
		t.Errorf("answer: %d after %s, want 200 at once", rec.Code, answered)
	}
	if worked < 2*time.Second {
		t.Errorf("the mail gave up after %s, want the sender's 2s timeout (was it sent at all?)", worked)
	}
	var failed bool
	for _, ev := range eventsOf(env, EventPasswordResetRequested) {
		failed = failed || ev.Detail == "mail failed"
	}
	if !failed {
		t.Errorf("no mail failed event: %+v", *env.events)
	}
}

// TestForgotOff: without a mailer there is no link and no reset pages.
func TestForgotOff(t *testing.T) {
	env := newUIEnv(t)
	page := env.do(request(http.MethodGet, "/login", nil, BrowserCookie, testBrowser))
	if strings.Contains(page.Body.String(), "/login/forgot") {
		t.Errorf("sign-in page links to /login/forgot without a mailer")
	}
	for _, target := range []string{"/login/forgot", "/login/reset?token=x"} {
		if rec := env.do(request(http.MethodGet, target, nil)); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s without a mailer: %d, want 404", target, rec.Code)
		}
	}
}

// TestResetPagesGolden pins the reset pages' HTML and headers: the
// request form, the neutral answer, the page of a link that does not
// work, and the sign-in page with its "Forgot password?" link.
func TestResetPagesGolden(t *testing.T) {
	env := newResetEnv(t)
	pages := []struct {
		golden string
		rec    func() (int, http.Header, string)
	}{
		{"forgot.golden", func() (int, http.Header, string) {
			rec := env.do(request(http.MethodGet, "/login/forgot", nil, BrowserCookie, testBrowser))
			return rec.Code, rec.Header(), rec.Body.String()
		}},
		{"forgot_sent.golden", func() (int, http.Header, string) {
			form := url.Values{"csrf_token": {env.u.csrfToken("forgot", testBrowser, "")}, "account": {"nobody"}}
			rec := env.do(request(http.MethodPost, "/login/forgot", form, BrowserCookie, testBrowser))
			env.u.resetWork.Wait()
			return rec.Code, rec.Header(), rec.Body.String()
		}},
		{"reset_invalid.golden", func() (int, http.Header, string) {
			rec := env.do(request(http.MethodGet, "/login/reset?token="+strings.Repeat("A", 43), nil, BrowserCookie, testBrowser))
			return rec.Code, rec.Header(), rec.Body.String()
		}},
		{"login_forgot.golden", func() (int, http.Header, string) {
			rec := env.do(request(http.MethodGet, "/login", nil, BrowserCookie, testBrowser))
			return rec.Code, rec.Header(), rec.Body.String()
		}},
	}
	for _, p := range pages {
		t.Run(p.golden, func(t *testing.T) {
			status, h, body := p.rec()
			if status != http.StatusOK && status != http.StatusBadRequest {
				t.Fatalf("status %d", status)
			}
			checkSecurityHeaders(t, h)
			goldenCompare(t, p.golden, []byte(body))
		})
	}
}

// TestPasswordResetDropsPendingSignIns: a sign-in that passed the
// password step before the reset cannot be finished with the second
// factor afterwards (the password it checked is the old one).
func TestPasswordResetDropsPendingSignIns(t *testing.T) {
	env := newResetEnv(t)
	user := env.addUser(t, "alice", testPassword, false)
	env.enrolTOTP(t, user.ID)
	pending := env.passwordStep(t, "")
	*env.clock = testNow.Add(time.Second)
	env.forgot(t, "alice", "192.0.2.10")
	_, token := pathOf(t, linkIn(t, env.smtp.Wait(t, 1, 5*time.Second)[0], "alice@example.com"))
	const next = "a brand new and long passphrase"
	if got := env.postReset(env.resetForm(token, next, next)); got.status != http.StatusOK {
		t.Fatalf("reset: %d; body %s", got.status, got.body)
	}
	rec := env.postFactor(pending, "totp", rfcCode(t, testTOTPSecret, *env.clock))
	if rec.Code != http.StatusBadRequest || responseCookie(rec, SessionCookie) != nil {
		t.Errorf("second factor of a sign-in begun before the reset: %d, session cookie %v; want 400 and no session",
			rec.Code, responseCookie(rec, SessionCookie))
	}
}
