package conformance

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// The PAR client's secret; its request objects are signed with a key made
// by the test and registered inline (jwks).
const parSecret = "par-client-secret-0123456789abcdefghijklmnopqrstuvwxyz"

// parClientsYAML declares "par-jar", which must push its requests (RFC
// 9126) as request objects signed with ES256 (RFC 9101), and "other", an
// ordinary client. %JWKS% is replaced by the test's public key set.
const parClientsYAML = `clients:
  - client_id: par-jar
    skip_consent: true
    client_secret_env: TEST_PAR_SECRET
    token_endpoint_auth_method: client_secret_basic
    redirect_uris: [https://par.example/callback]
    jwks: %JWKS%
    request_object_signing_alg: ES256
    require_pushed_authorization_requests: true
  - client_id: other
    skip_consent: true
    client_secret_env: TEST_BASIC_SECRET
    redirect_uris: [https://rp.example/callback]
`

// parClient pushes authorization requests the way RFC 9126 §2.1 shows,
// with a plain HTTP client, authenticating with HTTP Basic (RFC 6749
// §2.3.1: both parts form-encoded).
type parClient struct {
	t        *testing.T
	endpoint string
	id       string
	secret   string
}

// push posts form and returns the status and the JSON answer.
func (c parClient) push(form url.Values) (int, map[string]any) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.id != "" {
		req.SetBasicAuth(url.QueryEscape(c.id), url.QueryEscape(c.secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("push: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		c.t.Fatalf("push: answer is not JSON: %v", err)
	}
	return resp.StatusCode, body
}

// requestObject signs an authorization request for flow f as RFC 9101 §4
// describes: the parameters as claims, iss the client, aud the issuer,
// with exp, nbf and a fresh jti.
func requestObject(t *testing.T, key *ecdsa.PrivateKey, alg jose.SignatureAlgorithm, issuer string, f flow, mod func(map[string]any)) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": "par-jar", "aud": issuer, "client_id": "par-jar",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": rand.Text(),
		"response_type": "code", "redirect_uri": "https://par.example/callback",
		"scope": "openid profile email", "state": f.state, "nonce": f.nonce,
		"code_challenge": oauth2.S256ChallengeFromVerifier(f.verifier), "code_challenge_method": "S256",
	}
	if mod != nil {
		mod(claims)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("oauth-authz-req+jwt").WithHeader("kid", "rp-1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPushedSignedAuthorizationRequest runs the authorization-code flow of
// a client that pushes signed request objects, with x/oauth2 and go-oidc
// for the tokens, and the refusals around it.
func TestPushedSignedAuthorizationRequest(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "rp-1", Algorithm: "ES256", Use: "sig"}}})
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(strings.Replace(parClientsYAML, "%JWKS%", "'"+string(jwks)+"'", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := launch(t, &server{t: t, dir: dir, host: "127.0.0.1", backendEnv: suiteBackend(t), extraEnv: []string{"TEST_PAR_SECRET=" + parSecret}})

	r := newRP(t, s, "par-jar", parSecret, "https://par.example/callback", oauth2.AuthStyleInHeader)
	var meta struct {
		PAREndpoint       string   `json:"pushed_authorization_request_endpoint"`
		RequestParameter  bool     `json:"request_parameter_supported"`
		RequestObjectAlgs []string `json:"request_object_signing_alg_values_supported"`
	}
	if err := r.provider.Claims(&meta); err != nil {
		t.Fatal(err)
	}
	if meta.PAREndpoint != s.issuer+"/oauth/par" || !meta.RequestParameter || !strings.Contains(strings.Join(meta.RequestObjectAlgs, " "), "ES256") {
		t.Fatalf("discovery: got %+v, want the PAR endpoint, request_parameter_supported and ES256", meta)
	}
	pc := parClient{t: t, endpoint: meta.PAREndpoint, id: "par-jar", secret: parSecret}
	authURL := func(requestURI string) string {
		return r.provider.Endpoint().AuthURL + "?" + url.Values{"client_id": {"par-jar"}, "request_uri": {requestURI}}.Encode()
	}

	// The flow: push, sign in, code, tokens and a verified ID token.
	f := newFlow()
	status, body := pc.push(url.Values{"request": {requestObject(t, key, jose.ES256, s.issuer, f, nil)}})
	requestURI, _ := body["request_uri"].(string)
	if status != http.StatusCreated || !strings.HasPrefix(requestURI, "urn:ietf:params:oauth:request_uri:") || body["expires_in"] != float64(60) {
		t.Fatalf("push: got %d %v, want 201 with a request_uri and expires_in 60", status, body)
	}
	b := newBrowser(t)
	code := r.code(s, f, b.login(authURL(requestURI), "admin", adminPassword))
	tok, idt := r.exchange(f, code)
	if tok.AccessToken == "" || idt.Subject == "" {
		t.Fatalf("tokens: got %+v, want an access token and an ID token with sub", tok)
	}

	wantPage := func(what, u, code string) {
		t.Helper()
		p := newBrowser(t).get(u)
		if p.status != http.StatusBadRequest || p.location != "" || !strings.Contains(p.body, code) {
			t.Errorf("%s: got %d to %q, want a 400 page naming %s", what, p.status, p.location, code)
		}
	}
	// The request_uri is single use.
	wantPage("request_uri used twice", authURL(requestURI), "invalid_request_uri")
	// Another client cannot use one, and a URI not from PAR is refused.
	f = newFlow()
	_, body = pc.push(url.Values{"request": {requestObject(t, key, jose.ES256, s.issuer, f, nil)}})
	fresh, _ := body["request_uri"].(string)
	wantPage("another client's request_uri", r.provider.Endpoint().AuthURL+"?"+url.Values{"client_id": {"other"}, "request_uri": {fresh}}.Encode(), "invalid_request_uri")
	wantPage("request_uri not from PAR", authURL("https://par.example/request.jwt"), "invalid_request_uri")
	// A plain request from a client that must push: an error to its redirect URI.
	p := newBrowser(t).get(r.authURL(newFlow()))
	if loc, _ := url.Parse(p.location); p.status != http.StatusFound || loc.Query().Get("error") != "invalid_request" {
		t.Errorf("plain authorization request: got %d to %q, want a redirect with error=invalid_request", p.status, p.location)
	}

	// Pushes refused.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	replayed := requestObject(t, key, jose.ES256, s.issuer, newFlow(), nil)
	if status, body := pc.push(url.Values{"request": {replayed}}); status != http.StatusCreated {
		t.Fatalf("push before the replay: got %d %v", status, body)
	}
	none := func() string {
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`))
		c, _ := json.Marshal(map[string]any{"iss": "par-jar", "aud": s.issuer, "exp": time.Now().Add(time.Minute).Unix(), "nbf": time.Now().Unix(), "jti": rand.Text()})
		return h + "." + base64.RawURLEncoding.EncodeToString(c) + "."
	}()
	for _, tc := range []struct {
		name       string
		client     parClient
		form       url.Values
		wantStatus int
		wantError  string
	}{
		{"no client authentication", parClient{t: t, endpoint: pc.endpoint}, url.Values{"client_id": {"par-jar"}, "request": {requestObject(t, key, jose.ES256, s.issuer, newFlow(), nil)}}, http.StatusUnauthorized, "invalid_client"},
		{"wrong secret", parClient{t: t, endpoint: pc.endpoint, id: "par-jar", secret: "wrong-secret-0123456789abcdefghijklmnopqrstuvwxyz"}, url.Values{"request": {requestObject(t, key, jose.ES256, s.issuer, newFlow(), nil)}}, http.StatusUnauthorized, "invalid_client"},
		{"signed by another key", pc, url.Values{"request": {requestObject(t, other, jose.ES256, s.issuer, newFlow(), nil)}}, http.StatusBadRequest, "invalid_request_object"},
		{"alg none", pc, url.Values{"request": {none}}, http.StatusBadRequest, "invalid_request_object"},
		{"replayed jti", pc, url.Values{"request": {replayed}}, http.StatusBadRequest, "invalid_request_object"},
		{"expired", pc, url.Values{"request": {requestObject(t, key, jose.ES256, s.issuer, newFlow(), func(c map[string]any) {
			c["nbf"], c["exp"] = time.Now().Add(-10*time.Minute).Unix(), time.Now().Add(-5*time.Minute).Unix()
		})}}, http.StatusBadRequest, "invalid_request_object"},
		{"aud another server", pc, url.Values{"request": {requestObject(t, key, jose.ES256, s.issuer, newFlow(), func(c map[string]any) { c["aud"] = "https://other.example" })}}, http.StatusBadRequest, "invalid_request_object"},
		{"client_id mismatch", pc, url.Values{"request": {requestObject(t, key, jose.ES256, s.issuer, newFlow(), func(c map[string]any) { c["client_id"] = "other" })}}, http.StatusBadRequest, "invalid_request_object"},
		{"unsigned parameters", pc, url.Values{"response_type": {"code"}, "redirect_uri": {"https://par.example/callback"}, "scope": {"openid"}}, http.StatusBadRequest, "invalid_request"},
		{"request_uri pushed", pc, url.Values{"request_uri": {fresh}}, http.StatusBadRequest, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.client.t = t
			status, body := tc.client.push(tc.form)
			if status != tc.wantStatus || body["error"] != tc.wantError {
				t.Errorf("got %d %v, want %d %s", status, body, tc.wantStatus, tc.wantError)
			}
		})
	}
	// The ID token verifier accepts only this client's tokens (sanity).
	if _, err := r.provider.Verifier(&oidc.Config{ClientID: "other"}).Verify(t.Context(), tok.Extra("id_token").(string)); err == nil {
		t.Error("ID token verified for another client_id")
	}
}
