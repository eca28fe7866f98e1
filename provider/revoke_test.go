package provider

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// postAs sends a form to path as the web client (Basic) or the post client.
func (e *testEnv) postAs(client, path string, form url.Values) *httptest.ResponseRecorder {
	switch client {
	case "post":
		form.Set("client_id", "post")
		form.Set("client_secret", testPostSecret)
	case "opaque-post":
		form.Set("client_id", "opaque")
		form.Set("client_secret", testOpaqueSecret)
	case "native":
		form.Set("client_id", "native")
	}
	req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if client == "web" {
		req.SetBasicAuth("web", testWebSecret)
	}
	return e.do(req)
}

func (e *testEnv) introspect(t *testing.T, client, token string) (map[string]any, string) {
	t.Helper()
	rec := e.postAs(client, introspectPath, url.Values{"token": {token}})
	if rec.Code != http.StatusOK {
		t.Fatalf("introspect: got %d %s, want 200", rec.Code, rec.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	return m, strings.TrimSpace(rec.Body.String())
}

func TestIntrospection(t *testing.T) {
	e, _ := newClockEnv(t, 10*time.Second)
	tr := e.codeFlow(t, "openid profile offline_access")

	at, _ := e.introspect(t, "web", tr.AccessToken)
	if at["active"] != true || at["sub"] != testUserID || at["client_id"] != "web" || at["token_type"] != "Bearer" ||
		!strings.Contains(at["scope"].(string), "profile") {
		t.Errorf("introspect access token: got %v, want active with sub, client_id, scope", at)
	}
	rt, _ := e.introspect(t, "web", tr.RefreshToken)
	if rt["active"] != true || rt["token_type"] != "refresh_token" || rt["sub"] != testUserID {
		t.Errorf("introspect refresh token: got %v, want active", rt)
	}
	for name, token := range map[string]string{
		"garbage":            "not-a-token",
		"truncated JWT":      tr.AccessToken[:len(tr.AccessToken)-10],
		"ID token":           tr.IDToken,
		"forged refresh MAC": tr.RefreshToken[:len(tr.RefreshToken)-2] + "AA",
		"empty":              "",
	} {
		if _, body := e.introspect(t, "web", token); body != `{"active":false}` {
			t.Errorf("introspect %s: got %s, want exactly {\"active\":false}", name, body)
		}
	}
	// Another client sees nothing of web's tokens.
	if _, body := e.introspect(t, "post", tr.AccessToken); body != `{"active":false}` {
		t.Errorf("introspect another client's token: got %s, want {\"active\":false}", body)
	}
	// Public clients may not introspect; nobody may without credentials.
	if rec := e.postAs("native", introspectPath, url.Values{"token": {tr.AccessToken}}); rec.Code != http.StatusUnauthorized {
		t.Errorf("introspect as a public client: got %d, want 401", rec.Code)
	}
	if rec := e.postAs("", introspectPath, url.Values{"token": {tr.AccessToken}}); rec.Code != http.StatusUnauthorized {
		t.Errorf("introspect without client authentication: got %d, want 401", rec.Code)
	}
}

func TestRevocation(t *testing.T) {
	e, _ := newClockEnv(t, 10*time.Second)
	tr := e.codeFlow(t, "openid offline_access")
	other := e.codeFlow(t, "openid offline_access")

	// A refresh token with its first character changed; one that began
	// with x already (1 in 64) must not be revoked by its own copy.
	unknown := "x" + tr.RefreshToken[1:]
	if tr.RefreshToken[0] == 'x' {
		unknown = "y" + tr.RefreshToken[1:]
	}
	for name, token := range map[string]string{"unknown refresh token": unknown, "garbage": "garbage"} {
		if rec := e.postAs("web", revokePath, url.Values{"token": {token}}); rec.Code != http.StatusOK {
			t.Errorf("revoke %s: got %d, want 200", name, rec.Code)
		}
	}
	// Another client cannot revoke web's tokens.
	if rec := e.postAs("post", revokePath, url.Values{"token": {tr.RefreshToken}}); rec.Code != http.StatusOK {
		t.Errorf("revoke another client's token: got %d, want 200", rec.Code)
	}
	if got := e.userinfoStatus(tr.AccessToken); got != http.StatusOK {
		t.Fatalf("userinfo after another client's revocation attempt: got %d, want 200", got)
	}

	rec := e.postAs("web", revokePath, url.Values{"token": {tr.RefreshToken}, "token_type_hint": {"refresh_token"}})
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("revoke: got %d (Cache-Control %q), want 200 no-store", rec.Code, rec.Header().Get("Cache-Control"))
	}
	checkTokenResponse(t, e.refresh(tr.RefreshToken), http.StatusBadRequest, "invalid_grant")
	if got := e.userinfoStatus(tr.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("userinfo with an access token of the revoked family: got %d, want 401", got)
	}
	if _, body := e.introspect(t, "web", tr.AccessToken); body != `{"active":false}` {
		t.Errorf("introspect a revoked access token: got %s", body)
	}
	// The other family lives on.
	checkTokenResponse(t, e.refresh(other.RefreshToken), http.StatusOK, "")

	// Revoking an access token revokes its family too.
	if rec := e.postAs("web", revokePath, url.Values{"token": {other.AccessToken}}); rec.Code != http.StatusOK {
		t.Fatalf("revoke access token: got %d", rec.Code)
	}
	if got := e.userinfoStatus(other.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("userinfo after revoking the access token: got %d, want 401", got)
	}
	if rec := e.postAs("", revokePath, url.Values{"token": {other.AccessToken}}); rec.Code != http.StatusUnauthorized {
		t.Errorf("revoke without client authentication: got %d, want 401", rec.Code)
	}
}
