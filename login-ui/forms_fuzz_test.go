package loginui

import (
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Sessions the form fuzz targets keep signed in: alice's (the browser that
// posts) and bob's, which nothing alice posts may end.
var (
	aliceCookie = strings.Repeat("A", 42) + "E"
	bobCookie   = strings.Repeat("B", 42) + "E"
)

// newFormFuzzEnv is a UI with alice and bob, cheap password hashes (the
// dummy one too) and both their sessions.
func newFormFuzzEnv(f *testing.F) *uiEnv {
	env := newUIEnv(f)
	env.addUser(f, "alice", testPassword, false)
	env.addUser(f, "bob", testPassword, false)
	dummy, err := HashPassword("gatehouse-dummy-password", cheapArgon2, rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	env.u.dummyHash = dummy
	return env
}

// keepSignedIn makes sure alice and bob have a live session at the env's
// clock, with a consent each to the web app.
func (e *uiEnv) keepSignedIn(t *testing.T) {
	now := *e.clock
	for _, s := range []struct{ cookie, user string }{{aliceCookie, "id-alice"}, {bobCookie, "id-bob"}} {
		err := e.store.CreateSession(t.Context(), &storage.Session{
			ID: Hash(s.cookie), UserID: s.user, AuthTime: now, CreatedAt: now, LastSeen: now,
			ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour),
		})
		if err != nil && !errors.Is(err, storage.ErrConflict) {
			t.Fatal(err)
		}
		if err := e.store.SaveConsent(t.Context(), &storage.Consent{UserID: s.user, ClientID: "web", Scopes: []string{"openid"}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
}

// postRaw posts body as it is to path, with the given cookies.
func (e *uiEnv) postRaw(path, body string, cookies ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(cookies); i += 2 {
		req.AddCookie(&http.Cookie{Name: cookies[i], Value: cookies[i+1]})
	}
	return e.do(req)
}

// FuzzLoginForm posts arbitrary bodies to /login, with or without the
// browser cookie, and with the right CSRF token appended or not:
//   - never a 5xx, never a panic;
//   - a body without the right token for its id and the browser gets 403
//     (400 when it cannot be read) and changes nothing: no session
//     cookie, no attempt counted, no event;
//   - with it, a session only for alice's right password.
func FuzzLoginForm(f *testing.F) {
	for _, s := range []struct {
		body          string
		right, cookie bool
	}{
		{"username=alice&password=" + url.QueryEscape(testPassword), true, true},
		{"username=alice&password=" + url.QueryEscape(testPassword), false, true},
		{"username=alice&password=" + url.QueryEscape(testPassword), true, false},
		{"username=Alice&password=wrong&csrf_token=forged", true, true},
		{"csrf_token=&csrf_token=x&username=bob&password=y", false, true},
		{"id=ar1&username=alice&password=x", true, true},
		{"%zz=1&username=alice", true, true},
		{"username=" + strings.Repeat("a", 70000), true, true},
		{";&&==", false, false},
	} {
		f.Add(s.body, s.right, s.cookie)
	}
	env := newFormFuzzEnv(f)
	f.Fuzz(func(t *testing.T, body string, appendRight, withCookie bool) {
		*env.clock = env.clock.Add(time.Hour) // earlier attempts' counters have expired
		*env.events = nil
		pre, _ := url.ParseQuery(body)
		right := env.u.csrfToken("login", testBrowser, pre.Get("id"))
		if appendRight {
			body += "&csrf_token=" + right
		}
		var cookies []string
		if withCookie {
			cookies = []string{BrowserCookie, testBrowser}
		}
		rec := env.postRaw("/login", body, cookies...)
		vals, perr := url.ParseQuery(body)
		readable := perr == nil && len(body) <= maxFormBytes
		accepted := readable && withCookie && vals.Get("csrf_token") == env.u.csrfToken("login", testBrowser, vals.Get("id"))
		session := responseCookie(rec, SessionCookie)
		switch {
		case rec.Code >= 500:
			t.Fatalf("body %q: status %d", body, rec.Code)
		case !readable && rec.Code != http.StatusBadRequest:
			t.Fatalf("unreadable body %q: status %d, want 400", body, rec.Code)
		case readable && !accepted && rec.Code != http.StatusForbidden:
			t.Fatalf("body %q without the right CSRF token (cookie %v): status %d, want 403", body, withCookie, rec.Code)
		case !accepted && (session != nil || len(*env.events) > 0):
			t.Fatalf("body %q refused, yet session cookie %v, events %v", body, session, *env.events)
		case session != nil && (CanonicalUsername(vals.Get("username")) != "alice" || vals.Get("password") != testPassword):
			t.Fatalf("body %q: a session for a wrong username or password", body)
		}
		if !accepted {
			states, err := env.store.LoginFailures(t.Context(), []string{"ip:192.0.2.1", "acct:" + CanonicalUsername(vals.Get("username"))}, *env.clock)
			if err != nil || states[0].Count != 0 || states[1].Count != 0 {
				t.Fatalf("body %q refused, yet counted: %+v %v", body, states, err)
			}
		}
	})
}

// FuzzAccountForms posts arbitrary bodies to every account page form as
// alice, with the right CSRF token appended or not:
//   - never a 5xx, never a panic;
//   - without the right token: 403 (400 when unreadable), every session
//     and consent as it was;
//   - with it: bob's session and consent are never touched, whatever the
//     body names.
func FuzzAccountForms(f *testing.F) {
	paths := []string{"/account/sessions/end", "/account/sessions/end-others", "/account/sessions/end-all", "/account/consents/revoke", "/account/signout"}
	for i := range paths {
		f.Add(uint8(i), "session="+Hash(bobCookie)+"&client=web", true)
		f.Add(uint8(i), "session="+Hash(aliceCookie), false)
	}
	f.Add(uint8(0), "csrf_token=x&session=no-such", true)
	f.Add(uint8(3), "client="+strings.Repeat("w", 300), true)
	f.Add(uint8(3), "%&client=web", true)
	env := newFormFuzzEnv(f)
	f.Fuzz(func(t *testing.T, which uint8, body string, appendRight bool) {
		path := paths[int(which)%len(paths)]
		env.keepSignedIn(t)
		right := env.u.csrfToken("account", aliceCookie, "")
		if appendRight {
			body += "&csrf_token=" + right
		}
		rec := env.postRaw(path, body, SessionCookie, aliceCookie)
		vals, perr := url.ParseQuery(body)
		readable := perr == nil && len(body) <= maxFormBytes
		accepted := readable && vals.Get("csrf_token") == right
		alive := func(cookie string) bool {
			_, err := env.store.Session(t.Context(), Hash(cookie), *env.clock)
			return err == nil
		}
		consented := func(user string) bool {
			_, err := env.store.Consent(t.Context(), user, "web")
			return err == nil
		}
		switch {
		case rec.Code >= 500:
			t.Fatalf("%s %q: status %d", path, body, rec.Code)
		case !readable && rec.Code != http.StatusBadRequest:
			t.Fatalf("%s unreadable %q: status %d, want 400", path, body, rec.Code)
		case readable && !accepted && rec.Code != http.StatusForbidden:
			t.Fatalf("%s %q without the right CSRF token: status %d, want 403", path, body, rec.Code)
		case !accepted && (!alive(aliceCookie) || !consented("id-alice")):
			t.Fatalf("%s %q refused, yet alice's session or consent is gone", path, body)
		case !alive(bobCookie) || !consented("id-bob"):
			t.Fatalf("%s %q posted by alice ended bob's session or consent", path, body)
		}
	})
}

var csrfInput = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// FuzzConsentFormToken renders the consent page for an auth request and
// posts its token back with arbitrary changes: the token is valid for that
// request in that session only; no other request id, form purpose, session
// cookie or token text is ever accepted unless it is exactly the token of
// that triple.
func FuzzConsentFormToken(f *testing.F) {
	// The purposes of Gatehouse's forms (constants, never from a request).
	purposes := []string{"consent", "account", "endsession", "login"}
	f.Add("ar1", "ar1", uint8(0), aliceCookie, "")
	f.Add("ar1", "ar2", uint8(0), aliceCookie, "")
	f.Add("ar1", "ar1", uint8(1), aliceCookie, "")
	f.Add("ar1", "ar1", uint8(0), bobCookie, "")
	f.Add("ar1", "ar1", uint8(0), "", "x")
	f.Add("", "", uint8(3), aliceCookie, "")
	env := newFormFuzzEnv(f)
	f.Fuzz(func(t *testing.T, id, postID string, which uint8, cookie, token string) {
		purpose := purposes[int(which)%len(purposes)]
		page := httptest.NewRequest(http.MethodGet, testIssuer+"/consent?id="+url.QueryEscape(id), nil)
		page.AddCookie(&http.Cookie{Name: SessionCookie, Value: aliceCookie})
		rec := httptest.NewRecorder()
		env.u.RenderConsent(rec, page, ConsentPage{ID: id, ClientName: "Web App", Username: "alice", Scopes: []string{"openid"}, Action: "/consent"})
		m := csrfInput.FindStringSubmatch(rec.Body.String())
		if m == nil {
			t.Fatalf("consent page for %q has no CSRF token", id)
		}
		rendered := htmlUnescape(m[1])
		if !env.u.ValidFormToken(page, "consent", id, rendered) {
			t.Fatalf("the consent page's own token for %q is refused", id)
		}
		if token == "" {
			token = rendered // the fuzzer varies what it is posted with
		}
		post := httptest.NewRequest(http.MethodPost, testIssuer+"/consent", nil)
		post.AddCookie(&http.Cookie{Name: SessionCookie, Value: cookie})
		if env.u.ValidFormToken(post, purpose, postID, token) {
			same := cookieValue(post, SessionCookie) == aliceCookie && purpose == "consent" && postID == id
			if token != env.u.FormToken(post, purpose, postID) || (token == rendered && !same) || cookieValue(post, SessionCookie) == "" {
				t.Fatalf("accepted token %q for purpose %q, request %q, cookie %q; the page's was for consent, %q, alice", token, purpose, postID, cookie, id)
			}
		}
	})
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&#61;", "=").Replace(s)
}
