package conformance

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// authorizeURL builds an authorization request by hand, for inputs no
// well-behaved library would send.
func authorizeURL(s *server, params url.Values) string {
	return s.issuer + "/authorize?" + params.Encode()
}

func baseParams(clientID, redirect string) url.Values {
	f := newFlow()
	return url.Values{
		"client_id":             {clientID},
		"redirect_uri":          {redirect},
		"response_type":         {"code"},
		"scope":                 {"openid"},
		"state":                 {f.state},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(f.verifier)},
		"code_challenge_method": {"S256"},
	}
}

// TestAuthorizeRefusesWithoutRedirect: when the client or its redirect URI
// cannot be trusted, the answer is an HTML error page and never a redirect.
func TestAuthorizeRefusesWithoutRedirect(t *testing.T) {
	s := startServer(t, "")
	b := newBrowser(t)
	cases := []struct {
		name   string
		mutate func(url.Values)
		raw    string
	}{
		{name: "unregistered redirect_uri", mutate: func(v url.Values) { v.Set("redirect_uri", "https://evil.example/callback") }},
		{name: "case change", mutate: func(v url.Values) { v.Set("redirect_uri", "https://rp.example/CALLBACK") }},
		{name: "trailing slash", mutate: func(v url.Values) { v.Set("redirect_uri", "https://rp.example/callback/") }},
		{name: "extra query", mutate: func(v url.Values) { v.Set("redirect_uri", "https://rp.example/callback?x=1") }},
		{name: "userinfo trick", mutate: func(v url.Values) { v.Set("redirect_uri", "https://rp.example@evil.example/callback") }},
		{name: "suffix host", mutate: func(v url.Values) { v.Set("redirect_uri", "https://rp.example.evil.example/callback") }},
		{name: "http downgrade", mutate: func(v url.Values) { v.Set("redirect_uri", "http://rp.example/callback") }},
		{name: "path traversal", mutate: func(v url.Values) { v.Set("redirect_uri", "https://rp.example/callback/../evil") }},
		{name: "unknown client", mutate: func(v url.Values) { v.Set("client_id", "nobody") }},
		{name: "missing client_id", mutate: func(v url.Values) { v.Del("client_id") }},
		{name: "missing redirect_uri", mutate: func(v url.Values) { v.Del("redirect_uri") }},
		{name: "duplicated redirect_uri", mutate: func(v url.Values) { v.Add("redirect_uri", "https://evil.example/callback") }},
		{name: "oversized redirect_uri", mutate: func(v url.Values) { v.Set("redirect_uri", "https://rp.example/callback?"+strings.Repeat("a", 5000)) }},
		{name: "web client on another loopback port", mutate: func(v url.Values) {
			v.Set("client_id", "spa")
			v.Set("redirect_uri", "http://127.0.0.1:9999/callback")
		}},
		// RFC 8252 §7.3's any-port rule takes only real ports (1–65535,
		// plain decimal).
		{name: "native loopback port 0", mutate: func(v url.Values) {
			v.Set("client_id", "native")
			v.Set("redirect_uri", "http://127.0.0.1:0/callback")
		}},
		{name: "native loopback port 99999", mutate: func(v url.Values) {
			v.Set("client_id", "native")
			v.Set("redirect_uri", "http://127.0.0.1:99999/callback")
		}},
		{name: "native loopback port with leading zero", mutate: func(v url.Values) {
			v.Set("client_id", "native")
			v.Set("redirect_uri", "http://127.0.0.1:08080/callback")
		}},
		{name: "garbage query", raw: s.issuer + "/authorize?%zz=%%&client_id=web-basic"},
		{name: "oversized query", raw: s.issuer + "/authorize?client_id=web-basic&x=" + strings.Repeat("y", 40<<10)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.raw
			if u == "" {
				v := baseParams("web-basic", "https://rp.example/callback")
				tc.mutate(v)
				u = authorizeURL(s, v)
			}
			p := b.get(u)
			if p.status != http.StatusBadRequest {
				t.Errorf("status: got %d, want 400", p.status)
			}
			if p.location != "" {
				t.Errorf("redirected to %q, want no redirect", p.location)
			}
			if !strings.Contains(p.header.Get("Content-Type"), "text/html") || !strings.Contains(p.body, "<h1>") {
				t.Errorf("want an HTML error page, got %q", p.body)
			}
			if !strings.Contains(p.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("error page CSP: got %q", p.header.Get("Content-Security-Policy"))
			}
		})
	}
}

// TestAuthorizeErrorsGoBackToClient: with a trusted redirect URI, invalid
// requests are answered at the client with error, state and iss.
func TestAuthorizeErrorsGoBackToClient(t *testing.T) {
	s := startServer(t, "")
	b := newBrowser(t)
	cases := []struct {
		name, client, redirect string
		mutate                 func(url.Values)
		want                   string
	}{
		{"public client without PKCE", "spa", "https://spa.example/callback",
			func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, "invalid_request"},
		{"native client without PKCE", "native", "com.example.app:/oauth2redirect",
			func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }, "invalid_request"},
		{"plain for a public client", "spa", "https://spa.example/callback",
			func(v url.Values) {
				v.Set("code_challenge_method", "plain")
				v.Set("code_challenge", newFlow().verifier)
			}, "invalid_request"},
		{"plain for a confidential client", "web-basic", "https://rp.example/callback",
			func(v url.Values) {
				v.Set("code_challenge_method", "plain")
				v.Set("code_challenge", newFlow().verifier)
			}, "invalid_request"},
		{"challenge without method (means plain)", "web-basic", "https://rp.example/callback",
			func(v url.Values) { v.Del("code_challenge_method") }, "invalid_request"},
		{"malformed challenge", "spa", "https://spa.example/callback",
			func(v url.Values) { v.Set("code_challenge", "short") }, "invalid_request"},
		{"implicit flow", "web-basic", "https://rp.example/callback",
			func(v url.Values) { v.Set("response_type", "token") }, "unsupported_response_type"},
		{"hybrid flow", "web-basic", "https://rp.example/callback",
			func(v url.Values) { v.Set("response_type", "code id_token") }, "unsupported_response_type"},
		{"missing openid scope", "web-basic", "https://rp.example/callback",
			func(v url.Values) { v.Set("scope", "profile") }, "invalid_scope"},
		{"prompt none with login", "web-basic", "https://rp.example/callback",
			func(v url.Values) { v.Set("prompt", "none login") }, "invalid_request"},
		{"duplicated state", "web-basic", "https://rp.example/callback",
			func(v url.Values) { v.Add("state", "second") }, "invalid_request"},
		{"oversized nonce", "web-basic", "https://rp.example/callback",
			func(v url.Values) { v.Set("nonce", strings.Repeat("n", 5000)) }, "invalid_request"},
		{"garbage max_age", "web-basic", "https://rp.example/callback",
			func(v url.Values) { v.Set("max_age", "-1x") }, "invalid_request"},
		{"forged id_token_hint", "web-basic", "https://rp.example/callback",
			func(v url.Values) { v.Set("id_token_hint", "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln") }, "login_required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v := baseParams(tc.client, tc.redirect)
			tc.mutate(v)
			p := b.get(authorizeURL(s, v))
			if p.status != http.StatusFound {
				t.Fatalf("status: got %d, want 302 back to the client\n%s", p.status, p.body)
			}
			loc, err := url.Parse(p.location)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(p.location, tc.redirect) {
				t.Fatalf("redirected to %q, want the registered %q", p.location, tc.redirect)
			}
			q := loc.Query()
			if q.Get("error") != tc.want {
				t.Errorf("error: got %q (%s), want %q", q.Get("error"), q.Get("error_description"), tc.want)
			}
			if q.Get("iss") != s.issuer {
				t.Errorf("iss: got %q, want %q", q.Get("iss"), s.issuer)
			}
			if q.Get("state") != v.Get("state") && tc.name != "duplicated state" {
				t.Errorf("state: got %q, want %q", q.Get("state"), v.Get("state"))
			}
			if q.Get("code") != "" {
				t.Error("an error response carries a code")
			}
		})
	}
}

// TestLoginAnswers: a wrong password and an unknown user get the same page;
// a disabled user too.
func TestLoginAnswers(t *testing.T) {
	s := startServer(t, "")
	if out, err := s.gatehouseCLI("a-password-long-enough\n", "users", "add", "bob", "--password-stdin"); err != nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	if out, err := s.gatehouseCLI("", "users", "disable", "bob"); err != nil {
		t.Fatalf("users disable: %v\n%s", err, out)
	}
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	attempt := func(username, password string) page {
		b := newBrowser(t)
		p := b.get(r.authURL(newFlow()))
		form := b.get(p.location)
		fields := formFields(form.body)
		fields.Set("username", username)
		fields.Set("password", password)
		return b.postForm(s.issuer+"/login", fields)
	}
	wrong := attempt("admin", "not-the-password-at-all")
	unknown := attempt("nobody", "not-the-password-at-all")
	disabled := attempt("bob", "a-password-long-enough")
	for name, p := range map[string]page{"wrong password": wrong, "unknown user": unknown, "disabled user": disabled} {
		if p.status != http.StatusOK || !strings.Contains(p.body, "Incorrect username or password.") {
			t.Errorf("%s: got %d, want 200 with the generic message\n%s", name, p.status, p.body)
		}
		if p.location != "" {
			t.Errorf("%s: redirected to %q", name, p.location)
		}
	}
	// The pages differ only in the echoed username and the per-request
	// CSRF token: strip both and they are identical.
	norm := func(p page, user string) string {
		body := hiddenInput.ReplaceAllString(p.body, "")
		return strings.ReplaceAll(body, `value="`+user+`"`, `value=""`)
	}
	if norm(wrong, "admin") != norm(unknown, "nobody") || norm(wrong, "admin") != norm(disabled, "bob") {
		t.Error("wrong password, unknown user and disabled user pages differ")
	}

	// Missing CSRF token, and a cross-site post.
	b := newBrowser(t)
	p := b.get(r.authURL(newFlow()))
	form := b.get(p.location)
	fields := formFields(form.body)
	fields.Set("username", "admin")
	fields.Set("password", adminPassword)
	noToken := url.Values{"id": {fields.Get("id")}, "username": {"admin"}, "password": {adminPassword}}
	if got := b.postForm(s.issuer+"/login", noToken); got.status != http.StatusForbidden {
		t.Errorf("login without CSRF token: got %d, want 403", got.status)
	}
	req, _ := http.NewRequest(http.MethodPost, s.issuer+"/login", strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if got := b.do(req); got.status != http.StatusForbidden {
		t.Errorf("cross-site login post: got %d, want 403", got.status)
	}
	// Another browser cannot finish this browser's sign-in.
	if got := newBrowser(t).postForm(s.issuer+"/login", fields); got.status != http.StatusForbidden {
		t.Errorf("login post from another browser: got %d, want 403", got.status)
	}
}

// TestTokenEndpointBadInput: wrong secrets, wrong auth method, garbage.
func TestTokenEndpointBadInput(t *testing.T) {
	s := startServer(t, "")
	tokenURL := s.issuer + "/oauth/token"
	post := func(form url.Values, user, pass string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error string `json:"error"`
		}
		_ = jsonDecode(resp, &body)
		return resp.StatusCode, body.Error
	}
	code := url.Values{"grant_type": {"authorization_code"}, "code": {"garbage"}, "redirect_uri": {"https://rp.example/callback"}}
	cases := []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		err        string
	}{
		{"wrong secret", code, "web-basic", "wrong", 401, "invalid_client"},
		{"unknown client", code, "nobody", "x", 401, "invalid_client"},
		{"basic client posting its secret", with(code, "client_id", "web-basic", "client_secret", basicSecret), "", "", 401, "invalid_client"},
		{"garbage code", code, "web-basic", basicSecret, 400, "invalid_grant"},
		{"password grant", url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {adminPassword}}, "web-basic", basicSecret, 400, "unsupported_grant_type"},
		{"missing grant_type", url.Values{}, "web-basic", basicSecret, 400, "invalid_request"},
		{"garbage refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x.y.z"}}, "web-basic", basicSecret, 400, "invalid_grant"},
		{"duplicated code", with(code, "code", "second"), "web-basic", basicSecret, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, e := post(tc.form, tc.user, tc.pass)
			if status != tc.status || e != tc.err {
				t.Errorf("got %d %q, want %d %q", status, e, tc.status, tc.err)
			}
		})
	}
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Add(kv[i], kv[i+1])
	}
	return out
}

// TestMalformedClientsFileStopsStart: every problem listed with its line,
// non-zero exit, nothing served.
func TestMalformedClientsFileStopsStart(t *testing.T) {
	dir := t.TempDir()
	bad := `clients:
  - client_id: ok-client
    token_endpoint_auth_method: none
    redirect_uris: [https://ok.example/cb]
  - client_id: bad one
    token_endpoint_auth_method: none
    redirect_uris: [https://x.example/cb]
  - client_id: wildcard
    token_endpoint_auth_method: none
    redirect_uris: ["https://*.example/cb"]
    colour: blue
`
	path := filepath.Join(dir, "clients.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(context.Background(), binary, "serve")
	cmd.Dir = dir
	cmd.Env = append(serverEnviron(), "GATEHOUSE_LISTEN=127.0.0.1:0", "GATEHOUSE_CLIENTS_FILE="+path,
		"GATEHOUSE_DATABASE_URL="+filepath.Join(dir, "g.db"))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("serve with a bad clients.yaml: exit 0, want an error\n%s", out)
	}
	for _, want := range []string{":5:", ":10:", ":11:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestRestartKeepsState: users, clients, keys and refresh tokens survive a
// restart of the process.
func TestRestartKeepsState(t *testing.T) {
	s := startServer(t, "")
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)
	f := newFlow()
	tok, idt := r.exchange(f, r.code(s, f, b.login(r.authURL(f), "admin", adminPassword)))
	var before map[string]any
	getJSON(t, s.issuer+"/keys", &before)

	s.restart()
	var after map[string]any
	getJSON(t, s.issuer+"/keys", &after)
	if !equalJSON(before, after) {
		t.Errorf("JWKS changed across a restart:\nbefore %v\nafter  %v", before, after)
	}
	// The issuer moved to a new port; the keys, client, user and refresh
	// token did not.
	r2 := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	next, err := r2.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh after restart: %v", err)
	}
	raw, _ := next.Extra("id_token").(string)
	idt2, err := r2.verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("ID token after restart: %v", err)
	}
	if idt2.Subject != idt.Subject {
		t.Errorf("sub after restart: got %q, want %q", idt2.Subject, idt.Subject)
	}
	f2 := newFlow()
	r2.exchange(f2, r2.code(s, f2, newBrowser(t).login(r2.authURL(f2), "admin", adminPassword)))
}
