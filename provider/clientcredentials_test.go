package provider

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
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

// Stored client secrets are keyed hashes: the right secret matches, a
// wrong one does not, and without the key nothing matches.
func TestKeyedClientSecretHash(t *testing.T) {
	key := randomBytes(t, 32)
	stored, err := KeyClientSecretHash(key, clientpolicy.HashSecret(testServiceSecret))
	if err != nil || !strings.HasPrefix(stored, "hmac-sha256:") {
		t.Fatalf("KeyClientSecretHash: got %q, %v", stored, err)
	}
	again, _ := KeyClientSecretHash(key, clientpolicy.HashSecret(testServiceSecret))
	if again != stored {
		t.Error("KeyClientSecretHash is not deterministic: a sync would see every client as changed")
	}
	other, _ := KeyClientSecretHash(randomBytes(t, 32), clientpolicy.HashSecret(testServiceSecret))
	if other == stored {
		t.Error("two keys give the same hash")
	}
	for _, bad := range []string{"", "sha256:zz", "md5:00", testServiceSecret} {
		if _, err := KeyClientSecretHash(key, bad); err == nil {
			t.Errorf("KeyClientSecretHash(%q): got nil error", bad)
		}
	}
	p := &Provider{cfg: Config{ClientSecretKey: key}}
	if !p.clientSecretMatches(stored, testServiceSecret) {
		t.Error("the right secret does not match its keyed hash")
	}
	if p.clientSecretMatches(stored, testServiceSecret+"x") || p.clientSecretMatches(stored, "") {
		t.Error("a wrong secret matches the keyed hash")
	}
	if (&Provider{}).clientSecretMatches(stored, testServiceSecret) {
		t.Error("without the key a keyed hash matched")
	}
	if !p.clientSecretMatches(clientpolicy.HashSecret(testServiceSecret), testServiceSecret) {
		t.Error("a plain sha256: hash (clients.yaml's form) no longer matches")
	}
}
