package provider

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

const (
	spaOrigin    = "https://app.example" // the origin of webRedirect
	spaCDNOrigin = "https://spa-cdn.example"
	evilOrigin   = "https://evil.example"
)

// spaClient is a public web client: its pages on webRedirect's origin and
// on spaCDNOrigin may call the token, revocation and userinfo endpoints.
func spaClient() storage.Client {
	return storage.Client{
		ID: "spa", Name: "Single-page app", SkipConsent: true,
		RedirectURIs:            []string{webRedirect},
		AllowedCORSOrigins:      []string{spaCDNOrigin},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "none", ApplicationType: "web",
	}
}

// withSPA adds spaClient to the provider's clients.
func (e *testEnv) withSPA(t *testing.T) {
	t.Helper()
	if _, err := e.store.SyncClients(t.Context(), append(testClients(), spaClient()), e.p.cfg.Now()); err != nil {
		t.Fatal(err)
	}
	e.p.InvalidateClients()
}

// spaCode signs in through the SPA and returns a code and its verifier.
func (e *testEnv) spaCode(t *testing.T, jar cookieJar, scope string) (string, string) {
	t.Helper()
	verifier := base64.RawURLEncoding.EncodeToString(randomBytes(t, 32))
	rec, _ := e.authorizeAs(t, jar, "spa", url.Values{
		"scope": {scope}, "code_challenge": {s256(verifier)},
	})
	code := mustParseURL(t, rec.Header().Get("Location")).Query().Get("code")
	if code == "" {
		t.Fatalf("SPA authorize: %d to %q, want a code", rec.Code, rec.Header().Get("Location"))
	}
	return code, verifier
}

// fromPage sends a request as a page on origin would (no Origin when "").
func (e *testEnv) fromPage(method, path, origin string, form url.Values, header http.Header) *httptest.ResponseRecorder {
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, testIssuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, testIssuer+path, nil)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return e.do(req)
}

// checkCORS checks the CORS headers of an answer: readable by exactly
// allow ("" for nobody), never with credentials, always Vary: Origin.
func checkCORS(t *testing.T, what string, rec *httptest.ResponseRecorder, allow string) {
	t.Helper()
	h := rec.Header()
	if got := h.Get("Access-Control-Allow-Origin"); got != allow {
		t.Errorf("%s: Access-Control-Allow-Origin %q, want %q (status %d %s)", what, got, allow, rec.Code, rec.Body)
	}
	if _, ok := h["Access-Control-Allow-Credentials"]; ok {
		t.Errorf("%s: Access-Control-Allow-Credentials sent", what)
	}
	if !slices.Contains(h.Values("Vary"), "Origin") {
		t.Errorf("%s: Vary %q, want Origin", what, h.Values("Vary"))
	}
}

func codeForm(code, verifier string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect},
		"code_verifier": {verifier}, "client_id": {"spa"}}
}

// The token endpoint answers a page only on an origin of the public web
// client it names, and refuses every other cross-origin request before
// the code is touched: the code then still redeems from the right page.
// The fault tried: no CORS at all (an SPA could not read its tokens) and,
// with CORS, an answer or a redemption for a page on any origin.
func TestCORSTokenEndpoint(t *testing.T) {
	e := newTestEnv(t)
	e.withSPA(t)
	jar := e.signedInJar(t)

	code, verifier := e.spaCode(t, jar, "openid offline_access")
	for _, tt := range []struct {
		name, origin string
		form         url.Values
		header       http.Header
	}{
		{"unregistered origin", evilOrigin, codeForm(code, verifier), nil},
		{"null origin", "null", codeForm(code, verifier), nil},
		{"origin of a confidential client's redirect URI, with its secret", spaOrigin,
			url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {verifier}},
			http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("web:"+testWebSecret))}}},
		{"SPA naming a secret", spaOrigin, func() url.Values { f := codeForm(code, verifier); f.Set("client_secret", "x"); return f }(), nil},
		{"no client_id", spaOrigin, func() url.Values { f := codeForm(code, verifier); f.Del("client_id"); return f }(), nil},
		{"client_id twice", spaOrigin, func() url.Values { f := codeForm(code, verifier); f.Add("client_id", "spa"); return f }(), nil},
		{"origin with a path", spaOrigin + "/", codeForm(code, verifier), nil},
		{"origin with the default port", spaOrigin + ":443", codeForm(code, verifier), nil},
		{"http for an https origin", "http://app.example", codeForm(code, verifier), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.fromPage(http.MethodPost, tokenPath, tt.origin, tt.form, tt.header)
			if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"invalid_request"`) {
				t.Errorf("status %d %s, want 400 invalid_request", rec.Code, rec.Body)
			}
			checkCORS(t, tt.name, rec, "")
		})
	}

	// The refusals burned nothing: the SPA's own page redeems the code.
	rec := e.fromPage(http.MethodPost, tokenPath, spaCDNOrigin, codeForm(code, verifier), nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("code exchange from the SPA's origin: %d %s", rec.Code, rec.Body)
	}
	checkCORS(t, "code exchange", rec, spaCDNOrigin)
	if got := rec.Header().Get("Access-Control-Expose-Headers"); !strings.Contains(got, "WWW-Authenticate") {
		t.Errorf("Access-Control-Expose-Headers %q, want WWW-Authenticate", got)
	}
	var tr tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || tr.RefreshToken == "" {
		t.Fatalf("token response %s: %v", rec.Body, err)
	}
	// A refresh from the redirect URI's origin.
	rec = e.fromPage(http.MethodPost, tokenPath, spaOrigin, url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {tr.RefreshToken}, "client_id": {"spa"}}, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("refresh from the SPA's origin: %d %s", rec.Code, rec.Body)
	}
	checkCORS(t, "refresh", rec, spaOrigin)

	// Its errors are readable too: a second redemption of the code
	// (which revokes what the first one issued).
	rec = e.fromPage(http.MethodPost, tokenPath, spaOrigin, codeForm(code, verifier), nil)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "invalid_grant") {
		t.Errorf("second redemption: %d %s, want invalid_grant", rec.Code, rec.Body)
	}
	checkCORS(t, "second redemption", rec, spaOrigin)

	// Servers (no Origin) and Gatehouse's own origin are not concerned.
	code, verifier = e.signIn(t, jar, "openid")
	rec = e.fromPage(http.MethodPost, tokenPath, "", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {webRedirect}, "code_verifier": {verifier}},
		http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("web:"+testWebSecret))}})
	if rec.Code != http.StatusOK {
		t.Fatalf("confidential client from its server: %d %s", rec.Code, rec.Body)
	}
	checkCORS(t, "confidential client from its server", rec, "")
	code, verifier = e.spaCode(t, jar, "openid")
	rec = e.fromPage(http.MethodPost, tokenPath, clientpolicy.WebOrigin(testIssuer), codeForm(code, verifier), nil)
	if rec.Code != http.StatusOK {
		t.Errorf("from the issuer's origin: %d %s", rec.Code, rec.Body)
	}
	checkCORS(t, "from the issuer's origin", rec, "")
}

// Revocation: the SPA's page revokes its own token; a page elsewhere is
// refused and revokes nothing.
func TestCORSRevocation(t *testing.T) {
	e := newTestEnv(t)
	e.withSPA(t)
	code, verifier := e.spaCode(t, e.signedInJar(t), "openid offline_access")
	var tr tokenResponse
	rec := e.fromPage(http.MethodPost, tokenPath, spaOrigin, codeForm(code, verifier), nil)
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || tr.RefreshToken == "" {
		t.Fatalf("token response %d %s: %v", rec.Code, rec.Body, err)
	}
	revoke := url.Values{"token": {tr.RefreshToken}, "client_id": {"spa"}}
	rec = e.fromPage(http.MethodPost, revokePath, evilOrigin, revoke, nil)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("revocation from another origin: %d %s, want 400", rec.Code, rec.Body)
	}
	checkCORS(t, "revocation from another origin", rec, "")
	if status := e.userinfoStatus(tr.AccessToken); status != http.StatusOK {
		t.Fatalf("after a refused revocation: userinfo %d, want 200 (nothing revoked)", status)
	}
	rec = e.fromPage(http.MethodPost, revokePath, spaCDNOrigin, revoke, nil)
	if rec.Code != http.StatusOK {
		t.Errorf("revocation from the SPA's origin: %d %s", rec.Code, rec.Body)
	}
	checkCORS(t, "revocation", rec, spaCDNOrigin)
	if status := e.userinfoStatus(tr.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("after revocation: userinfo %d, want 401", status)
	}
}

// Userinfo is readable by the pages of the token's client only; an answer
// that holds nothing by any public web client's page.
func TestCORSUserinfo(t *testing.T) {
	e := newTestEnv(t)
	e.withSPA(t)
	jar := e.signedInJar(t)
	code, verifier := e.spaCode(t, jar, "openid email")
	var spa tokenResponse
	rec := e.fromPage(http.MethodPost, tokenPath, spaOrigin, codeForm(code, verifier), nil)
	if err := json.Unmarshal(rec.Body.Bytes(), &spa); err != nil || spa.AccessToken == "" {
		t.Fatalf("token response %d %s: %v", rec.Code, rec.Body, err)
	}
	web := e.codeFlow(t, "openid email") // a confidential client's token
	bearer := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	for _, tt := range []struct {
		name, method, origin, token string
		status                      int
		allow                       string
	}{
		{"SPA token, SPA origin", http.MethodGet, spaOrigin, spa.AccessToken, http.StatusOK, spaOrigin},
		{"SPA token, extra origin, POST", http.MethodPost, spaCDNOrigin, spa.AccessToken, http.StatusOK, spaCDNOrigin},
		{"SPA token, other origin", http.MethodGet, evilOrigin, spa.AccessToken, http.StatusOK, ""},
		{"confidential client's token", http.MethodGet, spaOrigin, web.AccessToken, http.StatusOK, ""},
		{"no token, SPA origin", http.MethodGet, spaOrigin, "", http.StatusUnauthorized, spaOrigin},
		{"bad token, SPA origin", http.MethodGet, spaOrigin, "garbage", http.StatusUnauthorized, spaOrigin},
		{"bad token, other origin", http.MethodGet, evilOrigin, "garbage", http.StatusUnauthorized, ""},
		{"server", http.MethodGet, "", spa.AccessToken, http.StatusOK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.token != "" {
				h = bearer(tt.token)
			}
			var form url.Values
			if tt.method == http.MethodPost {
				form = url.Values{}
			}
			rec := e.fromPage(tt.method, userinfoPath, tt.origin, form, h)
			if rec.Code != tt.status {
				t.Errorf("status %d %s, want %d", rec.Code, rec.Body, tt.status)
			}
			checkCORS(t, tt.name, rec, tt.allow)
		})
	}
}

// Preflights name no client: an origin of any public web client gets
// exactly the endpoint's methods and headers; any other none. OPTIONS used
// to answer 405.
func TestCORSPreflight(t *testing.T) {
	e := newTestEnv(t)
	e.withSPA(t)
	preflight := func(path, origin string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodOptions, testIssuer+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
		return e.do(req)
	}
	for _, tt := range []struct {
		path, methods string
	}{{tokenPath, "POST"}, {revokePath, "POST"}, {parPath, "POST"}, {userinfoPath, "GET, POST"}} {
		for _, origin := range []string{spaOrigin, spaCDNOrigin} {
			rec := preflight(tt.path, origin)
			if rec.Code != http.StatusNoContent {
				t.Errorf("preflight %s from %s: status %d, want 204", tt.path, origin, rec.Code)
			}
			checkCORS(t, "preflight "+tt.path, rec, origin)
			for name, want := range map[string]string{
				"Access-Control-Allow-Methods": tt.methods,
				"Access-Control-Allow-Headers": "Authorization, Content-Type, DPoP",
				"Access-Control-Max-Age":       "7200",
			} {
				if got := rec.Header().Get(name); got != want {
					t.Errorf("preflight %s: %s %q, want %q", tt.path, name, got, want)
				}
			}
		}
		// The web client's redirect URI is on spaOrigin too, but only a
		// public web client's origins count; evil.example is nobody's.
		for _, origin := range []string{evilOrigin, "null", "https://third.example"} {
			rec := preflight(tt.path, origin)
			checkCORS(t, "preflight "+tt.path+" from "+origin, rec, "")
			if got := rec.Header().Get("Access-Control-Allow-Methods"); got != "" {
				t.Errorf("preflight %s from %s: Access-Control-Allow-Methods %q, want none", tt.path, origin, got)
			}
		}
	}
	// Introspection is for resource servers, never pages.
	if rec := preflight(introspectPath, spaOrigin); rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("introspection preflight: allowed %q", rec.Header().Get("Access-Control-Allow-Origin"))
	}
}

// A single-page app pushes its authorization request (PAR) from its own
// page and reads the request_uri; a page elsewhere, a push carrying a
// client credential and one naming no client are refused before the
// push is stored.
func TestCORSPushedAuthorizationRequest(t *testing.T) {
	e := newTestEnv(t)
	e.withSPA(t)
	verifier := base64.RawURLEncoding.EncodeToString(randomBytes(t, 32))
	push := func() url.Values {
		return url.Values{"client_id": {"spa"}, "response_type": {"code"}, "redirect_uri": {webRedirect},
			"scope": {"openid"}, "state": {"st"}, "code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}}
	}
	for _, tt := range []struct {
		name, origin string
		form         url.Values
		header       http.Header
	}{
		{"unregistered origin", evilOrigin, push(), nil},
		{"null origin", "null", push(), nil},
		{"the confidential client's push, with its secret", spaOrigin,
			func() url.Values { f := push(); f.Del("client_id"); return f }(),
			http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("web:"+testWebSecret))}}},
		{"SPA naming a secret", spaOrigin, func() url.Values { f := push(); f.Set("client_secret", "x"); return f }(), nil},
		{"no client_id", spaOrigin, func() url.Values { f := push(); f.Del("client_id"); return f }(), nil},
	} {
		rec := e.fromPage(http.MethodPost, parPath, tt.origin, tt.form, tt.header)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"invalid_request"`) || strings.Contains(rec.Body.String(), "request_uri") {
			t.Errorf("%s: status %d %s, want 400 invalid_request and no request_uri", tt.name, rec.Code, rec.Body)
		}
		checkCORS(t, tt.name, rec, "")
	}

	rec := e.fromPage(http.MethodPost, parPath, spaCDNOrigin, push(), nil)
	var pushed struct {
		RequestURI string `json:"request_uri"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &pushed); rec.Code != http.StatusCreated || err != nil || pushed.RequestURI == "" {
		t.Fatalf("push from the SPA's page: %d %s, want 201 with a request_uri", rec.Code, rec.Body)
	}
	checkCORS(t, "push from the SPA's page", rec, spaCDNOrigin)

	// The pushed request signs the user in through the SPA.
	jar := e.signedInJar(t)
	req := httptest.NewRequest(http.MethodGet, testIssuer+authorizePath+"?"+url.Values{"client_id": {"spa"}, "request_uri": {pushed.RequestURI}}.Encode(), nil)
	jar.add(req)
	rec = e.do(req)
	code := mustParseURL(t, rec.Header().Get("Location")).Query().Get("code")
	if code == "" {
		t.Fatalf("authorize with the pushed request: %d to %q, want a code", rec.Code, rec.Header().Get("Location"))
	}
	rec = e.fromPage(http.MethodPost, tokenPath, spaCDNOrigin, codeForm(code, verifier), nil)
	if rec.Code != http.StatusOK {
		t.Errorf("code exchange with the pushed request's verifier: %d %s, want 200", rec.Code, rec.Body)
	}
}

// Discovery and the JWKS are readable by every page.
func TestCORSPublicDocuments(t *testing.T) {
	e := newTestEnv(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/keys"} {
		rec := e.fromPage(http.MethodGet, path, evilOrigin, nil, nil)
		if rec.Code != http.StatusOK || rec.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("GET %s from a page: %d, Access-Control-Allow-Origin %q, want 200 and *", path, rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
		}
		rec = e.fromPage(http.MethodOptions, path, evilOrigin, nil, http.Header{"Access-Control-Request-Method": {"GET"}})
		if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Origin") != "*" ||
			rec.Header().Get("Access-Control-Allow-Methods") != "GET, HEAD" {
			t.Errorf("preflight %s: %d %v, want 204 with * and GET, HEAD", path, rec.Code, rec.Header())
		}
		if _, ok := rec.Header()["Access-Control-Allow-Credentials"]; ok {
			t.Errorf("%s: Access-Control-Allow-Credentials sent", path)
		}
	}
}

// A client added by a clients.yaml reload is allowed at once after
// InvalidateClients, and a failed client listing answers the preflight
// 503 with Retry-After, never "allowed" or "not allowed".
func TestCORSPreflightFollowsClients(t *testing.T) {
	var failList atomic.Bool
	e := newTestEnvWith(t, func(s *sqlite.Store) Store { return &listFailStore{Store: s, fail: &failList} })
	req := func() *httptest.ResponseRecorder {
		return e.fromPage(http.MethodOptions, tokenPath, spaCDNOrigin, nil, http.Header{"Access-Control-Request-Method": {"POST"}})
	}
	checkCORS(t, "before the SPA is registered", req(), "")
	e.withSPA(t)
	checkCORS(t, "after the SPA is registered", req(), spaCDNOrigin)

	failList.Store(true)
	e.p.InvalidateClients()
	rec := req()
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("preflight with the store down: %d, Retry-After %q; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	checkCORS(t, "preflight with the store down", rec, "")
}

type listFailStore struct {
	*sqlite.Store
	fail *atomic.Bool
}

func (s *listFailStore) ListClients(ctx context.Context) ([]storage.Client, error) {
	if s.fail.Load() {
		return nil, errors.New("store down")
	}
	return s.Store.ListClients(ctx)
}
