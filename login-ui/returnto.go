package loginui

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// ReturnCookie remembers, for a sign-in that no application asked for,
// the page of Gatehouse's own to go back to once it is complete (the
// admin console's): the page asks for it (SignInAndReturn), and the
// sign-in, with its second step if one is due, ends there instead of on
// the account page.
const ReturnCookie = "__Host-gatehouse-return"

// maxReturnPath bounds the path ReturnCookie keeps.
const maxReturnPath = 1024

// LocalPath reports whether p is a path on this server, and nothing
// else: it starts with one slash, names no scheme or host, and holds no
// backslash or control character (browsers read "/\evil.example" as
// another host).
func LocalPath(p string) bool {
	if p == "" || len(p) > maxReturnPath || p[0] != '/' || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\") {
		return false
	}
	for _, c := range []byte(p) {
		if c < 0x21 || c == 0x7f {
			return false
		}
	}
	u, err := url.Parse(p)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == ""
}

// SignInAndReturn sends the browser to the sign-in page and, once it has
// signed in, back to path (a LocalPath; anything else returns to the
// account page).
func (u *UI) SignInAndReturn(w http.ResponseWriter, r *http.Request, path string) {
	if LocalPath(path) {
		setReturnCookie(w, path)
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// setReturnCookie sets ReturnCookie to path, a LocalPath.
func setReturnCookie(w http.ResponseWriter, path string) {
	http.SetCookie(w, &http.Cookie{
		Name: ReturnCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(path)), Path: "/",
		MaxAge: 15 * 60, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// returnTarget is where a sign-in without an authorization request goes:
// the page ReturnCookie names (the cookie is cleared), else the account
// page.
func (u *UI) returnTarget(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(ReturnCookie)
	if err != nil {
		return "/account"
	}
	clearCookie(w, ReturnCookie)
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || !LocalPath(string(b)) {
		return "/account"
	}
	return string(b)
}
