package loginui

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLocalPath: only a path on this server may be returned to. Bad input
// tried: another host in every spelling browsers accept, a scheme, control
// characters, an overlong path.
func TestLocalPath(t *testing.T) {
	long := "/" + strings.Repeat("a", maxReturnPath) // valid but for its length
	for _, p := range []string{"/admin", "/admin/users?q=a%20b&after=x", "/account"} {
		if !LocalPath(p) {
			t.Errorf("LocalPath(%q) = false, want true", p)
		}
	}
	for _, p := range []string{"", "admin", "//evil.example", "/\\evil.example", "\\\\evil.example", "https://evil.example/admin",
		"javascript:alert(1)", "/admin\r\nSet-Cookie: x=y", "/admin\x00", "/ad min", "/admin\t", long} {
		if LocalPath(p) {
			t.Errorf("LocalPath(%q) = true, want false", p)
		}
	}
}

// TestSignInReturns: a sign-in without an authorization request ends on
// the page that asked for it (SignInAndReturn), with or without a second
// step, and only once. Bad input tried: a path to another host (no cookie
// set), a forged cookie naming another host or not base64.
func TestSignInReturns(t *testing.T) {
	env := newUIEnv(t)
	user := env.addUser(t, "alice", testPassword, false)

	ask := func(path string) *http.Cookie {
		rec := httptest.NewRecorder()
		env.u.SignInAndReturn(rec, request(http.MethodGet, path, nil), path)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
			t.Fatalf("SignInAndReturn(%q): got %d to %q, want 303 to /login", path, rec.Code, rec.Header().Get("Location"))
		}
		return responseCookie(rec, ReturnCookie)
	}
	if c := ask("//evil.example/admin"); c != nil {
		t.Errorf("SignInAndReturn to another host set %+v, want no cookie", c)
	}
	c := ask("/admin/users?q=bob")
	if c == nil || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.MaxAge <= 0 {
		t.Fatalf("return cookie: got %+v, want a __Host- cookie that lapses", c)
	}

	signIn := func(cookie string) *httptest.ResponseRecorder {
		return env.do(request(http.MethodPost, "/login", env.loginForm("", "alice", testPassword), BrowserCookie, testBrowser, ReturnCookie, cookie))
	}
	rec := signIn(c.Value)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/users?q=bob" {
		t.Fatalf("sign-in with a return cookie: got %d to %q, want 303 to /admin/users?q=bob", rec.Code, rec.Header().Get("Location"))
	}
	if cleared := responseCookie(rec, ReturnCookie); cleared == nil || cleared.MaxAge >= 0 {
		t.Errorf("the return cookie was not cleared: %+v", cleared)
	}
	for _, forged := range []string{base64.RawURLEncoding.EncodeToString([]byte("https://evil.example")),
		base64.RawURLEncoding.EncodeToString([]byte("/\\evil.example")), "not base64!"} {
		if rec := signIn(forged); rec.Header().Get("Location") != "/account" {
			t.Errorf("forged return cookie %q: sent to %q, want /account", forged, rec.Header().Get("Location"))
		}
	}

	// With a one-time code, the second step returns.
	env.enrolTOTP(t, user.ID)
	pending := env.passwordStep(t, "")
	rec = env.do(request(http.MethodPost, "/login/factor", env.factorForm(pending, "totp", rfcCode(t, testTOTPSecret, testNow)),
		BrowserCookie, testBrowser, PendingCookie, pending, ReturnCookie, c.Value))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/admin/users?q=bob" {
		t.Fatalf("second step with a return cookie: got %d to %q, want 303 to /admin/users?q=bob", rec.Code, rec.Header().Get("Location"))
	}
}
