package conformance

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// spaPage is a single-page app in one file. Opened without a code, it
// starts a PKCE sign-in (verifier and state in sessionStorage); opened at
// /callback with the code, it redeems it with fetch, reads userinfo with
// the access token, revokes the refresh token, reads userinfo again, and
// writes what it saw into #out as JSON (title "done"). Every call is a
// cross-origin fetch from this page to the issuer.
const spaPage = `<!doctype html>
<meta charset="utf-8">
<title>SPA</title>
<pre id="out"></pre>
<script>
const issuer = ISSUER, clientId = CLIENT_ID, redirect = location.origin + "/callback";
const b64url = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const done = (out) => {
  document.getElementById("out").textContent = JSON.stringify(out);
  document.body.insertAdjacentHTML("beforeend", '<p id="done">done</p>');
};

async function start() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem("verifier", verifier);
  sessionStorage.setItem("state", state);
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  location.assign(issuer + "/authorize?" + new URLSearchParams({
    client_id: clientId, redirect_uri: redirect, response_type: "code", scope: "openid email offline_access",
    state, code_challenge: challenge, code_challenge_method: "S256",
  }));
}

async function finish(params) {
  const out = {state_ok: params.get("state") === sessionStorage.getItem("state"), iss: params.get("iss")};
  try {
    const t = await fetch(issuer + "/oauth/token", {method: "POST", body: new URLSearchParams({
      grant_type: "authorization_code", code: params.get("code"), redirect_uri: redirect,
      client_id: clientId, code_verifier: sessionStorage.getItem("verifier"),
    })});
    out.token_status = t.status;
    const tok = await t.json();
    out.token_type = tok.token_type;
    out.got_refresh_token = !!tok.refresh_token;
    const bearer = {headers: {Authorization: "Bearer " + tok.access_token}};
    const u = await fetch(issuer + "/userinfo", bearer);
    out.userinfo_status = u.status;
    out.userinfo = await u.json();
    const r = await fetch(issuer + "/revoke", {method: "POST", body: new URLSearchParams({token: tok.refresh_token, client_id: clientId})});
    out.revoke_status = r.status;
    const u2 = await fetch(issuer + "/userinfo", bearer);
    out.userinfo_after_revoke_status = u2.status;
    out.userinfo_after_revoke_www_authenticate = u2.headers.get("WWW-Authenticate");
  } catch (e) {
    out.error = String(e);
  }
  done(out);
}

const params = new URLSearchParams(location.search);
if (location.pathname === "/callback") finish(params); else start();
</script>
`

// strangerPage is a page on an origin no client registered. It tries what
// the SPA does (a token request naming the SPA, a userinfo call with an
// Authorization header, a revocation) and reads discovery, open to all.
const strangerPage = `<!doctype html>
<meta charset="utf-8">
<title>stranger</title>
<pre id="out"></pre>
<script>
const issuer = ISSUER, clientId = CLIENT_ID;
const attempt = async (f) => { try { const r = await f(); return "read " + r.status; } catch (e) { return "blocked: " + e; } };
(async () => {
  const out = {};
  out.token = await attempt(() => fetch(issuer + "/oauth/token", {method: "POST", body: new URLSearchParams({
    grant_type: "authorization_code", code: "x", redirect_uri: "https://nowhere.example/cb", client_id: clientId, code_verifier: "x".repeat(43)})}));
  out.userinfo = await attempt(() => fetch(issuer + "/userinfo", {headers: {Authorization: "Bearer x"}}));
  out.revoke = await attempt(() => fetch(issuer + "/revoke", {method: "POST", body: new URLSearchParams({token: "x", client_id: clientId})}));
  out.discovery = await attempt(() => fetch(issuer + "/.well-known/openid-configuration"));
  out.jwks = await attempt(() => fetch(issuer + "/keys"));
  document.getElementById("out").textContent = JSON.stringify(out);
  document.body.insertAdjacentHTML("beforeend", '<p id="done">done</p>');
})();
</script>
`

// servePage serves page (with the issuer and client id filled in) at every
// path of a new server on 127.0.0.1: another origin than the issuer's on
// localhost.
func servePage(t *testing.T, page, issuer, clientID string) *httptest.Server {
	t.Helper()
	js, _ := json.Marshal(issuer)
	id, _ := json.Marshal(clientID)
	body := strings.NewReplacer("ISSUER", string(js), "CLIENT_ID", string(id)).Replace(page)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBrowserSinglePageApp: a single-page app served on another origin
// (127.0.0.1, while the issuer is on localhost) signs in through the real
// login form in Chromium and then does the whole PKCE flow with fetch:
// token, userinfo, revocation, userinfo refused after it. A page on an
// origin no client registered is blocked by the browser on the same calls,
// while discovery and the JWKS stay open to it. The fault tried: no CORS
// at all, so the browser blocked every SPA (OPTIONS answered 405).
func TestBrowserSinglePageApp(t *testing.T) {
	ctx := chromium(t)
	const clientID = "spa-page"
	dir := t.TempDir()
	s := &server{t: t, dir: dir, host: "localhost", backendEnv: suiteBackend(t)}
	// The issuer's port is chosen at start; the pages only need it then.
	var issuer string
	spa := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		js, _ := json.Marshal(issuer)
		id, _ := json.Marshal(clientID)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(strings.NewReplacer("ISSUER", string(js), "CLIENT_ID", string(id)).Replace(spaPage)))
	}))
	defer spa.Close()
	yaml := clientsYAML + `  - client_id: ` + clientID + `
    client_name: SPA on another origin
    skip_consent: true
    token_endpoint_auth_method: none
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [` + spa.URL + `/callback]
    allowed_cors_origins: [https://spa-cdn.example]
`
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	launch(t, s)
	issuer = s.issuer

	err := chromedp.Do(ctx,
		chromedp.Navigate(spa.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), adminPassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("done")),
	)
	if err != nil {
		t.Fatalf("SPA sign-in: %v\n%s", err, s.log())
	}
	raw, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("out")))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		StateOK         bool           `json:"state_ok"`
		Iss             string         `json:"iss"`
		Error           string         `json:"error"`
		TokenStatus     int            `json:"token_status"`
		TokenType       string         `json:"token_type"`
		GotRefresh      bool           `json:"got_refresh_token"`
		UserinfoStatus  int            `json:"userinfo_status"`
		Userinfo        map[string]any `json:"userinfo"`
		RevokeStatus    int            `json:"revoke_status"`
		AfterRevoke     int            `json:"userinfo_after_revoke_status"`
		AfterRevokeAuth string         `json:"userinfo_after_revoke_www_authenticate"`
	}
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("SPA output %q: %v", raw, err)
	}
	t.Logf("SPA saw: %s", raw)
	if got.Error != "" {
		t.Fatalf("the SPA's fetch failed: %s\n%s", got.Error, s.log())
	}
	if !got.StateOK || got.Iss != s.issuer {
		t.Errorf("authorization response: state ok %v, iss %q; want the SPA's state and %q", got.StateOK, got.Iss, s.issuer)
	}
	if got.TokenStatus != http.StatusOK || !strings.EqualFold(got.TokenType, "Bearer") || !got.GotRefresh {
		t.Errorf("token: status %d, type %q, refresh token %v; want 200, Bearer and a refresh token", got.TokenStatus, got.TokenType, got.GotRefresh)
	}
	if got.UserinfoStatus != http.StatusOK || got.Userinfo["sub"] == nil {
		t.Errorf("userinfo: status %d, %v; want 200 with sub", got.UserinfoStatus, got.Userinfo)
	}
	if got.RevokeStatus != http.StatusOK {
		t.Errorf("revocation: status %d, want 200", got.RevokeStatus)
	}
	if got.AfterRevoke != http.StatusUnauthorized || !strings.Contains(got.AfterRevokeAuth, "invalid_token") {
		t.Errorf("userinfo after revocation: status %d, WWW-Authenticate %q; want a readable 401 invalid_token", got.AfterRevoke, got.AfterRevokeAuth)
	}

	// A page on an origin no client registered.
	stranger := servePage(t, strangerPage, s.issuer, clientID)
	if err := chromedp.Do(ctx, chromedp.Navigate(stranger.URL+"/"), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
		t.Fatalf("stranger page: %v", err)
	}
	if raw, err = chromedp.Run(ctx, chromedp.TextContent(chromedp.ID("out"))); err != nil {
		t.Fatal(err)
	}
	t.Logf("stranger saw: %s", raw)
	var blocked map[string]string
	if err := json.Unmarshal([]byte(raw), &blocked); err != nil {
		t.Fatalf("stranger output %q: %v", raw, err)
	}
	for _, call := range []string{"token", "userinfo", "revoke"} {
		if !strings.HasPrefix(blocked[call], "blocked") {
			t.Errorf("%s from an unregistered origin: %q, want blocked by the browser", call, blocked[call])
		}
	}
	for _, call := range []string{"discovery", "jwks"} {
		if blocked[call] != "read 200" {
			t.Errorf("%s from any origin: %q, want read 200", call, blocked[call])
		}
	}

	// allowed_cors_origins came through clients.yaml and the store: a
	// preflight from that origin passes.
	req, _ := http.NewRequest(http.MethodOptions, s.issuer+"/oauth/token", nil)
	req.Header.Set("Origin", "https://spa-cdn.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); resp.StatusCode != http.StatusNoContent || got != "https://spa-cdn.example" {
		t.Errorf("preflight from an allowed_cors_origins origin: %d, Access-Control-Allow-Origin %q", resp.StatusCode, got)
	}
}
