package provider

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// authorizeAs sends /authorize for clientID from the browser jar, with
// extra parameters, and returns the answer and the PKCE verifier.
func (e *testEnv) authorizeAs(t *testing.T, jar cookieJar, clientID string, extra url.Values) (*httptest.ResponseRecorder, string) {
	t.Helper()
	verifier := base64.RawURLEncoding.EncodeToString(randomBytes(t, 32))
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {webRedirect}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"st"}, "nonce": {"nn"},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"},
	}
	for k, v := range extra {
		q[k] = v
	}
	req := httptest.NewRequest(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil)
	jar.add(req)
	rec := e.do(req)
	jar.take(rec)
	return rec, verifier
}

// follow GETs a Location from the browser jar.
func (e *testEnv) follow(t *testing.T, jar cookieJar, loc string) *httptest.ResponseRecorder {
	t.Helper()
	if !strings.HasPrefix(loc, "http") {
		loc = testIssuer + loc
	}
	req := httptest.NewRequest(http.MethodGet, loc, nil)
	jar.add(req)
	rec := e.do(req)
	jar.take(rec)
	return rec
}

// postFrom posts a form from the browser jar.
func (e *testEnv) postFrom(jar cookieJar, path string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	jar.add(req)
	rec := e.do(req)
	jar.take(rec)
	return rec
}

// consentForm reads the consent page at loc and returns its form fields.
func (e *testEnv) consentForm(t *testing.T, jar cookieJar, loc string) (url.Values, string) {
	t.Helper()
	rec := e.follow(t, jar, loc)
	m := csrfField.FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusOK || m == nil {
		t.Fatalf("consent page: status %d, want 200 with a form; body %s", rec.Code, rec.Body)
	}
	return url.Values{"id": {mustParseURL(t, loc).Query().Get("id")}, "csrf_token": {m[1]}}, rec.Body.String()
}

func TestConsent(t *testing.T) {
	e := newTestEnv(t)
	jar := e.signedInJar(t) // signed in through a first-party client

	// A third-party client: the consent page names it and the scopes.
	rec, verifier := e.authorizeAs(t, jar, "third", nil)
	if rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), consentPath+"?id=") {
		t.Fatalf("authorize for a third-party client: %d to %q, want the consent page", rec.Code, rec.Header().Get("Location"))
	}
	loc := rec.Header().Get("Location")
	form, page := e.consentForm(t, jar, loc)
	for _, want := range []string{"Third-party &lt;App&gt;", "See your email address", "Know who you are"} {
		if !strings.Contains(page, want) {
			t.Errorf("consent page lacks %q", want)
		}
	}
	// Bad input: no CSRF token; a token for another request; no decision.
	if rec := e.postFrom(jar, consentPath, url.Values{"id": form["id"], "decision": {"allow"}}); rec.Code != http.StatusForbidden {
		t.Errorf("consent without CSRF token: status %d, want 403", rec.Code)
	}
	if rec := e.postFrom(jar, consentPath, url.Values{"id": {"other"}, "csrf_token": form["csrf_token"], "decision": {"allow"}}); rec.Code != http.StatusForbidden {
		t.Errorf("consent with another request's token: status %d, want 403", rec.Code)
	}
	if rec := e.postFrom(jar, consentPath, url.Values{"id": form["id"], "csrf_token": form["csrf_token"]}); rec.Code != http.StatusBadRequest {
		t.Errorf("consent without decision: status %d, want 400", rec.Code)
	}
	// Another browser (no session) cannot answer it.
	if rec := e.postFrom(cookieJar{}, consentPath, url.Values{"id": form["id"], "csrf_token": form["csrf_token"], "decision": {"allow"}}); rec.Code == http.StatusSeeOther {
		t.Errorf("consent from another browser: status %d, want refused", rec.Code)
	}

	form.Set("decision", "allow")
	rec = e.postFrom(jar, consentPath, form)
	back := mustParseURL(t, rec.Header().Get("Location"))
	code := back.Query().Get("code")
	if rec.Code != http.StatusSeeOther || code == "" || back.Query().Get("iss") != testIssuer {
		t.Fatalf("allow: %d to %s, want 303 with a code and iss", rec.Code, back)
	}
	if tok := e.exchangeCode(code, verifier, "third", testThirdSecret); tok.Code != http.StatusOK {
		t.Fatalf("token after consent: %d %s", tok.Code, tok.Body)
	}
	// The answer is single-use: posting it again issues nothing.
	if rec := e.postFrom(jar, consentPath, form); rec.Code == http.StatusSeeOther {
		t.Errorf("second allow of one request: status %d, want refused", rec.Code)
	}
	// Remembered: the next request for the same scopes needs no page.
	if rec, _ := e.authorizeAs(t, jar, "third", nil); mustParseURL(t, rec.Header().Get("Location")).Query().Get("code") == "" {
		t.Errorf("after consent: %d to %q, want a code at once", rec.Code, rec.Header().Get("Location"))
	}
	// More scopes than consented, or prompt=consent: asked again.
	if rec, _ := e.authorizeAs(t, jar, "third", url.Values{"scope": {"openid email profile"}}); !strings.HasPrefix(rec.Header().Get("Location"), consentPath) {
		t.Errorf("new scope: %q, want the consent page", rec.Header().Get("Location"))
	}
	if rec, _ := e.authorizeAs(t, jar, "third", url.Values{"prompt": {"consent"}}); !strings.HasPrefix(rec.Header().Get("Location"), consentPath) {
		t.Errorf("prompt=consent: %q, want the consent page", rec.Header().Get("Location"))
	}
	c, err := e.store.Consent(t.Context(), testUserID, "third")
	if err != nil || strings.Join(c.Scopes, " ") != "email openid" {
		t.Errorf("stored consent: %+v %v, want scopes [email openid]", c, err)
	}
}

func TestConsentDenyAndPromptNone(t *testing.T) {
	e := newTestEnv(t)
	jar := e.signedInJar(t)
	rec, _ := e.authorizeAs(t, jar, "third", url.Values{"prompt": {"none"}})
	back := mustParseURL(t, rec.Header().Get("Location"))
	if back.Query().Get("error") != "consent_required" || back.Query().Get("state") != "st" || back.Query().Get("iss") != testIssuer {
		t.Errorf("prompt=none without consent: %s, want consent_required with state and iss", back)
	}
	rec, _ = e.authorizeAs(t, jar, "third", nil)
	form, _ := e.consentForm(t, jar, rec.Header().Get("Location"))
	form.Set("decision", "deny")
	rec = e.postFrom(jar, consentPath, form)
	back = mustParseURL(t, rec.Header().Get("Location"))
	if back.Query().Get("error") != "access_denied" || back.Query().Get("state") != "st" || back.Query().Get("iss") != testIssuer {
		t.Errorf("deny: %s, want access_denied with state and iss", back)
	}
	if _, err := e.store.Consent(t.Context(), testUserID, "third"); err == nil {
		t.Error("a denied consent was stored")
	}
	// The denied request is gone.
	if rec := e.follow(t, jar, consentURL(form.Get("id"))); rec.Code != http.StatusBadRequest {
		t.Errorf("consent page of a denied request: status %d, want 400", rec.Code)
	}
}

// A user signing in with a password for a third-party client sees the
// consent page after the login; the callback never issues a code before.
func TestConsentAfterPasswordSignIn(t *testing.T) {
	e := newTestEnv(t)
	jar := cookieJar{}
	id, rec, verifier := e.passwordSignIn(t, jar, "third")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != consentURL(id) {
		t.Fatalf("callback: %d to %q, want the consent page", rec.Code, rec.Header().Get("Location"))
	}
	form, _ := e.consentForm(t, jar, rec.Header().Get("Location"))
	form.Set("decision", "allow")
	rec = e.postFrom(jar, consentPath, form)
	code := mustParseURL(t, rec.Header().Get("Location")).Query().Get("code")
	tok := e.exchangeCode(code, verifier, "third", testThirdSecret)
	if tok.Code != http.StatusOK {
		t.Fatalf("token: %d %s", tok.Code, tok.Body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(tok.Body.Bytes(), &tr); err != nil {
		t.Fatal(err)
	}
	claims := idTokenClaims(t, tr.IDToken)
	s, err := e.store.Session(t.Context(), loginuiHash(jar), e.p.cfg.Now())
	if err != nil {
		t.Fatal(err)
	}
	if claims["sid"] != s.ID || claims["acr"] != mfa.ACRSingleFactor || claims["auth_time"] == nil {
		t.Errorf("ID token sid %v acr %v auth_time %v, want sid %s, acr %s and auth_time", claims["sid"], claims["acr"], claims["auth_time"], s.ID, mfa.ACRSingleFactor)
	}
	if amr, _ := claims["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
		t.Errorf("amr %v, want [pwd]", claims["amr"])
	}
}

// idTokenClaims decodes a JWT's payload without checking it: the tests
// that use it got the token straight from the token endpoint.
func idTokenClaims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(b, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// loginuiHash is the stored id of the browser jar's session.
func loginuiHash(jar cookieJar) string { return loginui.Hash(jar[loginui.SessionCookie]) }

// A native app without skip_consent is asked every time: its remembered
// consent is not reused, as nothing proves the app is the one approved.
func TestNativeConsentNotReused(t *testing.T) {
	e := newTestEnv(t)
	clients := append(testClients(), storage.Client{
		ID: "native3", Name: "Third-party native", RedirectURIs: []string{webRedirect},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		TokenEndpointAuthMethod: "none", ApplicationType: "native",
	})
	if _, err := e.store.SyncClients(t.Context(), clients, e.p.cfg.Now()); err != nil {
		t.Fatal(err)
	}
	jar := e.signedInJar(t)
	now := e.p.cfg.Now()
	if err := e.store.SaveConsent(t.Context(), &storage.Consent{UserID: testUserID, ClientID: "native3", Scopes: []string{"openid", "email"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	rec, _ := e.authorizeAs(t, jar, "native3", nil)
	if !strings.HasPrefix(rec.Header().Get("Location"), consentPath) {
		t.Errorf("native app with a remembered consent: %d to %q, want the consent page", rec.Code, rec.Header().Get("Location"))
	}
}

// sessionClients returns the applications of the browser jar's session.
func (e *testEnv) sessionClients(t *testing.T, jar cookieJar) string {
	t.Helper()
	s, err := e.store.Session(t.Context(), loginuiHash(jar), e.p.cfg.Now())
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(s.Clients, ",")
}

// An app whose consent page was only shown, or denied, is not one the
// session signed in to: it must not join the session (the account page's
// list, back-channel and front-channel logout) until the user allows it.
// The fault tried: the session recorded the app as soon as /authorize or
// the password sign-in saw it, before the consent page.
func TestSessionJoinsOnlyApprovedApps(t *testing.T) {
	t.Run("single sign-on, consent shown, then denied, then allowed", func(t *testing.T) {
		e := newTestEnv(t)
		jar := e.signedInJar(t) // through "web", a first-party client
		if got := e.sessionClients(t, jar); got != "web" {
			t.Fatalf("after signing in through web: session apps %q, want web", got)
		}
		rec, _ := e.authorizeAs(t, jar, "third", nil)
		if !strings.HasPrefix(rec.Header().Get("Location"), consentPath) {
			t.Fatalf("authorize for third: %d to %q, want the consent page", rec.Code, rec.Header().Get("Location"))
		}
		form, _ := e.consentForm(t, jar, rec.Header().Get("Location"))
		if got := e.sessionClients(t, jar); got != "web" {
			t.Errorf("consent page shown, not answered: session apps %q, want web only", got)
		}
		// prompt=none answering consent_required adds nothing either.
		e.authorizeAs(t, jar, "third", url.Values{"prompt": {"none"}})
		if got := e.sessionClients(t, jar); got != "web" {
			t.Errorf("after consent_required: session apps %q, want web only", got)
		}
		form.Set("decision", "deny")
		e.postFrom(jar, consentPath, form)
		if got := e.sessionClients(t, jar); got != "web" {
			t.Errorf("consent denied: session apps %q, want web only", got)
		}

		rec, _ = e.authorizeAs(t, jar, "third", nil)
		form, _ = e.consentForm(t, jar, rec.Header().Get("Location"))
		form.Set("decision", "allow")
		if rec := e.postFrom(jar, consentPath, form); rec.Code != http.StatusSeeOther {
			t.Fatalf("allow: status %d, want 303", rec.Code)
		}
		if got := e.sessionClients(t, jar); got != "web,third" {
			t.Errorf("consent allowed: session apps %q, want web,third", got)
		}
		// A remembered consent: the code comes at once and the app stays.
		if rec, _ := e.authorizeAs(t, jar, "third", nil); mustParseURL(t, rec.Header().Get("Location")).Query().Get("code") == "" {
			t.Errorf("remembered consent: %q, want a code", rec.Header().Get("Location"))
		}
		if got := e.sessionClients(t, jar); got != "web,third" {
			t.Errorf("after remembered consent: session apps %q, want web,third", got)
		}
	})

	t.Run("password sign-in, consent shown, never answered", func(t *testing.T) {
		e := newTestEnv(t)
		jar := cookieJar{}
		id, rec, _ := e.passwordSignIn(t, jar, "third")
		if rec.Header().Get("Location") != consentURL(id) {
			t.Fatalf("callback: %d to %q, want the consent page", rec.Code, rec.Header().Get("Location"))
		}
		e.consentForm(t, jar, rec.Header().Get("Location"))
		if got := e.sessionClients(t, jar); got != "" {
			t.Errorf("signed in for third, consent page only shown: session apps %q, want none", got)
		}
	})

	t.Run("password sign-in with a remembered consent", func(t *testing.T) {
		e := newTestEnv(t)
		now := e.p.cfg.Now()
		if err := e.store.SaveConsent(t.Context(), &storage.Consent{UserID: testUserID, ClientID: "third", Scopes: []string{"openid", "email"}, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		jar := cookieJar{}
		e.signInTo(t, jar, "third", "openid email")
		if got := e.sessionClients(t, jar); got != "third" {
			t.Errorf("signed in for third with its consent remembered: session apps %q, want third", got)
		}
	})
}

// passwordSignIn starts an authorization request of clientID in a fresh
// browser (jar), signs in on the login page with the test user's password
// and follows the redirect to the callback. It returns the request id, the
// callback's answer and the request's PKCE verifier.
func (e *testEnv) passwordSignIn(t *testing.T, jar cookieJar, clientID string) (string, *httptest.ResponseRecorder, string) {
	t.Helper()
	rec, verifier := e.authorizeAs(t, jar, clientID, nil)
	loginLoc := rec.Header().Get("Location")
	page := e.follow(t, jar, loginLoc)
	m := csrfField.FindStringSubmatch(page.Body.String())
	if m == nil {
		t.Fatalf("login page: %d %s", page.Code, page.Body)
	}
	id := mustParseURL(t, loginLoc).Query().Get("id")
	rec = e.postFrom(jar, "/login", url.Values{"id": {id}, "csrf_token": {m[1]}, "username": {testUsername}, "password": {testPassword}})
	return id, e.follow(t, jar, rec.Header().Get("Location")), verifier
}
