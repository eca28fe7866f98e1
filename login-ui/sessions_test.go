package loginui

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const testUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"

// signIn posts a good login for auth request id ("" for none) from a
// browser with the given User-Agent and IP, and returns the session cookie.
func (e *uiEnv) signIn(t *testing.T, id, username, ua, ip string, extra url.Values, cookies ...string) *http.Cookie {
	t.Helper()
	form := e.loginForm(id, username, testPassword)
	for k, v := range extra {
		form[k] = v
	}
	req := request(http.MethodPost, "/login", form, append([]string{BrowserCookie, testBrowser}, cookies...)...)
	req.Header.Set("User-Agent", ua)
	req.RemoteAddr = ip + ":50000"
	rec := e.do(req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("sign-in: status %d, want 303; body %s", rec.Code, rec.Body)
	}
	c := responseCookie(rec, SessionCookie)
	if c == nil {
		t.Fatal("sign-in: no session cookie")
	}
	return c
}

// browserReq is a GET from a browser holding session cookie value.
func browserReq(method, target string, form url.Values, session, ua, ip string) *http.Request {
	req := request(method, target, form, SessionCookie, session)
	req.Header.Set("User-Agent", ua)
	req.RemoteAddr = ip + ":50000"
	return req
}

func (e *uiEnv) kinds() []string {
	var out []string
	for _, ev := range *e.events {
		out = append(out, ev.Kind)
	}
	return out
}

func TestSessionTimeouts(t *testing.T) {
	env := newUIEnvWith(t, func(c *Config) {
		c.IdleTimeout, c.AbsoluteTimeout = time.Hour, 3*time.Hour
	})
	env.addUser(t, "alice", testPassword, false)
	cookie := env.signIn(t, "", "alice", testUA, "192.0.2.1", nil)
	if cookie.MaxAge != 0 || !cookie.Expires.IsZero() {
		t.Errorf("session cookie without remember me: MaxAge %d Expires %v, want a browser-session cookie", cookie.MaxAge, cookie.Expires)
	}
	use := func() error {
		_, _, err := env.u.UseSession(t.Context(), httptest.NewRecorder(), browserReq(http.MethodGet, "/", nil, cookie.Value, testUA, "192.0.2.1"), "")
		return err
	}
	// Used every 50 minutes, the session outlives its idle timeout…
	for i := 0; i < 3; i++ {
		*env.clock = env.clock.Add(50 * time.Minute)
		if err := use(); err != nil {
			t.Fatalf("use after %v: %v, want the session alive", env.clock.Sub(testNow), err)
		}
	}
	// …but never its absolute limit (3 h after sign-in), however used.
	*env.clock = testNow.Add(3*time.Hour - time.Second)
	if err := use(); err != nil {
		t.Fatalf("use just before the absolute limit: %v", err)
	}
	*env.clock = testNow.Add(3*time.Hour + time.Second)
	if err := use(); err != ErrNoSession {
		t.Fatalf("use past the absolute limit: got %v, want ErrNoSession", err)
	}

	// Unused for longer than the idle timeout, a fresh session ends.
	*env.clock = testNow
	cookie = env.signIn(t, "", "alice", testUA, "192.0.2.1", nil)
	*env.clock = testNow.Add(time.Hour + time.Second)
	if err := use(); err != ErrNoSession {
		t.Fatalf("use after idling past the timeout: got %v, want ErrNoSession", err)
	}
}

func TestRememberMe(t *testing.T) {
	env := newUIEnvWith(t, func(c *Config) {
		c.IdleTimeout, c.AbsoluteTimeout, c.RememberFor = time.Hour, 3*time.Hour, 30*24*time.Hour
	})
	env.addUser(t, "alice", testPassword, false)
	rec := env.do(request(http.MethodGet, "/login", nil, BrowserCookie, testBrowser))
	if !strings.Contains(rec.Body.String(), `name="remember"`) || !strings.Contains(rec.Body.String(), "30 days") {
		t.Errorf("login page: no 'keep me signed in for 30 days' choice")
	}
	cookie := env.signIn(t, "", "alice", testUA, "192.0.2.1", url.Values{"remember": {"on"}})
	if cookie.MaxAge != 30*24*3600 {
		t.Errorf("remembered session cookie MaxAge: got %d, want %d", cookie.MaxAge, 30*24*3600)
	}
	*env.clock = testNow.Add(29 * 24 * time.Hour)
	if _, _, err := env.u.CurrentSession(t.Context(), browserReq(http.MethodGet, "/", nil, cookie.Value, testUA, "192.0.2.1")); err != nil {
		t.Errorf("remembered session after 29 idle days: %v, want alive", err)
	}
	// Without the choice configured, a posted remember=on is ignored.
	plain := newUIEnvWith(t, func(c *Config) { c.IdleTimeout = time.Hour })
	plain.addUser(t, "alice", testPassword, false)
	if c := plain.signIn(t, "", "alice", testUA, "192.0.2.1", url.Values{"remember": {"on"}}); c.MaxAge != 0 {
		t.Errorf("remember me when not offered: cookie MaxAge %d, want 0", c.MaxAge)
	}
}

func TestSessionAnomalies(t *testing.T) {
	t.Run("new IP is audited and recorded", func(t *testing.T) {
		env := newUIEnv(t)
		env.addUser(t, "alice", testPassword, false)
		cookie := env.signIn(t, "", "alice", testUA, "192.0.2.1", nil)
		s, _, err := env.u.UseSession(t.Context(), httptest.NewRecorder(), browserReq(http.MethodGet, "/", nil, cookie.Value, testUA, "198.51.100.7"), "")
		if err != nil {
			t.Fatal(err)
		}
		stored, err := env.store.Session(t.Context(), s.ID, *env.clock)
		if err != nil || stored.IP != "198.51.100.7" {
			t.Errorf("stored session IP: %+v %v, want 198.51.100.7", stored, err)
		}
		if !strings.Contains(strings.Join(env.kinds(), ","), EventSessionIPChanged) {
			t.Errorf("events %v: want %s", env.kinds(), EventSessionIPChanged)
		}
		// Each event carries the address it came from.
		wantIP := map[string]string{EventSignIn: "192.0.2.1", EventSessionIPChanged: "198.51.100.7"}
		for _, ev := range *env.events {
			if want, ok := wantIP[ev.Kind]; ok && ev.IP != want {
				t.Errorf("%s event: IP %q, want %q", ev.Kind, ev.IP, want)
			}
		}
	})
	t.Run("new User-Agent ends the session", func(t *testing.T) {
		env := newUIEnv(t)
		env.addUser(t, "alice", testPassword, false)
		cookie := env.signIn(t, "", "alice", testUA, "192.0.2.1", nil)
		rec := httptest.NewRecorder()
		_, _, err := env.u.UseSession(t.Context(), rec, browserReq(http.MethodGet, "/", nil, cookie.Value, "curl/8.0", "192.0.2.1"), "")
		if err != ErrNoSession {
			t.Fatalf("session replayed with another User-Agent: got %v, want ErrNoSession", err)
		}
		if c := responseCookie(rec, SessionCookie); c == nil || c.MaxAge >= 0 {
			t.Errorf("cookie not cleared: %v", c)
		}
		// The original browser is signed out too: the session is gone.
		if _, _, err := env.u.CurrentSession(t.Context(), browserReq(http.MethodGet, "/", nil, cookie.Value, testUA, "192.0.2.1")); err != ErrNoSession {
			t.Errorf("original browser after the anomaly: got %v, want ErrNoSession", err)
		}
		if !strings.Contains(strings.Join(env.kinds(), ","), EventSessionAgentChanged) {
			t.Errorf("events %v: want %s", env.kinds(), EventSessionAgentChanged)
		}
	})
	t.Run("new User-Agent kept when configured", func(t *testing.T) {
		env := newUIEnvWith(t, func(c *Config) { c.KeepOnUserAgentChange = true })
		env.addUser(t, "alice", testPassword, false)
		cookie := env.signIn(t, "", "alice", testUA, "192.0.2.1", nil)
		s, _, err := env.u.UseSession(t.Context(), httptest.NewRecorder(), browserReq(http.MethodGet, "/", nil, cookie.Value, "Firefox/150.0", "192.0.2.1"), "")
		if err != nil || s.UserAgent != "Firefox/150.0" {
			t.Fatalf("got %+v %v, want the session with its new User-Agent", s, err)
		}
		if !strings.Contains(strings.Join(env.kinds(), ","), EventSessionAgentChanged) {
			t.Errorf("events %v: want %s", env.kinds(), EventSessionAgentChanged)
		}
	})
}

// A session check costs one store read; it writes only when a minute has
// passed or something changed (here: a new application).
func TestUseSessionRecordsApplications(t *testing.T) {
	env := newUIEnv(t)
	env.addUser(t, "alice", testPassword, false)
	env.addClient(t, "second", "Second App")
	env.addAuthRequest(t, "ar1", "web", testBrowser, "")
	cookie := env.signIn(t, "ar1", "alice", testUA, "192.0.2.1", nil)
	s, _, err := env.u.UseSession(t.Context(), httptest.NewRecorder(), browserReq(http.MethodGet, "/", nil, cookie.Value, testUA, "192.0.2.1"), "second")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := env.store.Session(t.Context(), s.ID, *env.clock)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(stored.Clients, ",") != "web,second" {
		t.Errorf("session clients: got %v, want [web second]", stored.Clients)
	}
}

// A sign-in for an application the user must still allow (JoinLater)
// starts a session without it; one that needs no consent joins at once. A
// failed consent lookup is a 503, never a session that lists the app.
func TestSignInJoinsOnlyAppsWithoutConsent(t *testing.T) {
	for _, tt := range []struct {
		name    string
		needed  bool
		err     error
		status  int
		clients string
	}{
		{"consent needed", true, nil, http.StatusSeeOther, ""},
		{"no consent needed", false, nil, http.StatusSeeOther, "web"},
		{"consent lookup failed", false, errors.New("store down"), http.StatusServiceUnavailable, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var asked string
			env := newUIEnvWith(t, func(c *Config) {
				c.JoinLater = func(_ context.Context, ar *storage.AuthRequest, userID string) (bool, error) {
					asked = ar.ClientID + " " + userID
					return tt.needed, tt.err
				}
			})
			user := env.addUser(t, "alice", testPassword, false)
			env.addAuthRequest(t, "ar1", "web", testBrowser, "")
			req := request(http.MethodPost, "/login", env.loginForm("ar1", "alice", testPassword), BrowserCookie, testBrowser)
			rec := env.do(req)
			if rec.Code != tt.status {
				t.Fatalf("sign-in: status %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			if asked != "web "+user.ID {
				t.Errorf("JoinLater asked for %q, want client web and user %s", asked, user.ID)
			}
			c := responseCookie(rec, SessionCookie)
			if tt.status != http.StatusSeeOther {
				if c != nil && c.Value != "" {
					t.Errorf("a failed sign-in set a session cookie")
				}
				return
			}
			s, err := env.store.Session(t.Context(), Hash(c.Value), *env.clock)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(s.Clients, ","); got != tt.clients {
				t.Errorf("session apps: got %q, want %q", got, tt.clients)
			}
		})
	}
}

func TestNewSessionAtEverySignIn(t *testing.T) {
	env := newUIEnv(t)
	env.addUser(t, "alice", testPassword, false)
	env.addClientWith(t, storage.Client{ID: "bc", Name: "Back-channel App", BackchannelLogoutURI: "https://rp.example/bc"})
	env.addAuthRequest(t, "ar1", "bc", testBrowser, "")
	first := env.signIn(t, "ar1", "alice", testUA, "192.0.2.1", nil)
	second := env.signIn(t, "", "alice", testUA, "192.0.2.1", nil, SessionCookie, first.Value)
	if second.Value == first.Value {
		t.Fatal("second sign-in reused the session id")
	}
	if _, err := env.store.Session(t.Context(), Hash(first.Value), *env.clock); err == nil {
		t.Error("previous session still stored after a new sign-in")
	}
	s, err := env.store.Session(t.Context(), Hash(second.Value), *env.clock)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Clients) != 0 {
		t.Errorf("new session's apps: %v, want none carried over", s.Clients)
	}
	// The replaced session's app is told, with the sid its ID token has.
	notices, err := env.store.ClaimLogoutNotices(t.Context(), *env.clock, time.Minute, 10)
	if err != nil || len(notices) != 1 || notices[0].ClientID != "bc" || notices[0].SessionID != Hash(first.Value) {
		t.Errorf("notices: %+v %v, want one for bc naming the replaced session", notices, err)
	}
}

func TestLoginThrottle(t *testing.T) {
	env := newUIEnv(t)
	env.addUser(t, "carol", testPassword, false)
	attempt := func(username, password, ip string) *httptest.ResponseRecorder {
		req := request(http.MethodPost, "/login", env.loginForm("", username, password), BrowserCookie, testBrowser)
		req.RemoteAddr = ip + ":4000"
		return env.do(req)
	}
	for i := 0; i < accountFreeFailures; i++ {
		if rec := attempt("carol", "wrong password", "192.0.2.1"); rec.Code != http.StatusOK {
			t.Fatalf("failure %d: status %d, want 200 (free failures)", i+1, rec.Code)
		}
	}
	// The right password is refused while the delay runs, and case
	// variants of the name share the counter.
	for _, name := range []string{"carol", "CAROL", "Carol"} {
		rec := attempt(name, testPassword, "203.0.113.9")
		if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" {
			t.Errorf("%s during the delay: status %d Retry-After %q, want 429 and 1", name, rec.Code, rec.Header().Get("Retry-After"))
		}
		if responseCookie(rec, SessionCookie) != nil {
			t.Errorf("%s during the delay: got a session cookie", name)
		}
	}
	// An unknown account is throttled the same way.
	for i := 0; i < accountFreeFailures; i++ {
		attempt("nobody", "x", "192.0.2.50")
	}
	if rec := attempt("nobody", "x", "192.0.2.50"); rec.Code != http.StatusTooManyRequests {
		t.Errorf("unknown account after %d failures: status %d, want 429", accountFreeFailures, rec.Code)
	}
	// The delay passes: the user gets in, and the account's counter is
	// cleared by the success.
	*env.clock = env.clock.Add(2 * time.Second)
	if rec := attempt("carol", testPassword, "192.0.2.1"); rec.Code != http.StatusSeeOther {
		t.Fatalf("after the delay: status %d, want 303 (signed in)", rec.Code)
	}
	states, err := env.store.LoginFailures(t.Context(), []string{"acct:carol"}, *env.clock)
	if err != nil || states[0].Count != 0 {
		t.Errorf("account counter after a success: %+v %v, want 0", states, err)
	}
	// Delays grow and are capped at a minute for an account.
	for i := 0; i < 12; i++ {
		*env.clock = env.clock.Add(2 * time.Minute)
		attempt("carol", "wrong", "192.0.2.77")
	}
	rec := attempt("carol", testPassword, "192.0.2.1")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "60" {
		t.Errorf("after 12 more failures: status %d Retry-After %q, want 429 and 60 (the cap)", rec.Code, rec.Header().Get("Retry-After"))
	}
}

func TestLoginThrottlePerIP(t *testing.T) {
	env := newUIEnv(t)
	env.addUser(t, "dave", testPassword, false)
	for i := 0; i < ipFreeFailures; i++ {
		req := request(http.MethodPost, "/login", env.loginForm("", "user"+string(rune('a'+i)), "x"), BrowserCookie, testBrowser)
		req.RemoteAddr = "[2001:db8::1]:4000"
		env.do(req)
	}
	// Another address in the same /64, another account: throttled.
	req := request(http.MethodPost, "/login", env.loginForm("", "dave", testPassword), BrowserCookie, testBrowser)
	req.RemoteAddr = "[2001:db8::ffff]:4000"
	if rec := env.do(req); rec.Code != http.StatusTooManyRequests {
		t.Errorf("after %d failures from one /64: status %d, want 429", ipFreeFailures, rec.Code)
	}
	// Another network is not affected.
	req = request(http.MethodPost, "/login", env.loginForm("", "dave", testPassword), BrowserCookie, testBrowser)
	req.RemoteAddr = "[2001:db8:1::1]:4000"
	if rec := env.do(req); rec.Code != http.StatusSeeOther {
		t.Errorf("from another network: status %d, want 303", rec.Code)
	}
}

func TestAccountPageEndsSessions(t *testing.T) {
	env := newUIEnv(t)
	env.addUser(t, "alice", testPassword, false)
	env.addUser(t, "bob", testPassword, false)
	env.addClientWith(t, storage.Client{ID: "bc", Name: "Back-channel App", BackchannelLogoutURI: "https://rp.example/bc"})
	env.addAuthRequest(t, "ar1", "bc", testBrowser, "")
	laptop := env.signIn(t, "ar1", "alice", testUA, "192.0.2.1", nil)
	phone := env.signIn(t, "", "alice", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1", "198.51.100.2", nil)
	bobs := env.signIn(t, "", "bob", testUA, "192.0.2.9", nil)

	page := env.do(browserReq(http.MethodGet, "/account", nil, phone.Value, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1", "198.51.100.2"))
	body := page.Body.String()
	for _, want := range []string{"Safari on iPhone", "Chrome on Linux", "This browser", "Back-channel App", "192.0.2.1"} {
		if !strings.Contains(body, want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	token := env.u.csrfToken("account", phone.Value, "")
	post := func(path string, form url.Values) *httptest.ResponseRecorder {
		return env.do(browserReq(http.MethodPost, path, form, phone.Value, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1", "198.51.100.2"))
	}
	// Bad input: no CSRF token; another user's session id.
	if rec := post("/account/sessions/end", url.Values{"session": {Hash(laptop.Value)}}); rec.Code != http.StatusForbidden {
		t.Errorf("end session without CSRF token: status %d, want 403", rec.Code)
	}
	// Another user's session, an unknown id and this very session are
	// not among alice's other sessions: nothing is ended, and the page
	// says the session was not found (it used to say it was ended).
	for _, id := range []string{Hash(bobs.Value), "no-such-session", Hash(phone.Value)} {
		rec := post("/account/sessions/end", url.Values{"csrf_token": {token}, "session": {id}})
		if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || loc != "/account?done=notfound" {
			t.Errorf("end session %.12s…: status %d to %q, want 303 to /account?done=notfound", id, rec.Code, loc)
		}
	}
	if _, err := env.store.Session(t.Context(), Hash(bobs.Value), *env.clock); err != nil {
		t.Errorf("another user's session was ended by alice: %v", err)
	}
	notice := env.do(browserReq(http.MethodGet, "/account?done=notfound", nil, phone.Value, "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Safari/604.1", "198.51.100.2")).Body.String()
	if !strings.Contains(notice, "That session was not found") || strings.Contains(notice, "The session was ended") {
		t.Errorf("account page after ending a session that is not alice's: want the not-found notice, not the ended one")
	}
	for _, ev := range *env.events {
		if ev.Kind == EventSessionEnded {
			t.Errorf("event %+v for a session that was not ended", ev)
		}
	}
	// Ending the laptop session from the phone.
	if rec := post("/account/sessions/end", url.Values{"csrf_token": {token}, "session": {Hash(laptop.Value)}}); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account?done=ended" {
		t.Fatalf("end other session: status %d to %q, want 303 to /account?done=ended", rec.Code, rec.Header().Get("Location"))
	}
	if _, err := env.store.Session(t.Context(), Hash(laptop.Value), *env.clock); err == nil {
		t.Error("laptop session still alive after being ended from the account page")
	}
	notices, err := env.store.ClaimLogoutNotices(t.Context(), *env.clock, time.Minute, 10)
	if err != nil || len(notices) != 1 || notices[0].ClientID != "bc" || notices[0].SessionID != Hash(laptop.Value) {
		t.Errorf("queued logout notices: %+v %v, want one for client bc and the laptop session", notices, err)
	}
	// Sign out everywhere ends the phone session too.
	rec := post("/account/sessions/end-all", url.Values{"csrf_token": {token}})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "You are signed out") {
		t.Fatalf("sign out everywhere: status %d", rec.Code)
	}
	if left, _ := env.store.UserSessions(t.Context(), "id-alice", *env.clock); len(left) != 0 {
		t.Errorf("after signing out everywhere %d sessions left", len(left))
	}
}

func TestConsentRevocation(t *testing.T) {
	env := newUIEnv(t)
	env.addUser(t, "alice", testPassword, false)
	cookie := env.signIn(t, "", "alice", testUA, "192.0.2.1", nil)
	now := *env.clock
	if err := env.store.SaveConsent(t.Context(), &storage.Consent{UserID: "id-alice", ClientID: "web", Scopes: []string{"openid", "email"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	grant := &storage.RefreshGrant{TokenHash: "h1", FamilyID: "f1", ClientID: "web", UserID: "id-alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := env.store.CreateRefreshGrant(t.Context(), grant); err != nil {
		t.Fatal(err)
	}
	page := env.do(browserReq(http.MethodGet, "/account", nil, cookie.Value, testUA, "192.0.2.1")).Body.String()
	if !strings.Contains(page, "Web App") || !strings.Contains(page, "See your email address") {
		t.Errorf("account page does not list the consent to Web App with its scopes")
	}
	form := url.Values{"csrf_token": {env.u.csrfToken("account", cookie.Value, "")}, "client": {"web"}}
	if rec := env.do(browserReq(http.MethodPost, "/account/consents/revoke", form, cookie.Value, testUA, "192.0.2.1")); rec.Code != http.StatusSeeOther {
		t.Fatalf("revoke: status %d", rec.Code)
	}
	if _, err := env.store.Consent(t.Context(), "id-alice", "web"); err == nil {
		t.Error("consent still stored after withdrawal")
	}
	if _, err := env.store.RefreshGrant(t.Context(), "h1", now); err == nil {
		t.Error("refresh token still valid after the consent was withdrawn")
	}
	// Bad input: no client named.
	form.Del("client")
	if rec := env.do(browserReq(http.MethodPost, "/account/consents/revoke", form, cookie.Value, testUA, "192.0.2.1")); rec.Code != http.StatusBadRequest {
		t.Errorf("revoke without client: status %d, want 400", rec.Code)
	}
}

func TestSignedOutPageFrontChannel(t *testing.T) {
	env := newUIEnv(t)
	env.addClientWith(t, storage.Client{ID: "fc", Name: "Front <App>", FrontchannelLogoutURI: "https://rp.example/fc?x=1", FrontchannelLogoutSessionRequired: true})
	ended := &storage.Session{ID: "sid-1", UserID: "u", Clients: []string{"fc", "web"}}
	rec := httptest.NewRecorder()
	env.u.SignedOut(t.Context(), rec, ended, "https://app.example/bye?state=s", "Front <App>")
	body := rec.Body.String()
	if !strings.Contains(body, `src="https://rp.example/fc?iss=https%3A%2F%2Fop.example&amp;sid=sid-1&amp;x=1"`) {
		t.Errorf("no front-channel iframe with iss and sid in:\n%s", body)
	}
	if strings.Contains(body, "Front <App>") {
		t.Error("client name not escaped")
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src https://rp.example") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q: want frame-src of the RP and frame-ancestors 'none'", csp)
	}
	if got := rec.Header().Get("Refresh"); got != "2; url=https://app.example/bye?state=s" {
		t.Errorf("Refresh header %q", got)
	}
	// Without front-channel clients the redirect is immediate.
	rec = httptest.NewRecorder()
	env.u.SignedOut(t.Context(), rec, &storage.Session{ID: "s2", Clients: []string{"web"}}, "https://app.example/bye", "")
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "https://app.example/bye" {
		t.Errorf("no front-channel clients: status %d Location %q, want 302 to the app", rec.Code, rec.Header().Get("Location"))
	}
}

func TestScopeDescriptionsOrder(t *testing.T) {
	got := ScopeDescriptions([]string{"email", "offline_access", "openid", "reports:read", "profile"})
	want := []string{
		"Know who you are (your account identifier)", "See your name and username", "See your email address",
		"Keep access while you are not using it, until you withdraw it", "Use the “reports:read” permission",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q, want %q", got, want)
	}
}
