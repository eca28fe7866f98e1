package conformance

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// postClient sends a form to an endpoint as web-basic.
func postClient(t *testing.T, s *server, path string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape("web-basic"), url.QueryEscape(basicSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(resp)
}

// TestRevocationAndIntrospection: RFC 7009 and RFC 7662 as a resource
// server and a client use them.
func TestRevocationAndIntrospection(t *testing.T) {
	s := startServer(t, "")
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	var d map[string]any
	getJSON(t, s.issuer+"/.well-known/openid-configuration", &d)
	if d["revocation_endpoint"] != s.issuer+"/revoke" || d["introspection_endpoint"] != s.issuer+"/oauth/introspect" {
		t.Fatalf("discovery: revocation %v, introspection %v", d["revocation_endpoint"], d["introspection_endpoint"])
	}
	f := newFlow()
	tok, idt := r.exchange(f, r.code(s, f, newBrowser(t).login(r.authURL(f), "admin", adminPassword)))

	status, body := postClient(t, s, "/oauth/introspect", url.Values{"token": {tok.AccessToken}})
	var info map[string]any
	if err := json.Unmarshal([]byte(body), &info); err != nil || status != http.StatusOK {
		t.Fatalf("introspect: %d %s", status, body)
	}
	if info["active"] != true || info["sub"] != idt.Subject || info["client_id"] != "web-basic" {
		t.Errorf("introspect a live access token: got %v", info)
	}
	if status, body := postClient(t, s, "/oauth/introspect", url.Values{"token": {"garbage"}}); status != http.StatusOK || strings.TrimSpace(body) != `{"active":false}` {
		t.Errorf("introspect garbage: got %d %s, want exactly {\"active\":false}", status, body)
	}

	if status, _ := postClient(t, s, "/revoke", url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}); status != http.StatusOK {
		t.Fatalf("revoke: got %d, want 200", status)
	}
	if _, err := r.refresh(tok.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after revocation: got %v, want invalid_grant", err)
	}
	if _, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("userinfo with an access token of a revoked family: got success, want 401")
	}
	if _, body := postClient(t, s, "/oauth/introspect", url.Values{"token": {tok.AccessToken}}); strings.TrimSpace(body) != `{"active":false}` {
		t.Errorf("introspect a revoked access token: got %s", body)
	}
	if status, _ := postClient(t, s, "/revoke", url.Values{"token": {"never-issued"}}); status != http.StatusOK {
		t.Errorf("revoke an unknown token: got %d, want 200", status)
	}
}

// TestRefreshReuseRevokesFamily: with no grace window, a second use of a
// refresh token kills the family: the newest token and the access tokens.
func TestRefreshReuseRevokesFamily(t *testing.T) {
	s := launch(t, &server{t: t, dir: newStateDir(t), host: "127.0.0.1", backendEnv: suiteBackend(t),
		extraEnv: []string{"GATEHOUSE_REFRESH_GRACE=0"}})
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	f := newFlow()
	tok, _ := r.exchange(f, r.code(s, f, newBrowser(t).login(r.authURL(f), "admin", adminPassword)))
	next, err := r.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.refresh(tok.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("reuse: got %v, want invalid_grant", err)
	}
	if _, err := r.refresh(next.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("the newest token after a reuse: got %v, want invalid_grant", err)
	}
	if _, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(next)); err == nil {
		t.Error("userinfo with the family's access token after a reuse: got success, want 401")
	}
}

// TestParallelRefresh: fifty requests with one refresh token at once, as a
// flaky mobile network produces. Every success carries the same new token,
// and that token goes on working: one family survives.
func TestParallelRefresh(t *testing.T) {
	s := startServer(t, "")
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	f := newFlow()
	tok, _ := r.exchange(f, r.code(s, f, newBrowser(t).login(r.authURL(f), "admin", adminPassword)))
	var wg sync.WaitGroup
	results := make([]string, 50)
	for i := range results {
		wg.Go(func() {
			next, err := r.refresh(tok.RefreshToken)
			if err != nil {
				results[i] = "error: " + err.Error()
				return
			}
			results[i] = next.RefreshToken
		})
	}
	wg.Wait()
	for i, got := range results {
		if got != results[0] || strings.HasPrefix(got, "error") {
			t.Fatalf("parallel refresh %d: got %q, want the same new token as the others (%q)", i, got, results[0])
		}
	}
	if _, err := r.refresh(results[0]); err != nil {
		t.Errorf("the surviving family's token: %v", err)
	}
}
