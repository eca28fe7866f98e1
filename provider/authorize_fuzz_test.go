package provider

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
)

// FuzzAuthorize sends arbitrary query strings to /authorize. Whatever the
// input: no 5xx, and a redirect goes either to the login page or to a
// redirect URI the named client registered (for the native client, its
// loopback with any port), always with iss.
func FuzzAuthorize(f *testing.F) {
	good := url.Values{
		"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"s"}, "code_challenge": {s256("v")}, "code_challenge_method": {"S256"},
	}
	f.Add(good.Encode())
	f.Add("client_id=native&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcallback&response_type=code&scope=openid")
	f.Add("client_id=web&redirect_uri=https%3A%2F%2Fevil.example&response_type=token")
	f.Add("client_id=web&client_id=native&%zz")
	f.Add("prompt=none&max_age=-1&client_id=web&redirect_uri=" + url.QueryEscape(webRedirect))
	e := newTestEnv(f)
	registered := map[string][]string{}
	for _, c := range testClients() {
		registered[c.ID] = c.RedirectURIs
	}
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodGet, testIssuer+"/authorize", nil)
		req.URL.RawQuery = query
		rec := e.do(req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, query)
		}
		loc := rec.Header().Get("Location")
		if loc == "" || strings.HasPrefix(loc, loginPath+"?id=") {
			return
		}
		checkAuthorizeRedirect(t, query, loc, registered)
	})
}

// checkAuthorizeRedirect checks a redirect authorize answered query with:
// it carries iss and goes only to a URI that the client named by the
// query's client_id registered (exactly, or a native loopback URI on
// another port). It returns the Location without its query, and that
// client_id.
func checkAuthorizeRedirect(t *testing.T, query, loc string, registered map[string][]string) (*url.URL, string) {
	t.Helper()
	q, _ := url.ParseQuery(query)
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatalf("unparsable Location %q", loc)
	}
	if u.Query().Get("iss") != testIssuer {
		t.Fatalf("redirect %q without iss", loc)
	}
	base := *u
	base.RawQuery = ""
	clientID, ok := q.Get("client_id"), false
	for _, r := range registered[clientID] {
		ok = ok || base.String() == r || clientpolicy.LoopbackMatch(r, base.String())
	}
	if !ok {
		t.Fatalf("redirect to %q is not a registered URI of client %q (query %q)", loc, clientID, query)
	}
	return &base, clientID
}
