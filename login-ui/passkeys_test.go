package loginui

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/mfa/mfatest"
)

var (
	optionsOnPage  = regexp.MustCompile(`data-options="([^"]*)"`)
	ceremonyOnPage = regexp.MustCompile(`name="ceremony" value="([^"]*)"`)
)

// ceremonyOf reads a page's passkey options and ceremony token.
func ceremonyOf(t *testing.T, body string) (options []byte, ceremony string) {
	t.Helper()
	o, c := optionsOnPage.FindStringSubmatch(body), ceremonyOnPage.FindStringSubmatch(body)
	if o == nil || c == nil {
		t.Fatalf("no passkey ceremony on the page:\n%s", body)
	}
	return []byte(html.UnescapeString(o[1])), c[1]
}

// TestPasskeysEndToEnd adds a passkey on the account page and signs in
// with it, answering with a software authenticator (mfatest). Bad input
// tried: each ceremony's answer posted twice, a sign-in ceremony answered
// from another browser, a form without its CSRF token, an answer that is
// not a credential.
func TestPasskeysEndToEnd(t *testing.T) {
	env := newUIEnv(t)
	user := env.addUser(t, "alice", testPassword, false)
	session := env.signedIn(t, user, []string{"pwd"}, testNow)
	auth, err := mfatest.NewAuthenticator(testIssuer)
	if err != nil {
		t.Fatal(err)
	}

	page := env.do(request(http.MethodGet, "/account/passkeys/new", nil, BrowserCookie, testBrowser, SessionCookie, session))
	if page.Code != http.StatusOK || !strings.Contains(page.Header().Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("add page: %d, CSP %q; want 200 allowing our script", page.Code, page.Header().Get("Content-Security-Policy"))
	}
	options, ceremony := ceremonyOf(t, page.Body.String())
	answer, err := auth.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	add := url.Values{"csrf_token": {env.u.csrfToken("account", session, "")}, "ceremony": {ceremony}, "credential": {string(answer)}, "name": {"Laptop"}}
	rec := env.do(request(http.MethodPost, "/account/passkeys", add, BrowserCookie, testBrowser, SessionCookie, session))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `id="recovery-codes"`) {
		t.Fatalf("add: %d, want the recovery codes of a first second factor; body %s", rec.Code, rec.Body)
	}
	rec = env.do(request(http.MethodPost, "/account/passkeys", add, BrowserCookie, testBrowser, SessionCookie, session))
	if keys, _ := env.store.UserPasskeys(t.Context(), user.ID); len(keys) != 1 || keys[0].Name != "Laptop" || !strings.Contains(rec.Body.String(), "not created") {
		t.Errorf("the same answer again: %d passkeys, page %q; want one passkey and the page saying it was not created", len(keys), rec.Body)
	}

	// A sign-in without a password.
	signIn := func(browser string, form func(url.Values)) (*http.Response, string) {
		t.Helper()
		page := env.do(request(http.MethodGet, "/login", nil, BrowserCookie, testBrowser))
		options, ceremony := ceremonyOf(t, page.Body.String())
		answer, err := auth.Get(options)
		if err != nil {
			t.Fatal(err)
		}
		f := url.Values{"csrf_token": {env.u.csrfToken("login", browser, "")}, "ceremony": {ceremony}, "credential": {string(answer)}}
		if form != nil {
			form(f)
		}
		rec := env.do(request(http.MethodPost, "/login/passkey", f, BrowserCookie, browser))
		return rec.Result(), rec.Body.String()
	}
	other := "b3RoZXItYnJvd3Nlci1iaW5kaW5nLWNvb2tpZS0zMmI"
	if resp, body := signIn(other, nil); resp.StatusCode == http.StatusSeeOther || !strings.Contains(body, "expired") {
		t.Errorf("a ceremony answered from another browser: %d, want refused as expired; body %s", resp.StatusCode, body)
	}
	if resp, _ := signIn(testBrowser, func(f url.Values) { f.Del("csrf_token") }); resp.StatusCode != http.StatusForbidden {
		t.Errorf("no CSRF token: %d, want 403", resp.StatusCode)
	}
	if resp, _ := signIn(testBrowser, func(f url.Values) { f.Set("credential", `{"id":"x"}`) }); resp.StatusCode == http.StatusSeeOther {
		t.Errorf("an answer that is not a credential signed in")
	}
	*env.clock = testNow.Add(time.Minute)
	var replay url.Values
	resp, body := signIn(testBrowser, func(f url.Values) { replay = f })
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
		t.Fatalf("passkey sign-in: %d to %q, want 303 to /account; body %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	var sessionCookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == SessionCookie {
			sessionCookie = c
		}
	}
	s, _, err := env.u.CurrentSession(t.Context(), request(http.MethodGet, "/", nil, SessionCookie, sessionCookie.Value))
	if err != nil || s.AMR[0] != mfa.AMRHardwareKey || !mfa.MultiFactor(s.AMR) {
		t.Errorf("session of a passkey sign-in: %+v, %v; want amr hwk, mfa", s, err)
	}
	rec = env.do(request(http.MethodPost, "/login/passkey", replay, BrowserCookie, testBrowser))
	if rec.Code == http.StatusSeeOther || responseCookie(rec, SessionCookie) != nil {
		t.Errorf("the same answer posted again: %d, session %v; want refused", rec.Code, responseCookie(rec, SessionCookie) != nil)
	}
}

// TestRequiredEnrolmentWithPasskey: with mfa required, a user without a
// second factor may set up a passkey instead of a one-time code at sign-in;
// the sign-in completes with it (amr pwd hwk mfa) after the recovery codes.
// Bad input tried: the answer posted again once the sign-in completed.
func TestRequiredEnrolmentWithPasskey(t *testing.T) {
	env := newUIEnvWith(t, func(c *Config) { c.MFA = mfa.Required })
	user := env.addUser(t, "alice", testPassword, false)
	env.addAuthRequest(t, "ar1", "web", testBrowser, "")
	rec := env.do(request(http.MethodPost, "/login", env.loginForm("ar1", "alice", testPassword), BrowserCookie, testBrowser))
	if rec.Header().Get("Location") != "/login/enrol" {
		t.Fatalf("password: got %d to %q, want /login/enrol", rec.Code, rec.Header().Get("Location"))
	}
	pending := responseCookie(rec, PendingCookie).Value
	page := env.do(request(http.MethodGet, "/login/enrol", nil, BrowserCookie, testBrowser, PendingCookie, pending))
	if csp := page.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "img-src 'self' data:") {
		t.Errorf("set-up page CSP %q: want our script and the QR code's data: image", csp)
	}
	options, ceremony := ceremonyOf(t, page.Body.String())
	auth, err := mfatest.NewAuthenticator(testIssuer)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := auth.Create(options)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"csrf_token": {env.u.csrfToken("enrol", pending, "")}, "ceremony": {ceremony}, "credential": {string(answer)}}
	rec = env.do(request(http.MethodPost, "/login/enrol/passkey", form, BrowserCookie, testBrowser, PendingCookie, pending))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `id="recovery-codes"`) || responseCookie(rec, SessionCookie) == nil {
		t.Fatalf("passkey set-up: %d, want the recovery codes and a session; body %s", rec.Code, rec.Body)
	}
	ar, err := env.store.AuthRequest(t.Context(), "ar1", testNow)
	if err != nil || !ar.Done || strings.Join(ar.AMR, " ") != "pwd hwk mfa" {
		t.Errorf("auth request: %+v, %v; want done with amr pwd hwk mfa", ar, err)
	}
	if keys, _ := env.store.UserPasskeys(t.Context(), user.ID); len(keys) != 1 {
		t.Errorf("%d passkeys stored, want 1", len(keys))
	}
	rec = env.do(request(http.MethodPost, "/login/enrol/passkey", form, BrowserCookie, testBrowser, PendingCookie, pending))
	if rec.Code == http.StatusOK || responseCookie(rec, SessionCookie) != nil {
		t.Errorf("the answer again: %d, session %v; want refused", rec.Code, responseCookie(rec, SessionCookie) != nil)
	}
}
