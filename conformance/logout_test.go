package conformance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// startWithClients starts a server whose clients.yaml is clients (the
// harness's client secrets stay in its environment).
func startWithClients(t *testing.T, clients string) *server {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(clients), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServer(t, dir)
}

// backchannelClientYAML is a first-party web app, client_id app, whose
// sessions end with a logout token posted to logoutURI.
func backchannelClientYAML(logoutURI string) string {
	return fmt.Sprintf(`clients:
  - client_id: app
    client_name: Back-Channel App
    skip_consent: true
    client_secret_env: TEST_BASIC_SECRET
    token_endpoint_auth_method: client_secret_basic
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [https://app.example/callback]
    post_logout_redirect_uris: [https://app.example/bye]
    backchannel_logout_uri: %s
    backchannel_logout_session_required: true
`, logoutURI)
}

// logoutReceiver is a relying party's backchannel_logout_uri: it answers
// 200 to a form POST carrying a logout_token and hands the token over.
// While it is down its port refuses connections, as an RP that is not
// running does.
type logoutReceiver struct {
	t      *testing.T
	tokens chan string
	mu     sync.Mutex
	addr   string
	srv    *httptest.Server
}

func newLogoutReceiver(t *testing.T) *logoutReceiver {
	t.Helper()
	l := &logoutReceiver{t: t, tokens: make(chan string, 16)}
	l.up()
	t.Cleanup(l.down)
	return l
}

// url is the receiver's backchannel_logout_uri; it stays the same across
// down and up.
func (l *logoutReceiver) url() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return "http://" + l.addr + "/backchannel-logout"
}

// up starts listening, on the port of before if there was one.
func (l *logoutReceiver) up() {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	addr := l.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		l.t.Fatalf("logout receiver: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(l.serve))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	l.addr, l.srv = ln.Addr().String(), srv
}

// down closes the listener: connections are refused until up.
func (l *logoutReceiver) down() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv != nil {
		l.srv.Close()
		l.srv = nil
	}
}

// serve is the RP's side of OpenID Connect Back-Channel Logout §2.5: a
// form POST with one logout_token, answered 200 with Cache-Control:
// no-store. Anything else is refused with 400 (the token is checked by
// the test, with the RP library).
func (l *logoutReceiver) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/backchannel-logout" ||
		r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "want a form POST to /backchannel-logout", http.StatusBadRequest)
		return
	}
	if err := r.ParseForm(); err != nil || len(r.PostForm["logout_token"]) != 1 || len(r.PostForm) != 1 {
		http.Error(w, "want exactly one logout_token", http.StatusBadRequest)
		return
	}
	l.tokens <- r.PostForm.Get("logout_token")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// next returns the next logout token received, failing the test if none
// comes within the given time.
func (l *logoutReceiver) next(s *server, within time.Duration) string {
	l.t.Helper()
	select {
	case tok := <-l.tokens:
		return tok
	case <-time.After(within):
		l.t.Fatalf("no logout token reached the backchannel_logout_uri within %v\n%s", within, s.log())
		return ""
	}
}

// checkLogoutToken verifies a logout token as the relying party r does
// (go-oidc's VerifyLogout: signature against the server's JWKS, iss, aud,
// exp, jti, the back-channel logout event, no nonce) and checks what
// go-oidc leaves to the RP: typ logout+jwt, the event's value, iat, a short
// life, and that it names the session and user.
func checkLogoutToken(t *testing.T, r *rp, raw, wantSub, wantSID string) *oidc.LogoutToken {
	t.Helper()
	lt, err := r.verifier.VerifyLogout(context.Background(), raw)
	if err != nil {
		t.Fatalf("the RP library rejects the logout token: %v", err)
	}
	var header struct {
		Typ string `json:"typ"`
	}
	if h, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0]); err != nil || json.Unmarshal(h, &header) != nil {
		t.Fatalf("logout token header unreadable: %v", err)
	}
	if header.Typ != "logout+jwt" {
		t.Errorf("logout token typ: got %q, want logout+jwt", header.Typ)
	}
	var claims struct {
		Events map[string]json.RawMessage `json:"events"`
		Sid    string                     `json:"sid"`
	}
	if err := lt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if ev := string(claims.Events["http://schemas.openid.net/event/backchannel-logout"]); ev != "{}" || len(claims.Events) != 1 {
		t.Errorf("logout token events: got %v, want only the back-channel logout event with value {}", claims.Events)
	}
	if lt.SessionID != wantSID || wantSID == "" {
		t.Errorf("logout token sid: got %q, want the session's %q", lt.SessionID, wantSID)
	}
	if lt.Subject != wantSub {
		t.Errorf("logout token sub: got %q, want %q", lt.Subject, wantSub)
	}
	if d := time.Since(lt.IssuedAt); d < -time.Minute || d > time.Minute {
		t.Errorf("logout token iat: got %v, want about now", lt.IssuedAt)
	}
	if life := lt.Expiry.Sub(lt.IssuedAt); life <= 0 || life > 5*time.Minute {
		t.Errorf("logout token life: got %v, want a few minutes at most", life)
	}
	return lt
}

// sessionID returns the sid claim of an ID token.
func sessionID(t *testing.T, idt *oidc.IDToken) string {
	t.Helper()
	var c struct {
		Sid string `json:"sid"`
	}
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	if c.Sid == "" {
		t.Fatal("the ID token has no sid")
	}
	return c.Sid
}

// signInToApp signs in through the login form of a new browser to the
// client app and returns the browser, the tokens and the ID token.
func signInToApp(t *testing.T, s *server, username, password string) (*browser, *rp, *oauth2.Token, *oidc.IDToken) {
	t.Helper()
	r := newRP(t, s, "app", basicSecret, "https://app.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)
	f := newFlow()
	tok, idt := r.exchange(f, r.code(s, f, b.login(r.authURL(f), username, password)))
	return b, r, tok, idt
}

// signedOut checks that the browser's session is gone: the account page
// sends it to the login page, and the app gets login_required.
func signedOut(t *testing.T, s *server, b *browser, r *rp) {
	t.Helper()
	if p := b.get(s.issuer + "/account"); p.location != s.issuer+"/login" {
		t.Errorf("account page: got %d to %q, want the login page (session ended)", p.status, p.location)
	}
	resp := b.follow(r.authURL(newFlow(), oauth2.SetAuthURLParam("prompt", "none")))
	if got := resp.Query().Get("error"); got != "login_required" {
		t.Errorf("prompt=none: got %s, want error=login_required (session ended)", resp)
	}
}

// postLogin fills in and posts the login form (no application), as
// a person opening the site does.
func (b *browser) postLogin(s *server, username, password string) page {
	b.t.Helper()
	fields := formFields(b.get(s.issuer + "/login").body)
	fields.Set("username", username)
	fields.Set("password", password)
	return b.postForm(s.issuer+"/login", fields)
}

// logLines returns the server's JSON log lines whose message is msg.
func logLines(s *server, msg string) []map[string]any {
	var out []map[string]any
	for line := range strings.SplitSeq(s.log(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// TestBackchannelLogoutRetried: a relying party that is down when the
// session ends still gets its logout token once it is back, on a later
// attempt; the failed attempt is logged as a warning that names the client
// but never the full sid or the token.
func TestBackchannelLogoutRetried(t *testing.T) {
	t.Parallel() // mostly waits for the server's timers: beside the other waiting tests
	rcv := newLogoutReceiver(t)
	s := startWithClients(t, backchannelClientYAML(rcv.url()))
	b, r, tok, idt := signInToApp(t, s, "admin", adminPassword)
	sid := sessionID(t, idt)

	rcv.down()
	idToken, _ := tok.Extra("id_token").(string)
	p := b.postForm(s.issuer+"/end_session", url.Values{
		"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"st"},
	})
	if p.status != http.StatusFound || p.location != "https://app.example/bye?state=st" {
		t.Fatalf("end_session: got %d to %q, want 302 to https://app.example/bye?state=st", p.status, p.location)
	}
	// The first attempt fails at once; the RP comes back after it.
	eventually(t, "a warning for the failed first attempt", func() bool {
		return len(logLines(s, "backchannel logout attempt failed")) > 0
	})
	ended := time.Now()
	rcv.up()
	raw := rcv.next(s, 20*time.Second)
	t.Logf("delivered %v after the RP came back", time.Since(ended).Round(10*time.Millisecond))
	checkLogoutToken(t, r, raw, idt.Subject, sid)

	warn := logLines(s, "backchannel logout attempt failed")[0]
	if warn["level"] != "WARN" || warn["client"] != "app" || warn["attempt"] != 1.0 || warn["next_attempt"] == nil {
		t.Errorf("failed attempt: got log line %v, want a WARN naming client app, attempt 1 and the next attempt", warn)
	}
	eventually(t, "the delivery logged", func() bool { return len(logLines(s, "backchannel logout delivered")) > 0 })
	if got := logLines(s, "backchannel logout delivered")[0]; got["attempt"] == 1.0 || got["attempt"] == nil {
		t.Errorf("delivery: got log line %v, want a later attempt than the first", got)
	}
	log := s.log()
	for what, secret := range map[string]string{"the full sid": sid, "the logout token": raw, "the ID token": idToken} {
		if strings.Contains(log, secret) {
			t.Errorf("the server log contains %s", what)
		}
	}
	signedOut(t, s, b, r)
}

// TestSessionsRevokeCLI: gatehouse sessions revoke --user, run beside the
// server on its stores, ends the user's sessions; the running server
// delivers the logout token it queued.
func TestSessionsRevokeCLI(t *testing.T) {
	t.Parallel() // mostly waits for the server's timers: beside the other waiting tests
	rcv := newLogoutReceiver(t)
	s := startWithClients(t, backchannelClientYAML(rcv.url()))
	b, r, _, idt := signInToApp(t, s, "admin", adminPassword)

	out, err := s.gatehouseCLI("", "sessions", "list", "--user", "admin", "--full")
	if err != nil || !strings.Contains(out, sessionID(t, idt)) {
		t.Fatalf("sessions list: got %v\n%s\nwant the session %s", err, out, sessionID(t, idt))
	}
	out, err = s.gatehouseCLI("", "sessions", "revoke", "--user", "admin")
	if err != nil || !strings.Contains(out, "ended 1 session of admin") || !strings.Contains(out, "queued 1 back-channel logout notice") {
		t.Fatalf("sessions revoke: got %v\n%s", err, out)
	}
	checkLogoutToken(t, r, rcv.next(s, 10*time.Second), idt.Subject, sessionID(t, idt))
	signedOut(t, s, b, r)
}

// TestPasswdSignsOutEverywhere: gatehouse users passwd ends the user's
// sessions (the app hears of it) and revokes their refresh tokens; the
// new password works, the old one does not.
func TestPasswdSignsOutEverywhere(t *testing.T) {
	t.Parallel() // mostly waits for the server's timers: beside the other waiting tests
	rcv := newLogoutReceiver(t)
	s := startWithClients(t, backchannelClientYAML(rcv.url()))
	if out, err := s.gatehouseCLI("carol-password-long-enough\n", "users", "add", "carol", "--password-stdin"); err != nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	b, r, tok, idt := signInToApp(t, s, "carol", "carol-password-long-enough")
	tok, err := r.refresh(tok.RefreshToken) // the token works before
	if err != nil {
		t.Fatalf("refresh before passwd: %v", err)
	}

	out, err := s.gatehouseCLI("carol-new-password-long-enough\n", "users", "passwd", "carol", "--password-stdin")
	if err != nil || !strings.Contains(out, "ended 1 session of carol") {
		t.Fatalf("users passwd: got %v\n%s", err, out)
	}
	if _, err := r.refresh(tok.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after passwd: got %v, want invalid_grant", err)
	}
	checkLogoutToken(t, r, rcv.next(s, 10*time.Second), idt.Subject, sessionID(t, idt))
	signedOut(t, s, b, r)

	if p := newBrowser(t).postLogin(s, "carol", "carol-password-long-enough"); p.status != http.StatusOK || !strings.Contains(p.body, "Incorrect username or password") {
		t.Errorf("old password: got %d, want the form again with an error", p.status)
	}
	if p := newBrowser(t).postLogin(s, "carol", "carol-new-password-long-enough"); p.status != http.StatusSeeOther {
		t.Errorf("new password: got %d, want 303", p.status)
	}
}

// TestSignInThrottled: after five wrong passwords for an account (under
// any spelling of its name), even the right one must wait: 429 with
// Retry-After, 1 s after the fifth failure. Once the wait is over it
// works, and clears the count. Other accounts are not held up.
func TestSignInThrottled(t *testing.T) {
	t.Parallel() // mostly waits for the server's timers: beside the other waiting tests
	s := startServer(t, "")
	if out, err := s.gatehouseCLI("dave-password-long-enough\n", "users", "add", "dave", "--password-stdin"); err != nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	b := newBrowser(t)
	for i, name := range []string{"admin", "Admin", "ADMIN", " admin", "admin"} {
		if p := b.postLogin(s, name, fmt.Sprintf("wrong-password-%d", i)); p.status != http.StatusOK || !strings.Contains(p.body, "Incorrect username or password") {
			t.Fatalf("wrong password %d: got %d, want the form with an error\n%s", i+1, p.status, p.body)
		}
	}
	p := b.postLogin(s, "admin", adminPassword)
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") != "1" || !strings.Contains(p.body, "Too many failed sign-ins") {
		t.Fatalf("right password after 5 failures: got %d, Retry-After %q, want 429 with Retry-After 1\n%s", p.status, p.header.Get("Retry-After"), p.body)
	}
	if p := newBrowser(t).postLogin(s, "dave", "dave-password-long-enough"); p.status != http.StatusSeeOther {
		t.Errorf("another account meanwhile: got %d, want 303 (throttling is per account)", p.status)
	}
	time.Sleep(time.Second) // as Retry-After says
	if p := b.postLogin(s, "admin", adminPassword); p.status != http.StatusSeeOther || p.location != s.issuer+"/account" {
		t.Fatalf("right password after Retry-After: got %d to %q, want 303 to /account\n%s", p.status, p.location, p.body)
	}
	// The success cleared the count: one more failure is free again.
	b = newBrowser(t)
	b.postLogin(s, "admin", "wrong-password-again")
	if p := b.postLogin(s, "admin", adminPassword); p.status != http.StatusSeeOther {
		t.Errorf("right password after a failure that follows a success: got %d, want 303 (the count was cleared)", p.status)
	}
}

const thirdPartyYAML = `clients:
  - client_id: partner
    client_name: Partner App
    client_secret_env: TEST_BASIC_SECRET
    token_endpoint_auth_method: client_secret_basic
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [https://partner.example/callback]
`

// TestConsent: a third-party app (no skip_consent) needs the user's
// consent: prompt=none answers consent_required until it is given, a
// denial sends access_denied (with state and iss), an allowance is
// remembered, and withdrawing it on the account page asks again and
// revokes the app's refresh tokens.
func TestConsent(t *testing.T) {
	s := startWithClients(t, thirdPartyYAML)
	r := newRP(t, s, "partner", basicSecret, "https://partner.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)
	if p := b.postLogin(s, "admin", adminPassword); p.status != http.StatusSeeOther {
		t.Fatalf("sign in: got %d, want 303", p.status)
	}
	authError := func(resp *url.URL, f flow, want string) {
		t.Helper()
		q := resp.Query()
		if !strings.HasPrefix(resp.String(), "https://partner.example/callback?") || q.Get("error") != want ||
			q.Get("state") != f.state || q.Get("iss") != s.issuer || q.Get("code") != "" {
			t.Errorf("got %s, want error=%s with state %s and iss %s", resp, want, f.state, s.issuer)
		}
	}
	// consentPage authorizes and returns the consent form's fields.
	consentPage := func(f flow, extra ...oauth2.AuthCodeOption) url.Values {
		t.Helper()
		p := b.get(r.authURL(f, extra...))
		if p.status != http.StatusFound || !strings.HasPrefix(p.location, s.issuer+"/consent?id=") {
			t.Fatalf("authorize: got %d to %q, want the consent page", p.status, p.location)
		}
		page := b.get(p.location)
		if page.status != http.StatusOK || !strings.Contains(page.body, "Partner App") || !strings.Contains(page.body, `value="allow"`) || !strings.Contains(page.body, `value="deny"`) {
			t.Fatalf("consent page: got %d\n%s", page.status, page.body)
		}
		return formFields(page.body)
	}

	f := newFlow()
	authError(b.follow(r.authURL(f, oauth2.SetAuthURLParam("prompt", "none"))), f, "consent_required")

	f = newFlow()
	fields := consentPage(f)
	fields.Set("decision", "deny")
	p := b.postForm(s.issuer+"/consent", fields)
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("deny: got %d, want a redirect to the app\n%s", p.status, p.body)
	}
	resp, _ := url.Parse(p.location)
	authError(resp, f, "access_denied")

	f = newFlow()
	fields = consentPage(f)
	fields.Set("decision", "allow")
	p = b.postForm(s.issuer+"/consent", fields)
	resp, _ = url.Parse(p.location)
	tok, _ := r.exchange(f, r.code(s, f, resp))

	// Remembered: no page, not even for prompt=none.
	f = newFlow()
	r.code(s, f, b.follow(r.authURL(f, oauth2.SetAuthURLParam("prompt", "none"))))

	account := b.get(s.issuer + "/account")
	if !strings.Contains(account.body, "Partner App") || !strings.Contains(account.body, "Withdraw access") {
		t.Fatalf("account page: want Partner App among the apps allowed\n%s", account.body)
	}
	form := formFields(account.body)
	withdraw := url.Values{"csrf_token": {form.Get("csrf_token")}, "client": {"partner"}}
	if p := b.postForm(s.issuer+"/account/consents/revoke", withdraw); p.status != http.StatusSeeOther {
		t.Fatalf("withdraw: got %d\n%s", p.status, p.body)
	}
	if _, err := r.refresh(tok.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after the consent was withdrawn: got %v, want invalid_grant", err)
	}
	f = newFlow()
	authError(b.follow(r.authURL(f, oauth2.SetAuthURLParam("prompt", "none"))), f, "consent_required")
}

// TestLogoutAfterSigningInAgain: an app that signed in through one session
// must hear of its end by that session's sid even when the user signed in
// again in the same browser in between (another app asked for prompt=login)
// and then signed out. The app registered
// backchannel_logout_session_required, so it knows its session only by the
// sid of its ID token; a logout token with another sid does not name it.
func TestLogoutAfterSigningInAgain(t *testing.T) {
	rcv := newLogoutReceiver(t)
	s := startWithClients(t, backchannelClientYAML(rcv.url())+`  - client_id: other
    client_name: Other App
    skip_consent: true
    client_secret_env: TEST_BASIC_SECRET
    token_endpoint_auth_method: client_secret_basic
    grant_types: [authorization_code]
    redirect_uris: [https://other.example/callback]
`)
	b, r, _, idt := signInToApp(t, s, "admin", adminPassword)
	sid := sessionID(t, idt)
	other := newRP(t, s, "other", basicSecret, "https://other.example/callback", oauth2.AuthStyleInHeader)
	f := newFlow()
	other.code(s, f, b.login(other.authURL(f, oauth2.SetAuthURLParam("prompt", "login")), "admin", adminPassword))

	account := b.get(s.issuer + "/account")
	if p := b.postForm(s.issuer+"/account/signout", formFields(account.body)); p.status != http.StatusOK {
		t.Fatalf("sign out: got %d, want 200", p.status)
	}
	var sids []string
	for wait := 10 * time.Second; ; wait = 2 * time.Second {
		select {
		case raw := <-rcv.tokens:
			lt, err := r.verifier.VerifyLogout(context.Background(), raw)
			if err != nil {
				t.Fatalf("the RP library rejects the logout token: %v", err)
			}
			if lt.SessionID == sid {
				return
			}
			sids = append(sids, lt.SessionID)
			continue
		case <-time.After(wait):
		}
		break
	}
	t.Errorf("the app got logout tokens for sids %q, none for the session it signed in through (%s): "+
		"its session stays signed in after the user signed out", sids, sid)
}
