package provider

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

const (
	testJARSecret    = "jar-secret-0123456789abcdef0123456789abcdef"
	testParWebSecret = "parweb-secret-0123456789abcdef0123456789abcdef"
)

// parEnv is assertionEnv with two more clients: "jar" (client_secret_post)
// whose authorization requests are request objects signed with ES256 by
// jarKey (kid "jar1", its inline jwks), and "parweb" (client_secret_basic)
// that must push its requests.
type parEnv struct {
	*assertionEnv
	jarKey *ecdsa.PrivateKey
	jwks   []byte
}

func newPAREnv(t *testing.T, mod func(*Config)) *parEnv {
	t.Helper()
	a := newAssertionEnv(t)
	if mod != nil {
		// The provider is rebuilt over the same store with mod applied.
		cfg := a.p.cfg
		mod(&cfg)
		cfg.UI = a.p.cfg.UI
		p, err := New(t.Context(), cfg, a.store, a.keys)
		if err != nil {
			t.Fatalf("provider.New: %v", err)
		}
		a.p, a.ui, a.h = p, p.ui, p.Handler(a.keys.JWKSHandler())
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := &parEnv{assertionEnv: a, jarKey: k}
	e.jwks, _ = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: "jar1", Use: "sig"}}})
	clients, err := a.store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	clients = append(clients,
		storage.Client{
			ID: "jar", Name: "Signed Requests App", SecretHash: clientpolicy.HashSecret(testJARSecret),
			RedirectURIs: []string{webRedirect}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
			TokenEndpointAuthMethod: "client_secret_post", ApplicationType: "web", SkipConsent: true,
			JWKS: e.jwks, RequestObjectSigningAlg: "ES256",
		},
		storage.Client{
			ID: "parweb", Name: "Pushing App", SecretHash: clientpolicy.HashSecret(testParWebSecret),
			RedirectURIs: []string{webRedirect}, GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
			TokenEndpointAuthMethod: "client_secret_basic", ApplicationType: "web", SkipConsent: true,
			RequirePushedAuthorizationRequests: true,
		})
	for _, c := range clients[len(clients)-2:] {
		if err := clientpolicy.Validate(c); err != nil {
			t.Fatalf("test client %s: %v", c.ID, err)
		}
	}
	if _, err := a.store.SyncClients(t.Context(), clients, time.Now()); err != nil {
		t.Fatalf("SyncClients: %v", err)
	}
	return e
}

// authParams are the parameters of a valid authorization request of
// client id, with the PKCE verifier they commit to.
func authParams(t *testing.T, id string) (url.Values, string) {
	verifier := base64.RawURLEncoding.EncodeToString(randomBytes(t, 32))
	return url.Values{
		"client_id": {id}, "redirect_uri": {webRedirect}, "response_type": {"code"},
		"scope": {"openid email"}, "state": {"st"}, "nonce": {"nn"},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"},
	}, verifier
}

// push posts form to the PAR endpoint with HTTP Basic credentials when
// basicID is not "".
func (e *parEnv) push(form url.Values, basicID, basicSecret string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, testIssuer+parPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(basicID, basicSecret)
	}
	return e.do(req)
}

// pushed pushes form as web (Basic) and returns the request_uri.
func (e *parEnv) pushed(t *testing.T, form url.Values, id, secret string) string {
	t.Helper()
	rec := e.push(form, id, secret)
	if rec.Code != http.StatusCreated {
		t.Fatalf("push: got %d %s, want 201", rec.Code, rec.Body)
	}
	var body struct {
		RequestURI string `json:"request_uri"`
		ExpiresIn  int    `json:"expires_in"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(body.RequestURI, "urn:ietf:params:oauth:request_uri:") || body.ExpiresIn != 60 {
		t.Fatalf("push: got %s, want a urn:ietf:params:oauth:request_uri: and expires_in 60", rec.Body)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("push: Cache-Control %q, want no-store", got)
	}
	return body.RequestURI
}

// authorize sends the browser to /authorize with q (no cookies).
func (e *parEnv) authorize(q url.Values) *httptest.ResponseRecorder {
	return e.do(httptest.NewRequest(http.MethodGet, testIssuer+authorizePath+"?"+q.Encode(), nil))
}

// wantPage checks that rec is an error page (no redirect) naming code.
func wantPage(t *testing.T, what string, rec *httptest.ResponseRecorder, code string) {
	t.Helper()
	if rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != "" || !strings.Contains(rec.Body.String(), code) {
		t.Errorf("%s: got %d Location %q, want a 400 page naming %s; body %.300s", what, rec.Code, rec.Header().Get("Location"), code, rec.Body)
	}
}

// wantErrorRedirect checks that rec sends the browser back to webRedirect
// with error code and state.
func wantErrorRedirect(t *testing.T, what string, rec *httptest.ResponseRecorder, code, state string) {
	t.Helper()
	loc, err := url.Parse(rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), webRedirect+"?") ||
		loc.Query().Get("error") != code || loc.Query().Get("state") != state {
		t.Errorf("%s: got %d Location %q, want a redirect to %s with error=%s state=%s", what, rec.Code, rec.Header().Get("Location"), webRedirect, code, state)
	}
}

// TestPushedAuthorizationRequest: a full code flow through PAR, the URL's
// other parameters ignored, the request_uri single use.
func TestPushedAuthorizationRequest(t *testing.T) {
	e := newPAREnv(t, nil)
	params, verifier := authParams(t, "web")
	uri := e.pushed(t, params, "web", testWebSecret)
	// Only client_id and request_uri count; the rest is ignored.
	q := url.Values{"client_id": {"web"}, "request_uri": {uri}, "redirect_uri": {"https://evil.example/cb"}, "state": {"outer"}, "scope": {"openid profile"}}
	code := e.signInWith(t, cookieJar{}, q, "st")
	checkTokenResponse(t, e.exchangeCode(code, verifier, "web", testWebSecret), http.StatusOK, "")

	// The request_uri is used up.
	wantPage(t, "request_uri used twice", e.authorize(url.Values{"client_id": {"web"}, "request_uri": {uri}}), "invalid_request_uri")
}

func TestPushedAuthorizationRequestRefused(t *testing.T) {
	e := newPAREnv(t, nil)

	t.Run("another client's request_uri", func(t *testing.T) {
		params, _ := authParams(t, "web")
		uri := e.pushed(t, params, "web", testWebSecret)
		wantPage(t, "post using web's request_uri", e.authorize(url.Values{"client_id": {"post"}, "request_uri": {uri}}), "invalid_request_uri")
		// The owner still can: the other client's attempt did not use it up.
		if rec := e.authorize(url.Values{"client_id": {"web"}, "request_uri": {uri}}); rec.Code != http.StatusFound {
			t.Errorf("web after post's attempt: got %d, want 302 to the login page", rec.Code)
		}
	})
	t.Run("expired", func(t *testing.T) {
		params, _ := authParams(t, "web")
		uri := e.pushed(t, params, "web", testWebSecret)
		e.clock.advance(61 * time.Second)
		wantPage(t, "request_uri after 61 s", e.authorize(url.Values{"client_id": {"web"}, "request_uri": {uri}}), "invalid_request_uri")
	})
	t.Run("request_uri not from PAR", func(t *testing.T) {
		for _, uri := range []string{
			"https://rp.example/request.jwt",
			"urn:ietf:params:oauth:request_uri:" + base64.RawURLEncoding.EncodeToString(randomBytes(t, 32)),
			"urn:ietf:params:oauth:request_uri:short",
			"",
		} {
			wantPage(t, "request_uri "+uri, e.authorize(url.Values{"client_id": {"web"}, "request_uri": {uri}}), "invalid_request_uri")
		}
	})

	// The push itself.
	good, _ := authParams(t, "web")
	with := func(mod func(url.Values)) url.Values {
		f := url.Values{}
		for k, v := range good {
			f[k] = append([]string(nil), v...)
		}
		mod(f)
		return f
	}
	cases := []struct {
		name       string
		form       url.Values
		id, secret string
		status     int
		err        string
	}{
		{"no client authentication", good, "", "", http.StatusUnauthorized, "invalid_client"},
		{"wrong secret", good, "web", "wrong-secret-0123456789abcdef0123456789abcdef", http.StatusUnauthorized, "invalid_client"},
		{"secret of another client", good, "web", testPostSecret, http.StatusUnauthorized, "invalid_client"},
		{"client_id of another client", with(func(f url.Values) { f.Set("client_id", "post") }), "web", testWebSecret, http.StatusUnauthorized, "invalid_client"},
		{"request_uri inside", with(func(f url.Values) { f.Set("request_uri", "urn:ietf:params:oauth:request_uri:x") }), "web", testWebSecret, http.StatusBadRequest, "invalid_request"},
		{"unregistered redirect_uri", with(func(f url.Values) { f.Set("redirect_uri", "https://app.example/CB") }), "web", testWebSecret, http.StatusBadRequest, "invalid_request"},
		{"no redirect_uri", with(func(f url.Values) { f.Del("redirect_uri") }), "web", testWebSecret, http.StatusBadRequest, "invalid_request"},
		{"response_type token", with(func(f url.Values) { f.Set("response_type", "token") }), "web", testWebSecret, http.StatusBadRequest, "unsupported_response_type"},
		{"no openid scope", with(func(f url.Values) { f.Set("scope", "email") }), "web", testWebSecret, http.StatusBadRequest, "invalid_scope"},
		{"PKCE plain", with(func(f url.Values) { f.Set("code_challenge_method", "plain") }), "web", testWebSecret, http.StatusBadRequest, "invalid_request"},
		{"duplicated state", with(func(f url.Values) { f.Add("state", "again") }), "web", testWebSecret, http.StatusBadRequest, "invalid_request"},
		{"unknown prompt", with(func(f url.Values) { f.Set("prompt", "maybe") }), "web", testWebSecret, http.StatusBadRequest, "invalid_request"},
		{"public client without PKCE", url.Values{"client_id": {"native"}, "redirect_uri": {nativeLoopback}, "response_type": {"code"}, "scope": {"openid"}}, "", "", http.StatusBadRequest, "invalid_request"},
		{"request object from a client without request_object_signing_alg", with(func(f url.Values) { f.Set("request", "eyJhbGciOiJub25lIn0.e30.") }), "web", testWebSecret, http.StatusBadRequest, "invalid_request_object"},
		{"jar client without a request object", with(func(f url.Values) { f.Set("client_id", "jar"); f.Set("client_secret", testJARSecret) }), "", "", http.StatusBadRequest, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run("push "+tc.name, func(t *testing.T) {
			checkTokenResponse(t, e.push(tc.form, tc.id, tc.secret), tc.status, tc.err)
		})
	}
	t.Run("push with query parameters", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, testIssuer+parPath+"?state=x", strings.NewReader(good.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", testWebSecret)
		checkTokenResponse(t, e.do(req), http.StatusBadRequest, "invalid_request")
	})
	t.Run("public client with PKCE", func(t *testing.T) {
		f, _ := authParams(t, "native")
		f.Set("redirect_uri", "http://127.0.0.1:4711/callback")
		e.pushed(t, f, "", "")
	})
	t.Run("private_key_jwt, aud the PAR endpoint", func(t *testing.T) {
		f, _ := authParams(t, "pkjwt")
		cl := e.claims("pkjwt")
		cl["aud"] = testIssuer + parPath
		f.Set("client_assertion_type", clientAssertionType)
		f.Set("client_assertion", sign(t, e.ec, jose.ES256, "ec1", cl))
		e.pushed(t, f, "", "")
	})
}

// TestRequirePushedAuthorizationRequests: per client and server-wide.
func TestRequirePushedAuthorizationRequests(t *testing.T) {
	e := newPAREnv(t, nil)
	plain, _ := authParams(t, "parweb")
	wantErrorRedirect(t, "parweb's plain request", e.authorize(plain), "invalid_request", "st")
	uri := e.pushed(t, plain, "parweb", testParWebSecret)
	if rec := e.authorize(url.Values{"client_id": {"parweb"}, "request_uri": {uri}}); rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), loginPath) {
		t.Errorf("parweb's pushed request: got %d %q, want 302 to the login page", rec.Code, rec.Header().Get("Location"))
	}
	// Another client is not bound by it.
	web, _ := authParams(t, "web")
	if rec := e.authorize(web); rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), loginPath) {
		t.Errorf("web's plain request: got %d %q, want 302 to the login page", rec.Code, rec.Header().Get("Location"))
	}

	all := newPAREnv(t, func(c *Config) { c.RequirePAR = true })
	wantErrorRedirect(t, "web's plain request with require_pushed_authorization_requests on", all.authorize(web), "invalid_request", "st")
	var doc map[string]any
	rec := all.do(httptest.NewRequest(http.MethodGet, testIssuer+"/.well-known/openid-configuration", nil))
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc["require_pushed_authorization_requests"] != true {
		t.Errorf("discovery: require_pushed_authorization_requests %v, want true", doc["require_pushed_authorization_requests"])
	}
}

// requestObject returns valid claims of a request object of client "jar"
// at the env's now, holding params.
func (e *parEnv) requestObject(params url.Values) map[string]any {
	now := e.clock.now()
	c := map[string]any{
		"iss": "jar", "aud": testIssuer, "jti": rand.Text(),
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
	for k := range params {
		c[k] = params.Get(k)
	}
	return c
}

// TestRequestObject: a code flow with a signed request object by value,
// at /authorize and through PAR; the URL's other parameters ignored.
func TestRequestObject(t *testing.T) {
	e := newPAREnv(t, nil)
	params, verifier := authParams(t, "jar")
	claims := e.requestObject(params)
	claims["max_age"] = 3600 // a number, as JSON has it
	obj := sign(t, e.jarKey, jose.ES256, "jar1", claims)
	q := url.Values{"client_id": {"jar"}, "request": {obj}, "state": {"outer"}, "redirect_uri": {"https://evil.example/cb"}}
	code := e.signInWith(t, cookieJar{}, q, "st")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect},
		"code_verifier": {verifier}, "client_id": {"jar"}, "client_secret": {testJARSecret}}
	checkTokenResponse(t, e.post(tokenPath, form, ""), http.StatusOK, "")

	// The same object again: its jti is used.
	wantPage(t, "replayed request object", e.authorize(q), "invalid_request_object")

	// Through PAR: the object's claims are the request.
	params, verifier = authParams(t, "jar")
	push := url.Values{"client_id": {"jar"}, "client_secret": {testJARSecret}, "scope": {"openid profile"},
		"request": {sign(t, e.jarKey, jose.ES256, "jar1", e.requestObject(params))}}
	uri := e.pushed(t, push, "", "")
	code = e.signInWith(t, cookieJar{}, url.Values{"client_id": {"jar"}, "request_uri": {uri}}, "st")
	form.Set("code", code)
	form.Set("code_verifier", verifier)
	checkTokenResponse(t, e.post(tokenPath, form, ""), http.StatusOK, "")

	// A client that registered request_object_signing_alg sends nothing
	// unsigned; the redirect URI is registered, so it hears of it there.
	wantErrorRedirect(t, "jar's plain request", e.authorize(params), "invalid_request", "st")
}

func TestRequestObjectRefused(t *testing.T) {
	e := newPAREnv(t, nil)
	now := e.clock.now()
	params, _ := authParams(t, "jar")
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	with := func(mod func(map[string]any)) map[string]any {
		c := e.requestObject(params)
		mod(c)
		return c
	}
	hs256 := func(key []byte) func([]byte) []byte {
		return func(in []byte) []byte {
			m := hmac.New(sha256.New, key)
			m.Write(in)
			return m.Sum(nil)
		}
	}
	cases := []struct {
		name, obj, client, want string
	}{
		{"signed by another key", sign(t, other, jose.ES256, "jar1", e.requestObject(params)), "", "signature"},
		{"signed by another key, no kid", sign(t, other, jose.ES256, "", e.requestObject(params)), "", "signature"},
		{"alg none", unsigned(map[string]any{"alg": "none"}, e.requestObject(params), nil), "", "ES256"},
		{"HS256 keyed with the JWKS", unsigned(map[string]any{"alg": "HS256", "kid": "jar1"}, e.requestObject(params), hs256(e.jwks)), "", "ES256"},
		{"PS256, not the registered ES256", sign(t, e.rsa, jose.PS256, "", e.requestObject(params)), "", "ES256"},
		{"expired", sign(t, e.jarKey, jose.ES256, "jar1", with(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() })), "", "expired"},
		{"no exp", sign(t, e.jarKey, jose.ES256, "jar1", with(func(c map[string]any) { delete(c, "exp") })), "", "exp and nbf"},
		{"no nbf", sign(t, e.jarKey, jose.ES256, "jar1", with(func(c map[string]any) { delete(c, "nbf") })), "", "exp and nbf"},
		{"nbf too old", sign(t, e.jarKey, jose.ES256, "jar1", with(func(c map[string]any) { c["nbf"] = now.Add(-62 * time.Minute).Unix() })), "", "nbf is more than 1h0m0s in the past"},
		{"nbf in the future", sign(t, e.jarKey, jose.ES256, "jar1", with(func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), "", "not valid yet"},
		{"lifetime over 60 minutes", sign(t, e.jarKey, jose.ES256, "jar1", with(func(c map[string]any) { c["exp"] = now.Add(61 * time.Minute).Unix() })), "", "lifetime"},
		{"wrong aud", sign(t, e.jarKey, jose.ES256, "jar1", with(func(c map[string]any) { c["aud"] = testIssuer + tokenPath })), "", "aud"},
		{"wrong iss", sign(t, e.jarKey, jose.ES256, "jar1", with(func(c map[string]any) { c["iss"] = "web" })), "", "iss"},
		{"no jti", sign(t, e.jarKey, jose.ES256, "jar1", with(func(c map[string]any) { delete(c, "jti") })), "", "jti"},
		{"client_id mismatch inside", sign(t, e.jarKey, jose.ES256, "jar1", with(func(c map[string]any) { c["client_id"] = "web" })), "", "client_id"},
		{"request_uri inside", sign(t, e.jarKey, jose.ES256, "jar1", with(func(c map[string]any) { c["request_uri"] = "urn:ietf:params:oauth:request_uri:x" })), "", "must not hold request_uri"},
		{"typ of an access token", signTyp(t, e.jarKey, "at+jwt", e.requestObject(params)), "", "typ"},
		{"garbage", "not.a.jwt", "", "ES256"},
		{"from a client without request_object_signing_alg", sign(t, e.jarKey, jose.ES256, "jar1", e.requestObject(params)), "web", "registered no request_object_signing_alg"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := "jar"
			if tc.client != "" {
				id = tc.client
			}
			rec := e.authorize(url.Values{"client_id": {id}, "request": {tc.obj}})
			wantPage(t, tc.name, rec, "invalid_request_object")
			if !strings.Contains(rec.Body.String(), tc.want) {
				t.Errorf("%s: page does not say %q; body %.600s", tc.name, tc.want, rec.Body)
			}
			// Pushed, the same object is refused as JSON.
			push := url.Values{"client_id": {id}, "client_secret": {testJARSecret}, "request": {tc.obj}}
			if id == "web" {
				rec = e.push(url.Values{"request": {tc.obj}}, "web", testWebSecret)
			} else {
				rec = e.push(push, "", "")
			}
			checkTokenResponse(t, rec, http.StatusBadRequest, "invalid_request_object")
		})
	}
	// A valid object with a client_id of its own that matches is taken.
	ok := sign(t, e.jarKey, jose.ES256, "jar1", e.requestObject(params))
	if rec := e.authorize(url.Values{"client_id": {"jar"}, "request": {ok}}); rec.Code != http.StatusFound || !strings.HasPrefix(rec.Header().Get("Location"), loginPath) {
		t.Errorf("valid request object: got %d %q, want 302 to the login page", rec.Code, rec.Header().Get("Location"))
	}
	// Both request and request_uri: a page.
	wantPage(t, "request and request_uri", e.authorize(url.Values{"client_id": {"jar"}, "request": {ok}, "request_uri": {"urn:ietf:params:oauth:request_uri:x"}}), "invalid_request")
}

// signTyp signs claims with an ES256 key and the typ header typ.
func signTyp(t *testing.T, key *ecdsa.PrivateKey, typ string, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType(jose.ContentType(typ)).WithHeader("kid", "jar1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := obj.CompactSerialize()
	return out
}
