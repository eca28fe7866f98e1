package provider

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzAuthorizeSignedIn is FuzzAuthorize from a signed-in browser, where a
// good request is answered at once (single sign-on) with a code: the
// answer that matters most. Whatever the query: no 5xx; a redirect that is
// not to the login or consent page goes to a URI the client named by
// client_id (exactly that parameter) registered, with iss; and a code in
// it belongs to an authorization request of that client and that redirect
// URI.
func FuzzAuthorizeSignedIn(f *testing.F) {
	challenge := s256(strings.Repeat("v", 43))
	good := url.Values{
		"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	f.Add(good.Encode())
	f.Add(good.Encode() + "&Redirect_Uri=https%3A%2F%2Fevil.example%2F")
	f.Add(good.Encode() + "&CLIENT_ID=native")
	f.Add(good.Encode() + "&response_mode=form_post")
	f.Add(good.Encode() + "&prompt=none&max_age=0")
	f.Add(good.Encode() + "&prompt=login")
	f.Add("client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcallback&response_type=code&scope=openid&code_challenge=" + challenge + "&code_challenge_method=S256")
	f.Add("client_id=native&redirect_uri=http%3A%2F%2Flocalhost%3A1%2Fcallback&response_type=code&scope=openid&code_challenge=" + challenge + "&code_challenge_method=S256")
	f.Add("client_id=third&redirect_uri=" + url.QueryEscape(webRedirect) + "&response_type=code&scope=openid&code_challenge=" + challenge + "&code_challenge_method=S256")
	f.Add("client_id=web&redirect_uri=" + url.QueryEscape(webRedirect) + "&response_type=token&scope=openid&state=x")
	e := newLiveFuzzEnv(f)
	registered := map[string][]string{}
	for _, c := range testClients() {
		registered[c.ID] = c.RedirectURIs
	}
	live := &liveTokens[cookieJar]{maxAge: time.Hour, issue: func(tb testing.TB) cookieJar {
		jar := cookieJar{}
		e.signIn(tb, jar, "openid")
		return jar
	}}
	live.get(f)
	f.Fuzz(func(t *testing.T, query string) {
		jar := live.get(t)
		req := httptest.NewRequest(http.MethodGet, testIssuer+"/authorize", nil)
		req.URL.RawQuery = query
		jar.add(req)
		rec := e.do(req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, query)
		}
		loc := rec.Header().Get("Location")
		if loc == "" || strings.HasPrefix(loc, loginPath+"?") || strings.HasPrefix(loc, consentPath+"?") {
			return
		}
		base, clientID := checkAuthorizeRedirect(t, query, loc, registered)
		u, _ := url.Parse(loc)
		code := u.Query().Get("code")
		if code == "" {
			return
		}
		ar, err := e.store.AuthRequestByCode(t.Context(), TokenHash(code), time.Now())
		if err != nil {
			t.Fatalf("the code in %q names no stored request: %v", loc, err)
		}
		if ar.ClientID != clientID || ar.RedirectURI != base.String() {
			t.Fatalf("a code of client %q for %q redirected to %q for client %q (query %q)", ar.ClientID, ar.RedirectURI, base.String(), clientID, query)
		}
	})
}
