package provider

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Clients of FuzzEndSession with post-logout redirect URIs: a web app
// users sign in to, and a native app with a loopback and a private-use
// scheme URI.
const testLogoutSecret = "logout-secret-0123456789abcdef0123456789abcdef"

func logoutClients() []storage.Client {
	return []storage.Client{
		{
			ID: "logout-app", Name: "Logout App", SecretHash: clientpolicy.HashSecret(testLogoutSecret),
			RedirectURIs:            []string{webRedirect},
			PostLogoutRedirectURIs:  []string{"https://app.example/bye", "https://app.example/bye?from=gh"},
			GrantTypes:              []string{"authorization_code"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_post", ApplicationType: "web", SkipConsent: true,
		},
		{
			ID: "logout-native", Name: "Logout Native",
			RedirectURIs:            []string{nativeLoopback},
			PostLogoutRedirectURIs:  []string{"http://127.0.0.1/bye", "com.example.app:/bye"},
			GrantTypes:              []string{"authorization_code"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none", ApplicationType: "native",
		},
	}
}

// logoutFixture is a browser signed in to logout-app and the ID token it got.
type logoutFixture struct {
	jar     cookieJar
	idToken string
}

func newLogoutFixture(tb testing.TB, e *testEnv) logoutFixture {
	tb.Helper()
	jar := cookieJar{}
	code, verifier := e.signInTo(tb, jar, "logout-app", "openid")
	rec := e.exchangeCode(code, verifier, "logout-app", testLogoutSecret)
	var tr tokenResponse
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tr) != nil || tr.IDToken == "" {
		tb.Fatalf("token: got %d %s, want an ID token", rec.Code, rec.Body)
	}
	return logoutFixture{jar: jar, idToken: tr.IDToken}
}

// logoutRedirectAllowed reports whether a post-logout redirect to target
// (a Location or a Refresh URL) is allowed for a request with state: to
// Gatehouse's own signed-out page, or to a registered post_logout_redirect_uri
// exactly — a native client's loopback one with at most its port changed
// (the rule redirect URIs follow, clientpolicy.LoopbackMatch) — with state added as the
// only parameter.
func logoutRedirectAllowed(clients []storage.Client, target, state string) bool {
	u, err := url.Parse(target)
	if err != nil || u.Fragment != "" {
		return false
	}
	q := u.Query()
	if q.Get("state") != state || len(q["state"]) > 1 {
		return false
	}
	q.Del("state")
	base := *u
	base.RawQuery = q.Encode()
	if base.RawQuery == "" {
		base.ForceQuery = false
	}
	if base.String() == signedOutPath {
		return true
	}
	for _, c := range clients {
		for _, reg := range c.PostLogoutRedirectURIs {
			if reg == base.String() || (c.ApplicationType == "native" && clientpolicy.LoopbackMatch(reg, base.String())) {
				return true
			}
		}
	}
	return false
}

// FuzzEndSession sends arbitrary end_session requests (GET or POST, from a
// signed-in browser or not); $HINT in the parameters stands for a genuine
// ID token of the signed-in user, mutated (or not) by op/pos/data. Whatever
// the input: no 5xx; a redirect (Location or the signed-out page's
// Refresh) goes only to Gatehouse's signed-out page or to a registered
// post_logout_redirect_uri (a native loopback one with another port at
// most), carrying the request's state and nothing else; a hint that is not
// the genuine token (or a repeated parameter) gets a 400 and no redirect;
// and the session ends only with the genuine hint.
func FuzzEndSession(f *testing.F) {
	for _, s := range []struct {
		post, signedIn bool
		query          string
		op             uint8
		pos            uint16
		data           string
	}{
		{false, true, "id_token_hint=$HINT&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&state=s1", 2, 0, ""},
		{true, true, "id_token_hint=$HINT&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye%3Ffrom%3Dgh", 2, 0, ""},
		{false, true, "id_token_hint=$HINT&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye", 0, 40, "\x01"},
		{false, true, "id_token_hint=$HINT&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye", 0, 65535, "\x01"},
		{false, true, "id_token_hint=$HINT", 1, 200, ""},
		{false, true, "id_token_hint=$HINT&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F", 2, 0, ""},
		{false, true, "id_token_hint=$HINT&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye%2F", 2, 0, ""},
		{false, true, "id_token_hint=$HINT&client_id=web&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye", 2, 0, ""},
		{false, true, "id_token_hint=$HINT&id_token_hint=$HINT", 2, 0, ""},
		{false, true, "id_token_hint=$HINT&state=a&state=b", 2, 0, ""},
		{false, true, "client_id=logout-app&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&state=xyz", 2, 0, ""},
		{true, true, "client_id=logout-app&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&confirm=yes&csrf_token=x", 2, 0, ""},
		{false, false, "client_id=logout-app&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye&state=%22%3E%3Cscript%3E", 2, 0, ""},
		{false, false, "client_id=logout-native&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A4000%2Fbye", 2, 0, ""},
		{false, false, "client_id=logout-native&post_logout_redirect_uri=com.example.app%3A%2Fbye&state=1", 2, 0, ""},
		{false, false, "client_id=logout-native&post_logout_redirect_uri=com.example.app%3A%2F%2Fbye", 2, 0, ""},
		{false, false, "client_id=third&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fcb%2Fbye&state=s", 2, 0, ""},
		{false, false, "post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F&state=s", 2, 0, ""},
		{false, false, "client_id=nobody&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye", 2, 0, ""},
		{false, false, "id_token_hint=$HINT&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2Fbye", 5, 0, "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLWFsaWNlIiwiYXpwIjoibG9nb3V0LWFwcCJ9."},
		{false, true, "%zz", 2, 0, ""},
	} {
		f.Add(s.post, s.signedIn, s.query, s.op, s.pos, s.data)
	}
	e := newLiveFuzzEnv(f, logoutClients()...)
	clients := append(testClients(), logoutClients()...)
	live := &liveTokens[logoutFixture]{maxAge: 5 * time.Minute, issue: func(tb testing.TB) logoutFixture { return newLogoutFixture(tb, e) }}
	live.get(f)
	f.Fuzz(func(t *testing.T, post, signedIn bool, query string, op uint8, pos uint16, data string) {
		fx := live.get(t)
		if signedIn {
			// Start from a live session whatever an earlier input did, so
			// that a failing input fails on its own (and minimizes so).
			if _, err := e.store.Session(t.Context(), loginuiHash(fx.jar), time.Now()); err != nil {
				live.renew()
				fx = live.get(t)
			}
		}
		query = strings.ReplaceAll(query, "$HINT", url.QueryEscape(mutate(fx.idToken, op, pos, data)))
		var req *http.Request
		if post {
			req = formPost(endSessionPath, query, "")
		} else {
			req = httptest.NewRequest(http.MethodGet, testIssuer+endSessionPath, nil)
			req.URL.RawQuery = query
		}
		if signedIn {
			fx.jar.add(req)
		}
		rec := e.do(req)
		input := []any{post, signedIn, query}
		if rec.Code >= 500 {
			t.Fatalf("status %d; input %#v", rec.Code, input)
		}
		form, formErr := url.ParseQuery(query)
		var redirects []string
		if loc := rec.Header().Get("Location"); loc != "" {
			redirects = append(redirects, loc)
		}
		if refresh := rec.Header().Get("Refresh"); refresh != "" {
			target, ok := strings.CutPrefix(refresh, "2; url=")
			if !ok {
				t.Fatalf("Refresh %q: want \"2; url=...\"", refresh)
			}
			redirects = append(redirects, target)
		}
		for _, target := range redirects {
			if !logoutRedirectAllowed(clients, target, form.Get("state")) {
				t.Fatalf("redirect to %q, which is not a registered post_logout_redirect_uri with the request's state; input %#v", target, input)
			}
		}
		hint := form.Get("id_token_hint")
		forged := hint != "" && !sameToken(hint, fx.idToken)
		repeated := slices.ContainsFunc([]string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state"}, func(n string) bool { return len(form[n]) > 1 })
		if (forged || repeated || formErr != nil) && (rec.Code != http.StatusBadRequest || len(redirects) > 0) {
			t.Fatalf("got %d with redirects %q for a forged hint, a repeated parameter or an unreadable form, want 400 and none; input %#v", rec.Code, redirects, input)
		}
		if !signedIn {
			return
		}
		if _, err := e.store.Session(t.Context(), loginuiHash(fx.jar), time.Now()); err == nil {
			return
		}
		if hint == "" || forged {
			t.Fatalf("the session ended without the genuine id_token_hint; input %#v", input)
		}
		live.renew()
	})
}
