package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// rp is a relying party built only from independent libraries.
type rp struct {
	t        *testing.T
	provider *oidc.Provider
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newRP(t *testing.T, s *server, clientID, secret, redirect string, style oauth2.AuthStyle) *rp {
	t.Helper()
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, s.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	ep := p.Endpoint()
	ep.AuthStyle = style
	return &rp{
		t:        t,
		provider: p,
		conf: oauth2.Config{
			ClientID: clientID, ClientSecret: secret, Endpoint: ep, RedirectURL: redirect,
			Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess},
		},
		verifier: p.Verifier(&oidc.Config{ClientID: clientID}),
	}
}

// flow is one authorization request's client-side state.
type flow struct {
	state, nonce, verifier string
}

func newFlow() flow {
	return flow{state: oauth2.GenerateVerifier()[:20], nonce: oauth2.GenerateVerifier()[:20], verifier: oauth2.GenerateVerifier()}
}

func (r *rp) authURL(f flow, extra ...oauth2.AuthCodeOption) string {
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), oidc.Nonce(f.nonce)}, extra...)
	return r.conf.AuthCodeURL(f.state, opts...)
}

// code checks an authorization response and returns its code.
func (r *rp) code(s *server, f flow, resp *url.URL) string {
	r.t.Helper()
	want, _ := url.Parse(r.conf.RedirectURL)
	if resp.Scheme != want.Scheme || resp.Hostname() != want.Hostname() || resp.Path != want.Path {
		r.t.Fatalf("authorization response went to %s, want %s", resp, r.conf.RedirectURL)
	}
	q := resp.Query()
	if e := q.Get("error"); e != "" {
		r.t.Fatalf("authorization error %s: %s", e, q.Get("error_description"))
	}
	if got := q.Get("iss"); got != s.issuer {
		r.t.Errorf("iss: got %q, want %q (RFC 9207)", got, s.issuer)
	}
	if got := q.Get("state"); got != f.state {
		r.t.Errorf("state: got %q, want %q", got, f.state)
	}
	if q.Get("code") == "" {
		r.t.Fatal("no code in the authorization response")
	}
	return q.Get("code")
}

// exchange redeems a code and verifies the ID token.
func (r *rp) exchange(f flow, code string) (*oauth2.Token, *oidc.IDToken) {
	r.t.Helper()
	ctx := context.Background()
	tok, err := r.conf.Exchange(ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		r.t.Fatalf("code exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := r.verifier.Verify(ctx, raw)
	if err != nil {
		r.t.Fatalf("verify ID token: %v", err)
	}
	if idt.Nonce != f.nonce {
		r.t.Errorf("nonce: got %q, want %q", idt.Nonce, f.nonce)
	}
	if idt.Subject == "" {
		r.t.Error("ID token has no sub")
	}
	return tok, idt
}

func (r *rp) refresh(refreshToken string) (*oauth2.Token, error) {
	src := r.conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Now().Add(-time.Hour)})
	return src.Token()
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

// TestConfidentialClientFlows runs the whole code flow for both secret
// methods: login form, code, tokens, userinfo, refresh rotation.
func TestConfidentialClientFlows(t *testing.T) {
	s := startServer(t, "")
	t.Logf("serve to ready on a fresh directory: %v", s.started)
	cases := []struct {
		name, client, secret, redirect string
		style                          oauth2.AuthStyle
	}{
		// AuthStyle is pinned: with AutoDetect, x/oauth2 would retry in the
		// body after a failed Basic attempt and hide the failure.
		{"client_secret_basic", "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader},
		{"client_secret_post", "web-post", postSecret, "https://rp-post.example/callback", oauth2.AuthStyleInParams},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRP(t, s, tc.client, tc.secret, tc.redirect, tc.style)
			b := newBrowser(t)
			f := newFlow()
			code := r.code(s, f, b.login(r.authURL(f), "admin", adminPassword))
			tok, idt := r.exchange(f, code)
			if tok.RefreshToken == "" {
				t.Fatal("no refresh token for offline_access")
			}
			var claims struct {
				Sub               string `json:"sub"`
				PreferredUsername string `json:"preferred_username"`
				AuthTime          int64  `json:"auth_time"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if claims.PreferredUsername != "admin" || claims.AuthTime == 0 {
				t.Errorf("ID token claims: got %+v, want preferred_username admin and auth_time", claims)
			}

			ui, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if ui.Subject != idt.Subject {
				t.Errorf("userinfo sub: got %q, want the ID token's %q", ui.Subject, idt.Subject)
			}

			next, err := r.refresh(tok.RefreshToken)
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			if next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
				t.Errorf("refresh: got refresh token %q, want a new one", next.RefreshToken)
			}
			raw, _ := next.Extra("id_token").(string)
			idt2, err := r.verifier.Verify(context.Background(), raw)
			if err != nil {
				t.Fatalf("refreshed ID token: %v", err)
			}
			if idt2.Subject != idt.Subject {
				t.Errorf("refreshed sub: got %q, want %q", idt2.Subject, idt.Subject)
			}
			// A retry inside the grace window gets the same answer again.
			if again, err := r.refresh(tok.RefreshToken); err != nil || again.RefreshToken != next.RefreshToken {
				t.Errorf("retry of the rotated token in the grace window: got %v, %v; want the same new token", again, err)
			}
			if _, err := r.refresh(next.RefreshToken); err != nil {
				t.Errorf("the new refresh token: %v", err)
			}
		})
	}
}

// TestTokenResponseHeaders: token responses must not be cached.
func TestTokenResponseHeaders(t *testing.T) {
	s := startServer(t, "")
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)
	f := newFlow()
	code := r.code(s, f, b.login(r.authURL(f), "admin", adminPassword))
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {r.conf.RedirectURL}, "code_verifier": {f.verifier}}
	req, _ := http.NewRequest(http.MethodPost, r.conf.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape("web-basic"), url.QueryEscape(basicSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("token: got %d %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", got)
	}
}

// TestNativeClientLoopback: a public native app on a random loopback port,
// PKCE S256, no secret.
func TestNativeClientLoopback(t *testing.T) {
	s := startServer(t, "")
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer app.Close()
	redirect := app.URL + "/callback" // http://127.0.0.1:<random>/callback
	r := newRP(t, s, "native", "", redirect, oauth2.AuthStyleInParams)
	b := newBrowser(t)
	f := newFlow()
	code := r.code(s, f, b.login(r.authURL(f), "admin", adminPassword))
	tok, _ := r.exchange(f, code)
	if _, err := r.refresh(tok.RefreshToken); err != nil {
		t.Errorf("native refresh: %v", err)
	}

	// A verifier that does not match the challenge is refused.
	f2 := newFlow()
	code2 := r.code(s, f2, b.follow(r.authURL(f2)))
	if _, err := r.conf.Exchange(context.Background(), code2, oauth2.VerifierOption(newFlow().verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("wrong code_verifier: got %v, want invalid_grant", err)
	}
}

// TestCodeIsSingleUse: the second redemption of a code fails.
func TestCodeIsSingleUse(t *testing.T) {
	s := startServer(t, "")
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)
	f := newFlow()
	code := r.code(s, f, b.login(r.authURL(f), "admin", adminPassword))
	r.exchange(f, code)
	_, err := r.conf.Exchange(context.Background(), code, oauth2.VerifierOption(f.verifier))
	if oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("second redemption: got %v, want invalid_grant", err)
	}
}

// TestPromptNone: without a session → login_required back to the client;
// with one → a code at once, no page.
func TestPromptNone(t *testing.T) {
	s := startServer(t, "")
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)

	f := newFlow()
	resp := b.follow(r.authURL(f, oauth2.SetAuthURLParam("prompt", "none")))
	if got := resp.Query().Get("error"); got != "login_required" {
		t.Fatalf("prompt=none without a session: got error %q (%s), want login_required", got, resp)
	}
	if resp.Query().Get("iss") != s.issuer || resp.Query().Get("state") != f.state {
		t.Errorf("error response: got iss %q state %q, want %q and %q", resp.Query().Get("iss"), resp.Query().Get("state"), s.issuer, f.state)
	}

	f = newFlow()
	_, first := r.exchange(f, r.code(s, f, b.login(r.authURL(f), "admin", adminPassword)))

	f = newFlow()
	resp = b.follow(r.authURL(f, oauth2.SetAuthURLParam("prompt", "none")))
	_, second := r.exchange(f, r.code(s, f, resp))
	if second.Subject != first.Subject {
		t.Errorf("SSO sub: got %q, want %q", second.Subject, first.Subject)
	}

	// prompt=login forces the form again even with a session.
	p := b.get(r.authURL(newFlow(), oauth2.SetAuthURLParam("prompt", "login")))
	if !strings.Contains(p.location, "/login?id=") {
		t.Errorf("prompt=login with a session: got redirect %q, want the login page", p.location)
	}
}

// TestDiscoveryAndJWKS checks what relying parties read first.
func TestDiscoveryAndJWKS(t *testing.T) {
	s := startServer(t, "")
	var d map[string]any
	getJSON(t, s.issuer+"/.well-known/openid-configuration", &d)
	if d["issuer"] != s.issuer {
		t.Errorf("issuer: got %v, want %q", d["issuer"], s.issuer)
	}
	if d["authorization_response_iss_parameter_supported"] != true {
		t.Error("authorization_response_iss_parameter_supported: want true")
	}
	if got := d["code_challenge_methods_supported"]; !equalJSON(got, []any{"S256"}) {
		t.Errorf("code_challenge_methods_supported: got %v, want [S256]", got)
	}
	if got := d["response_types_supported"]; !equalJSON(got, []any{"code"}) {
		t.Errorf("response_types_supported: got %v, want [code] (no implicit)", got)
	}
	algs, _ := d["id_token_signing_alg_values_supported"].([]any)
	if len(algs) == 0 || algs[0] != "RS256" {
		t.Errorf("id_token_signing_alg_values_supported: got %v, want RS256 first", algs)
	}

	var raw map[string][]map[string]any
	getJSON(t, d["jwks_uri"].(string), &raw)
	keys := raw["keys"]
	if len(keys) < 3 {
		t.Fatalf("JWKS: got %d keys, want RS256, ES256 and EdDSA", len(keys))
	}
	seen := map[string]bool{}
	kinds := map[string]bool{}
	for _, k := range keys {
		kinds[fmt.Sprintf("%v %v %v", k["alg"], k["kty"], k["crv"])] = true
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
			if _, ok := k[private]; ok {
				t.Errorf("JWKS key %v publishes private member %q", k["kid"], private)
			}
		}
		kid, _ := k["kid"].(string)
		if kid == "" || seen[kid] {
			t.Errorf("JWKS kid %q: want unique and non-empty", kid)
		}
		seen[kid] = true
	}
	for _, want := range []string{"RS256 RSA <nil>", "ES256 EC P-256", "EdDSA OKP Ed25519"} {
		if !kinds[want] {
			t.Errorf("JWKS: got keys of kinds %v, want one with alg, kty, crv %s", kinds, want)
		}
	}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
