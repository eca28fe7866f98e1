package provider

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// thirdSignedIn signs alice in to the third-party client (consenting) and
// returns the browser and its ID token.
func (e *testEnv) thirdSignedIn(t *testing.T) (cookieJar, string) {
	t.Helper()
	jar := e.signedInJar(t)
	rec, verifier := e.authorizeAs(t, jar, "third", nil)
	form, _ := e.consentForm(t, jar, rec.Header().Get("Location"))
	form.Set("decision", "allow")
	rec = e.postFrom(jar, consentPath, form)
	code := mustParseURL(t, rec.Header().Get("Location")).Query().Get("code")
	tok := e.exchangeCode(code, verifier, "third", testThirdSecret)
	var tr tokenResponse
	if err := json.Unmarshal(tok.Body.Bytes(), &tr); err != nil || tr.IDToken == "" {
		t.Fatalf("token: %d %s", tok.Code, tok.Body)
	}
	return jar, tr.IDToken
}

func TestRPInitiatedLogout(t *testing.T) {
	e := newTestEnv(t)
	jar, idToken := e.thirdSignedIn(t)
	sid := loginuiHash(jar)
	bye := webRedirect + "/bye"

	// Bad input first: a forged hint, an unregistered redirect, a client_id
	// that is not the hint's, a repeated parameter. None ends the session
	// or redirects.
	for name, q := range map[string]url.Values{
		"forged hint":           {"id_token_hint": {idToken[:len(idToken)-4] + "AAAA"}, "post_logout_redirect_uri": {bye}},
		"unregistered redirect": {"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://evil.example/"}},
		"client_id mismatch":    {"id_token_hint": {idToken}, "client_id": {"web"}, "post_logout_redirect_uri": {bye}},
		"repeated state":        {"id_token_hint": {idToken}, "state": {"a", "b"}},
	} {
		rec := e.follow(t, jar, endSessionPath+"?"+q.Encode())
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != "" {
			t.Errorf("%s: status %d Location %q, want 400 and no redirect", name, rec.Code, rec.Header().Get("Location"))
		}
	}
	// Without a hint: a confirmation page, nothing ended yet.
	rec := e.follow(t, jar, endSessionPath+"?"+url.Values{"client_id": {"third"}, "post_logout_redirect_uri": {bye}, "state": {"xyz"}}.Encode())
	m := csrfField.FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusOK || m == nil || !strings.Contains(rec.Body.String(), "Third-party &lt;App&gt;") {
		t.Fatalf("end_session without hint: status %d, want a confirmation page naming the app; body %s", rec.Code, rec.Body)
	}
	if _, err := e.store.Session(t.Context(), sid, e.p.cfg.Now()); err != nil {
		t.Fatalf("session ended before confirmation: %v", err)
	}
	// A confirmation without its CSRF token is just asked again.
	rec = e.postFrom(jar, endSessionPath, url.Values{"client_id": {"third"}, "confirm": {"yes"}})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Sign out?") {
		t.Errorf("confirm without CSRF: status %d, want the confirmation page again", rec.Code)
	}
	// Confirmed: the session ends, the front-channel iframe is on the
	// signed-out page, which then sends the browser on with state.
	rec = e.postFrom(jar, endSessionPath, url.Values{
		"client_id": {"third"}, "post_logout_redirect_uri": {bye}, "state": {"xyz"},
		"confirm": {"yes"}, "csrf_token": {m[1]},
	})
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `src="https://third.example/frontchannel?iss=`) {
		t.Fatalf("confirmed sign-out: status %d, want the signed-out page with the front-channel iframe; body %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Refresh"); got != "2; url="+bye+"?state=xyz" {
		t.Errorf("Refresh %q, want the post-logout redirect with state", got)
	}
	if _, err := e.store.Session(t.Context(), sid, e.p.cfg.Now()); err == nil {
		t.Error("session alive after a confirmed sign-out")
	}
	// The back-channel notice for the session is queued.
	notices, err := e.store.ClaimLogoutNotices(t.Context(), e.p.cfg.Now(), time.Minute, 10)
	if err != nil || len(notices) != 1 || notices[0].ClientID != "third" || notices[0].SessionID != sid {
		t.Errorf("queued notices: %+v %v, want one for third and the session", notices, err)
	}
	// After logout, prompt=none gives login_required.
	rec, _ = e.authorizeAs(t, jar, "third", url.Values{"prompt": {"none"}})
	if got := mustParseURL(t, rec.Header().Get("Location")).Query().Get("error"); got != "login_required" {
		t.Errorf("prompt=none after logout: error %q, want login_required", got)
	}
}

func TestRPInitiatedLogoutWithHint(t *testing.T) {
	e := newTestEnv(t)
	jar, idToken := e.thirdSignedIn(t)
	rec := e.postFrom(jar, endSessionPath, url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {webRedirect + "/bye"}, "state": {"s1"}})
	if rec.Code != http.StatusOK || rec.Header().Get("Refresh") != "2; url="+webRedirect+"/bye?state=s1" {
		t.Fatalf("end_session with hint: %d Refresh %q", rec.Code, rec.Header().Get("Refresh"))
	}
	if _, ok := jar["__Host-gatehouse-session"]; ok {
		t.Error("session cookie not cleared")
	}
	// Already signed out: the same request redirects at once.
	rec = e.follow(t, jar, endSessionPath+"?"+url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {webRedirect + "/bye"}}.Encode())
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != webRedirect+"/bye" {
		t.Errorf("end_session when signed out: %d to %q, want 302 to the app", rec.Code, rec.Header().Get("Location"))
	}
}

// A client without front-channel logout gets no iframe.
func TestLogoutRedirectWithoutFrontChannel(t *testing.T) {
	e := newTestEnv(t)
	jar := cookieJar{}
	code, verifier := e.signIn(t, jar, "openid")
	var tr tokenResponse
	if err := json.Unmarshal(e.exchangeCode(code, verifier, "web", testWebSecret).Body.Bytes(), &tr); err != nil {
		t.Fatal(err)
	}
	rec := e.follow(t, jar, endSessionPath+"?"+url.Values{"id_token_hint": {tr.IDToken}}.Encode())
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "You are signed out") {
		t.Errorf("end_session without redirect: %d, want the signed-out page", rec.Code)
	}
	if strings.Contains(rec.Body.String(), "<iframe") {
		t.Error("iframe for a client without front-channel logout")
	}
}

// An expired but genuine id_token_hint still identifies the user (OpenID
// RP-Initiated Logout §2): the session ends without a confirmation page.
// One signed by a key Gatehouse does not have is refused.
func TestLogoutExpiredHint(t *testing.T) {
	e := newTestEnv(t)
	jar, idToken := e.thirdSignedIn(t)
	claims := idTokenClaims(t, idToken)
	past := time.Now().Add(-2 * time.Hour).Unix()
	claims["iat"], claims["exp"], claims["auth_time"] = past-3600, past, past-3600
	sign := func(key any, kid string) string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(claims)
		jws, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		compact, _ := jws.CompactSerialize()
		return compact
	}
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k, err := e.keys.Signer("RS256")
	if err != nil {
		t.Fatal(err)
	}
	rec := e.follow(t, jar, endSessionPath+"?"+url.Values{"id_token_hint": {sign(other, k.ID())}}.Encode())
	if rec.Code != http.StatusBadRequest {
		t.Errorf("expired hint signed by another key: status %d, want 400", rec.Code)
	}
	rec = e.follow(t, jar, endSessionPath+"?"+url.Values{"id_token_hint": {sign(k.Key(), k.ID())}}.Encode())
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "You are signed out") {
		t.Errorf("expired genuine hint: status %d, want the signed-out page without confirmation; body %s", rec.Code, rec.Body)
	}
	if _, ok := jar["__Host-gatehouse-session"]; ok {
		t.Error("session cookie not cleared after logout with an expired hint")
	}
}

// A native client's loopback post_logout_redirect_uri is matched like its
// redirect URIs: any port, but the registered scheme and host exactly (op
// alone let the host be any loopback name or address, and https).
func TestEndSessionNativeLoopbackRedirect(t *testing.T) {
	e := newLiveFuzzEnv(t, logoutClients()...)
	for uri, allowed := range map[string]bool{
		"http://127.0.0.1/bye":            true,
		"http://127.0.0.1:4000/bye":       true,
		"com.example.app:/bye":            true,
		"http://localhost:4000/bye":       false,
		"https://127.0.0.1/bye":           false,
		"http://127.0.0.2/bye":            false,
		"http://[::1]:4000/bye":           false,
		"http://evil@127.0.0.1:4000/bye":  false,
		"http://127.0.0.1:4000/bye/":      false,
		"http://127.0.0.1:4000/bye?x=1":   false,
		"com.example.app:/bye/../evil":    false,
		"http://127.0.0.1:4000/bye#frag":  false,
		"http://127.0.0.1:4000/other/bye": false,
	} {
		q := url.Values{"client_id": {"logout-native"}, "post_logout_redirect_uri": {uri}, "state": {"s"}}
		rec := e.do(httptest.NewRequest(http.MethodGet, testIssuer+endSessionPath+"?"+q.Encode(), nil))
		loc := rec.Header().Get("Location")
		switch {
		case allowed && (rec.Code != http.StatusFound || loc != uri+"?state=s"):
			t.Errorf("%s: got %d to %q, want 302 to it with state", uri, rec.Code, loc)
		case !allowed && (rec.Code != http.StatusBadRequest || loc != ""):
			t.Errorf("%s: got %d to %q, want 400 and no redirect", uri, rec.Code, loc)
		}
	}
}
