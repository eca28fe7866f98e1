package loginui

import (
	"bytes"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// loginForm is a login POST for auth request id, with the CSRF token a
// browser holding testBrowser would have been given.
func (e *uiEnv) loginForm(id, username, password string) url.Values {
	return url.Values{
		"id": {id}, "csrf_token": {e.u.csrfToken("login", testBrowser, id)},
		"username": {username}, "password": {password},
	}
}

// T-L1: the login form's CSRF token is bound to the browser cookie and the
// auth request.
func TestLoginCSRF(t *testing.T) {
	env := newUIEnv(t)
	env.addUser(t, "alice", testPassword, false)
	const otherBrowser = "b3RoZXItYnJvd3Nlci1iaW5kaW5nLWNvb2tpZS12YWw"
	valid := env.u.csrfToken("login", testBrowser, "ar1")
	tests := []struct {
		name    string
		token   *string // nil: no csrf_token field
		cookies []string
		want    int
	}{
		{"missing token", nil, []string{BrowserCookie, testBrowser}, http.StatusForbidden},
		{"empty token", ptr(""), []string{BrowserCookie, testBrowser}, http.StatusForbidden},
		{"wrong token", ptr("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), []string{BrowserCookie, testBrowser}, http.StatusForbidden},
		{"token with a changed char", ptr("A" + valid[1:]), []string{BrowserCookie, testBrowser}, http.StatusForbidden},
		{"truncated token", ptr(valid[:len(valid)-1]), []string{BrowserCookie, testBrowser}, http.StatusForbidden},
		{"token for another auth request", ptr(env.u.csrfToken("login", testBrowser, "ar2")), []string{BrowserCookie, testBrowser}, http.StatusForbidden},
		{"token for no auth request", ptr(env.u.csrfToken("login", testBrowser, "")), []string{BrowserCookie, testBrowser}, http.StatusForbidden},
		{"token for the sign-out form", ptr(env.u.csrfToken("signout", testBrowser, "ar1")), []string{BrowserCookie, testBrowser}, http.StatusForbidden},
		{"no browser cookie", ptr(valid), nil, http.StatusForbidden},
		{"malformed browser cookie", ptr(valid), []string{BrowserCookie, testBrowser + "x"}, http.StatusForbidden},
		{"another browser", ptr(valid), []string{BrowserCookie, otherBrowser}, http.StatusForbidden},
		{"token in the session cookie slot", ptr(valid), []string{SessionCookie, testBrowser}, http.StatusForbidden},
		{"valid", ptr(valid), []string{BrowserCookie, testBrowser}, http.StatusSeeOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A fresh auth request per case: a valid login completes it.
			env := newUIEnv(t)
			env.addUser(t, "alice", testPassword, false)
			env.addAuthRequest(t, "ar1", "web", testBrowser, "")
			form := url.Values{"id": {"ar1"}, "username": {"alice"}, "password": {testPassword}}
			if tt.token != nil {
				form.Set("csrf_token", *tt.token)
			}
			rec := env.do(request(http.MethodPost, "/login", form, tt.cookies...))
			if rec.Code != tt.want {
				t.Fatalf("status: got %d, want %d; body %s", rec.Code, tt.want, rec.Body)
			}
			if tt.want == http.StatusForbidden {
				if responseCookie(rec, SessionCookie) != nil {
					t.Errorf("refused login: got a session cookie, want none")
				}
				if !strings.Contains(rec.Body.String(), "Form expired") {
					t.Errorf("body: got %s, want the form-expired page", rec.Body)
				}
				return
			}
			if got, want := rec.Header().Get("Location"), testIssuer+"/authorize/callback?id=ar1"; got != want {
				t.Errorf("Location: got %q, want %q", got, want)
			}
			ar, err := env.store.AuthRequest(t.Context(), "ar1", testNow)
			if err != nil || !ar.Done || ar.UserID != "id-alice" {
				t.Errorf("auth request after login: got %+v, %v, want done by id-alice", ar, err)
			}
		})
	}
}

func ptr(s string) *string { return &s }

// T-L5: the session cookie's attributes, and a new session at every login.
func TestLoginSessionCookie(t *testing.T) {
	env := newUIEnv(t)
	env.addUser(t, "alice", testPassword, false)

	login := func(cookies ...string) *http.Cookie {
		t.Helper()
		rec := env.do(request(http.MethodPost, "/login", env.loginForm("", "alice", testPassword), cookies...))
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account" {
			t.Fatalf("login: got %d to %q, want 303 to /account; body %s", rec.Code, rec.Header().Get("Location"), rec.Body)
		}
		for _, raw := range rec.Result().Header.Values("Set-Cookie") {
			if strings.Contains(strings.ToLower(raw), "domain") {
				t.Errorf("Set-Cookie %q: got a Domain attribute, want host-only", raw)
			}
		}
		c := responseCookie(rec, SessionCookie)
		if c == nil {
			t.Fatalf("login: got no %s cookie", SessionCookie)
		}
		return c
	}
	first := login(BrowserCookie, testBrowser)
	if first.Name != "__Host-gatehouse-session" {
		t.Errorf("name: got %q, want __Host-gatehouse-session", first.Name)
	}
	if !first.Secure || !first.HttpOnly || first.SameSite != http.SameSiteLaxMode || first.Path != "/" || first.Domain != "" {
		t.Errorf("cookie: got Secure=%v HttpOnly=%v SameSite=%v Path=%q Domain=%q, want Secure HttpOnly SameSite=Lax Path=/ and no Domain",
			first.Secure, first.HttpOnly, first.SameSite, first.Path, first.Domain)
	}
	if first.MaxAge != 0 || !first.Expires.IsZero() {
		t.Errorf("cookie lifetime: got MaxAge=%d Expires=%v, want a session cookie", first.MaxAge, first.Expires)
	}
	if len(first.Value) != 43 {
		t.Errorf("cookie value: got %d characters, want 43", len(first.Value))
	}
	current := func(value string) error {
		_, _, err := env.u.CurrentSession(t.Context(), request(http.MethodGet, "/", nil, SessionCookie, value))
		return err
	}
	if err := current(first.Value); err != nil {
		t.Fatalf("CurrentSession(first): got %v, want the session", err)
	}

	second := login(BrowserCookie, testBrowser, SessionCookie, first.Value)
	if second.Value == first.Value {
		t.Errorf("second login: got the same session value %q, want a new one", second.Value)
	}
	if err := current(first.Value); !errors.Is(err, ErrNoSession) {
		t.Errorf("CurrentSession(first) after the second login: got %v, want ErrNoSession", err)
	}
	if err := current(second.Value); err != nil {
		t.Errorf("CurrentSession(second): got %v, want the session", err)
	}

	// The browser-binding cookie has the same attributes.
	rec := env.do(request(http.MethodGet, "/login", nil))
	b := responseCookie(rec, BrowserCookie)
	if b == nil {
		t.Fatalf("login page: got no %s cookie", BrowserCookie)
	}
	if !b.Secure || !b.HttpOnly || b.SameSite != http.SameSiteLaxMode || b.Path != "/" || b.Domain != "" {
		t.Errorf("browser cookie: got Secure=%v HttpOnly=%v SameSite=%v Path=%q Domain=%q, want Secure HttpOnly SameSite=Lax Path=/ and no Domain",
			b.Secure, b.HttpOnly, b.SameSite, b.Path, b.Domain)
	}
}

// T-L3: unknown user, wrong password and disabled user get the same answer,
// byte for byte (the same username is submitted against three stores).
func TestLoginFailuresAreIndistinguishable(t *testing.T) {
	cases := []struct {
		name     string
		setup    func(t *testing.T, env *uiEnv)
		password string
	}{
		{"unknown user", func(*testing.T, *uiEnv) {}, testPassword},
		{"wrong password", func(t *testing.T, env *uiEnv) { env.addUser(t, "carol", testPassword, false) }, "wrong password"},
		{"disabled user", func(t *testing.T, env *uiEnv) { env.addUser(t, "carol", testPassword, true) }, testPassword},
	}
	var firstBody []byte
	var firstStatus int
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newUIEnv(t)
			tc.setup(t, env)
			env.addAuthRequest(t, "ar1", "web", testBrowser, "")
			rec := env.do(request(http.MethodPost, "/login", env.loginForm("ar1", "Carol", tc.password), BrowserCookie, testBrowser))
			if rec.Code != http.StatusOK {
				t.Errorf("status: got %d, want 200 with the form again", rec.Code)
			}
			if responseCookie(rec, SessionCookie) != nil {
				t.Errorf("failed login: got a session cookie, want none")
			}
			if !strings.Contains(rec.Body.String(), "Incorrect username or password.") {
				t.Errorf("body: got %s, want the generic error", rec.Body)
			}
			if i == 0 {
				firstBody, firstStatus = rec.Body.Bytes(), rec.Code
				goldenCompare(t, "login_failed.golden", firstBody)
				return
			}
			if rec.Code != firstStatus {
				t.Errorf("status: got %d, want %d as for %s", rec.Code, firstStatus, cases[0].name)
			}
			if !bytes.Equal(stableCeremonies(rec.Body.Bytes()), stableCeremonies(firstBody)) {
				t.Errorf("body: got\n%s\nwant the same bytes as for %s:\n%s", rec.Body, cases[0].name, firstBody)
			}
		})
	}
}

// T-L4: oversized and odd input gets a bounded answer.
func TestLoginOddInput(t *testing.T) {
	env := newUIEnv(t)
	env.addUser(t, "alice", testPassword, false)
	tests := []struct {
		name               string
		username, password string
		want               int
	}{
		{"1 MB password", "alice", strings.Repeat("p", 1<<20), http.StatusBadRequest},
		{"body just over the limit", "alice", strings.Repeat("p", maxFormBytes), http.StatusBadRequest},
		{"password over MaxPasswordBytes", "alice", strings.Repeat("p", MaxPasswordBytes+1), http.StatusOK},
		{"password over MaxPasswordBytes sharing the prefix", "alice", testPassword + strings.Repeat("x", MaxPasswordBytes), http.StatusOK},
		{"NUL in username", "alice\x00", testPassword, http.StatusOK},
		{"NUL-only username", "\x00\x00", testPassword, http.StatusOK},
		{"invalid UTF-8 username", "al\xff\xfeice", testPassword, http.StatusOK},
		{"NUL in password", "alice", testPassword + "\x00", http.StatusOK},
		{"long username", strings.Repeat("a", 10000), testPassword, http.StatusOK},
		{"empty username", "", testPassword, http.StatusOK},
		{"empty password", "alice", "", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := env.do(request(http.MethodPost, "/login", env.loginForm("", tt.username, tt.password), BrowserCookie, testBrowser))
			if rec.Code != tt.want {
				t.Errorf("status: got %d, want %d", rec.Code, tt.want)
			}
			if responseCookie(rec, SessionCookie) != nil {
				t.Errorf("got a session cookie, want none")
			}
			if tt.want == http.StatusOK && !strings.Contains(rec.Body.String(), "Incorrect username or password.") {
				t.Errorf("body: got %.500s, want the generic error", rec.Body)
			}
			if rec.Body.Len() > 8<<10 {
				t.Errorf("body: got %d bytes, want a bounded page", rec.Body.Len())
			}
		})
	}
}

func checkSecurityHeaders(t *testing.T, h http.Header) {
	t.Helper()
	csp := h.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy: got %q, want frame-ancestors 'none'", csp)
	}
	for name, want := range map[string]string{
		"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
}

// T-A7 for the UI: every page carries the security headers. The pages are
// also compared with golden files.
func TestPagesSecurityHeadersAndGolden(t *testing.T) {
	env := newUIEnv(t)
	env.addUser(t, "alice", testPassword, false)
	env.addAuthRequest(t, "ar1", "web", testBrowser, "alice")

	// A session with a fixed cookie value, so that the sign-out CSRF token
	// in the account page is reproducible.
	session := &http.Cookie{Name: SessionCookie, Value: base64.RawURLEncoding.EncodeToString([]byte("session-cookie-value-of-32-bytes"))}
	if err := env.store.CreateSession(t.Context(), &storage.Session{
		ID: Hash(session.Value), UserID: "id-alice", AuthTime: testNow, AMR: []string{"pwd"},
		CreatedAt: testNow, LastSeen: testNow, ExpiresAt: testNow.Add(time.Hour),
	}); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}

	tests := []struct {
		name       string
		serve      func() *httptest.ResponseRecorder
		wantStatus int
		golden     string
	}{
		{"login page", func() *httptest.ResponseRecorder {
			return env.do(request(http.MethodGet, "/login?id=ar1", nil, BrowserCookie, testBrowser))
		}, http.StatusOK, "login.golden"},
		{"login page without auth request", func() *httptest.ResponseRecorder {
			return env.do(request(http.MethodGet, "/login", nil, BrowserCookie, testBrowser))
		}, http.StatusOK, "login_plain.golden"},
		{"login failure", func() *httptest.ResponseRecorder {
			return env.do(request(http.MethodPost, "/login", env.loginForm("ar1", "alice", "nope"), BrowserCookie, testBrowser))
		}, http.StatusOK, ""},
		{"error page: unknown auth request", func() *httptest.ResponseRecorder {
			return env.do(request(http.MethodGet, "/login?id=unknown", nil, BrowserCookie, testBrowser))
		}, http.StatusBadRequest, "error_expired.golden"},
		{"error page: other browser", func() *httptest.ResponseRecorder {
			return env.do(request(http.MethodGet, "/login?id=ar1", nil))
		}, http.StatusForbidden, ""},
		{"error page: CSRF", func() *httptest.ResponseRecorder {
			return env.do(request(http.MethodPost, "/login", url.Values{"id": {"ar1"}}, BrowserCookie, testBrowser))
		}, http.StatusForbidden, "error_csrf.golden"},
		{"error page: RenderError", func() *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			env.u.RenderError(t.Context(), rec, http.StatusBadRequest, "Invalid sign-in request", "The request is <bad>.", "invalid_request")
			return rec
		}, http.StatusBadRequest, "error.golden"},
		{"account page", func() *httptest.ResponseRecorder {
			return env.do(request(http.MethodGet, "/account", nil, SessionCookie, session.Value))
		}, http.StatusOK, "account.golden"},
		{"confirm sign-out page", func() *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			env.u.ConfirmSignOut(t.Context(), rec, request(http.MethodGet, "/", nil, SessionCookie, session.Value),
				"/end_session", url.Values{"client_id": {"web"}, "state": {"s<1>"}}, "Web App")
			return rec
		}, http.StatusOK, "confirm.golden"},
		{"signed-out page", func() *httptest.ResponseRecorder {
			rec := httptest.NewRecorder()
			env.u.SignedOut(t.Context(), rec, nil, "", "")
			return rec
		}, http.StatusOK, "signedout.golden"},
		{"sign-out", func() *httptest.ResponseRecorder {
			form := url.Values{"csrf_token": {env.u.csrfToken("account", session.Value, "")}}
			return env.do(request(http.MethodPost, "/account/signout", form, SessionCookie, session.Value))
		}, http.StatusOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.serve()
			if rec.Code != tt.wantStatus {
				t.Fatalf("status: got %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			checkSecurityHeaders(t, rec.Header())
			if got := rec.Header().Get("Content-Type"); got != "text/html; charset=utf-8" {
				t.Errorf("Content-Type: got %q, want text/html; charset=utf-8", got)
			}
			if tt.golden != "" {
				goldenCompare(t, tt.golden, rec.Body.Bytes())
			}
		})
	}
}

// T-L6: client names and login hints are escaped in the login page.
func TestLoginPageEscapes(t *testing.T) {
	payloads := []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`}
	for _, payload := range payloads {
		t.Run(payload, func(t *testing.T) {
			env := newUIEnv(t)
			env.addClient(t, "evil", "Evil "+payload)
			env.addAuthRequest(t, "ar1", "evil", testBrowser, payload)
			rec := env.do(request(http.MethodGet, "/login?id=ar1", nil, BrowserCookie, testBrowser))
			if rec.Code != http.StatusOK {
				t.Fatalf("status: got %d, want 200; body %s", rec.Code, rec.Body)
			}
			// The page's own script, and nothing else.
			body := strings.Replace(rec.Body.String(), `<script src="/assets/passkey.js" defer></script>`, "", 1)
			for _, raw := range []string{payload, "<script", "<img"} {
				if strings.Contains(body, raw) {
					t.Errorf("body contains %q unescaped:\n%s", raw, body)
				}
			}
			escaped := template.HTMLEscapeString(payload)
			if !strings.Contains(body, "<strong>Evil "+escaped+"</strong>") {
				t.Errorf("body: got\n%s\nwant the client name shown escaped as %q", body, escaped)
			}
			if !strings.Contains(body, `value="`+escaped+`"`) {
				t.Errorf("body: got\n%s\nwant the login hint in the username field escaped as %q", body, escaped)
			}
		})
	}
}
