package provider

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// op's form decoder matched parameter names ignoring case (and Unicode
// folding), keeping either of two spellings: a Redirect_Uri next to the
// redirect_uri Gatehouse checked sent a signed-in user's code to an
// unregistered address (19 times in 20), where a public client's code is
// redeemed with the attacker's own PKCE verifier. Names are matched exactly
// now; other spellings are ignored (RFC 6749 §3.1). Each case is tried 20
// times, as the old decoder chose at random.
func TestParameterNamesAreExact(t *testing.T) {
	e := newTestEnv(t)
	jar := cookieJar{}
	e.signIn(t, jar, "openid")
	verifier := strings.Repeat("v", 43)
	registered := "http://127.0.0.1:5000/callback"

	for _, variant := range []string{"Redirect_Uri", "REDIRECT_URI", "redirect_urI"} {
		t.Run("authorize "+variant, func(t *testing.T) {
			for range 20 {
				q := url.Values{
					"client_id": {"native"}, "redirect_uri": {registered}, variant: {"https://evil.example/steal"},
					"Client_Id": {"web"}, "response_type": {"code"}, "scope": {"openid"}, "state": {"s"},
					"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"},
				}
				req := httptest.NewRequest(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil)
				jar.add(req)
				rec := e.do(req)
				loc := rec.Header().Get("Location")
				if rec.Code != http.StatusFound || !strings.HasPrefix(loc, registered+"?") {
					t.Fatalf("got %d to %q, want a redirect to the registered %s", rec.Code, loc, registered)
				}
				// The code is native's: a public client redeems it with the verifier.
				form := url.Values{"grant_type": {"authorization_code"}, "client_id": {"native"},
					"code": {mustParseURL(t, loc).Query().Get("code")}, "redirect_uri": {registered}, "code_verifier": {verifier}}
				checkTokenResponse(t, e.do(formPost(tokenPath, form.Encode(), "")), http.StatusOK, "")
			}
		})
	}

	t.Run("token", func(t *testing.T) {
		for range 20 {
			body := "grant_type=client_credentials&scope=reports%3Aread&Scope=reports%3Awrite&%C5%BFcope=reports%3Awrite"
			rec := e.do(formPost(tokenPath, body, basicAuth("service", testServiceSecret)))
			var tr struct {
				Scope string `json:"scope"`
			}
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tr) != nil || tr.Scope != "reports:read" {
				t.Fatalf("got %d %s, want 200 with scope reports:read only", rec.Code, rec.Body)
			}
		}
	})

	t.Run("end_session", func(t *testing.T) {
		for range 20 {
			q := "client_id=third&post_logout_redirect_uri=" + url.QueryEscape(webRedirect+"/bye") + "&stAte=forged&%C5%BFtate=forged2"
			rec := e.do(httptest.NewRequest(http.MethodGet, testIssuer+endSessionPath+"?"+q, nil))
			if loc := rec.Header().Get("Location"); rec.Code != http.StatusFound || loc != webRedirect+"/bye" {
				t.Fatalf("got %d to %q, want 302 to %s without state", rec.Code, loc, webRedirect+"/bye")
			}
		}
	})
}

func TestParameterName(t *testing.T) {
	for name, want := range map[string]bool{
		"redirect_uri": true, "code_challenge_method": true, "max_age": true, "a1": true,
		"": false, "Redirect_Uri": false, "STATE": false, "ſtate": false, "client-id": false, "a.b": false, "scope ": false,
	} {
		if got := parameterName(name); got != want {
			t.Errorf("parameterName(%q) = %v, want %v", name, got, want)
		}
	}
}
