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

func (e *testEnv) serviceToken(scope, secret string) *httptest.ResponseRecorder {
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	req := httptest.NewRequest(http.MethodPost, testIssuer+tokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("service", secret)
	return e.do(req)
}

func TestClientCredentials(t *testing.T) {
	e, _ := newClockEnv(t, 10*time.Second)

	rec := e.serviceToken("reports:read", testServiceSecret)
	checkTokenResponse(t, rec, http.StatusOK, "")
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		IDToken      string `json:"id_token"`
		Scope        string `json:"scope"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.AccessToken == "" || tr.RefreshToken != "" || tr.IDToken != "" || tr.Scope != "reports:read" {
		t.Errorf("client_credentials answer: got %+v, want an access token with scope reports:read and nothing else", tr)
	}

	// The service can introspect its token; it names the service as subject.
	req := httptest.NewRequest(http.MethodPost, testIssuer+introspectPath, strings.NewReader(url.Values{"token": {tr.AccessToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("service", testServiceSecret)
	var got map[string]any
	if err := json.Unmarshal(e.do(req).Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got["active"] != true || got["sub"] != "service" || got["client_id"] != "service" || got["scope"] != "reports:read" {
		t.Errorf("introspect a service token: got %v, want active, sub and client_id service", got)
	}
	// A service token is no user's: userinfo refuses it.
	if status := e.userinfoStatus(tr.AccessToken); status != http.StatusUnauthorized {
		t.Errorf("userinfo with a service token: got %d, want 401", status)
	}

	// No scope asked: every registered scope. Unregistered scopes: refused.
	var all struct {
		Scope string `json:"scope"`
	}
	rec = e.serviceToken("", testServiceSecret)
	checkTokenResponse(t, rec, http.StatusOK, "")
	if err := json.Unmarshal(rec.Body.Bytes(), &all); err != nil || all.Scope != "reports:read reports:write" {
		t.Errorf("no scope requested: got %q, want every registered scope", all.Scope)
	}
	checkTokenResponse(t, e.serviceToken("admin openid", testServiceSecret), http.StatusBadRequest, "invalid_scope")
	checkTokenResponse(t, e.serviceToken("reports:read", "wrong-secret"), http.StatusUnauthorized, "invalid_client")
}
