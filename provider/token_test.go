package provider

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// T-T2 / T-T3: the token endpoint's checks in front of op's exchange.
func TestTokenEndpointClientAuthAndParameters(t *testing.T) {
	env := newTestEnv(t)
	code := url.Values{"grant_type": {"authorization_code"}, "code": {"not-a-real-code"}, "redirect_uri": {webRedirect}}
	with := func(base url.Values, kv ...string) string {
		v := url.Values{}
		for k, vs := range base {
			v[k] = append([]string(nil), vs...)
		}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	type basic struct{ user, pass string }
	tests := []struct {
		name       string
		query      string
		body       string
		basic      *basic
		wantStatus int
		wantError  string
	}{
		{"basic client posts its secret", "", with(code, "client_id", "web", "client_secret", testWebSecret), nil,
			http.StatusUnauthorized, "invalid_client"},
		{"basic client sends no credentials", "", with(code, "client_id", "web"), nil,
			http.StatusUnauthorized, "invalid_client"},
		{"post client uses basic", "", code.Encode(), &basic{"post", testPostSecret},
			http.StatusUnauthorized, "invalid_client"},
		{"public client sends a secret", "", with(code, "client_id", "native", "client_secret", "x"), nil,
			http.StatusUnauthorized, "invalid_client"},
		{"both methods at once", "", with(code, "client_secret", testWebSecret), &basic{"web", testWebSecret},
			http.StatusBadRequest, "invalid_request"},
		{"both methods, empty body secret", "", with(code, "client_secret", ""), &basic{"web", testWebSecret},
			http.StatusBadRequest, "invalid_request"},
		{"basic user differs from client_id", "", with(code, "client_id", "post"), &basic{"web", testWebSecret},
			http.StatusUnauthorized, "invalid_client"},
		{"unknown client", "", code.Encode(), &basic{"nobody", "secret"},
			http.StatusUnauthorized, "invalid_client"},
		{"client assertion", "", with(code, "client_id", "web", "client_assertion_type",
			"urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion", "a.b.c"), nil,
			http.StatusUnauthorized, "invalid_client"},
		{"duplicated grant_type", "", with(code, "grant_type", "authorization_code"), &basic{"web", testWebSecret},
			http.StatusBadRequest, "invalid_request"},
		{"duplicated code", "", with(code, "code", "other"), &basic{"web", testWebSecret},
			http.StatusBadRequest, "invalid_request"},
		{"duplicated client_id", "", with(code, "client_id", "native", "client_id", "native"), nil,
			http.StatusBadRequest, "invalid_request"},
		{"missing grant_type", "", "code=x", &basic{"web", testWebSecret},
			http.StatusBadRequest, "invalid_request"},
		{"password grant", "", url.Values{"grant_type": {"password"}, "username": {testUsername}, "password": {testPassword}}.Encode(),
			&basic{"web", testWebSecret}, http.StatusBadRequest, "unsupported_grant_type"},
		{"client credentials grant for a client without it", "", "grant_type=client_credentials", &basic{"web", testWebSecret},
			http.StatusBadRequest, "unauthorized_client"},
		{"jwt bearer grant", "", "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b.c",
			&basic{"web", testWebSecret}, http.StatusBadRequest, "unsupported_grant_type"},
		{"parameters in the query", "client_id=web&client_secret=" + testWebSecret, code.Encode(), nil,
			http.StatusBadRequest, "invalid_request"},
		{"grant_type in the query", "grant_type=authorization_code", "code=x", &basic{"web", testWebSecret},
			http.StatusBadRequest, "invalid_request"},
		{"oversized body", "", with(code, "pad", strings.Repeat("a", maxTokenBytes)), &basic{"web", testWebSecret},
			http.StatusBadRequest, "invalid_request"},
		// Right method, wrong or bogus grant: op's exchange answers.
		{"basic client, right method, bogus code", "", code.Encode(), &basic{"web", testWebSecret},
			http.StatusBadRequest, "invalid_grant"},
		{"basic client, wrong secret, bogus code", "", code.Encode(), &basic{"web", "wrong-secret"},
			http.StatusUnauthorized, "invalid_client"},
		{"post client, wrong secret, bogus code", "", with(code, "client_id", "post", "client_secret", "wrong-secret"), nil,
			http.StatusUnauthorized, "invalid_client"},
		{"post client, right method, bogus code", "", with(code, "client_id", "post", "client_secret", testPostSecret), nil,
			http.StatusBadRequest, "invalid_grant"},
		{"public client, bogus code", "", with(code, "client_id", "native", "code_verifier", strings.Repeat("v", 43)), nil,
			http.StatusBadRequest, "invalid_grant"},
		{"bogus refresh token", "", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"garbage"}}.Encode(),
			&basic{"web", testWebSecret}, http.StatusBadRequest, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := testIssuer + tokenPath
			if tt.query != "" {
				target += "?" + tt.query
			}
			req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.basic != nil {
				req.SetBasicAuth(tt.basic.user, tt.basic.pass)
			}
			rec := env.do(req)
			checkTokenResponse(t, rec, tt.wantStatus, tt.wantError)
			if tt.wantStatus == http.StatusUnauthorized && tt.basic != nil && rec.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("WWW-Authenticate: got none on a 401 to Basic auth, want a challenge")
			}
		})
	}
}

// A real code is refused with a wrong secret or to another client, and
// still redeems afterwards; a second redemption fails.
func TestTokenEndpointCodeRedemption(t *testing.T) {
	env := newTestEnv(t)
	code, verifier := env.authorizeCode(t, "openid")
	tests := []struct {
		name             string
		clientID, secret string
		verifier         string
		wantStatus       int
		wantError        string
	}{
		{"wrong secret", "web", "wrong-secret", verifier, http.StatusUnauthorized, "invalid_client"},
		{"another client's code", "post", testPostSecret, verifier, http.StatusBadRequest, "invalid_grant"},
		{"wrong verifier", "web", testWebSecret, strings.Repeat("v", 43), http.StatusBadRequest, "invalid_grant"},
		{"missing verifier", "web", testWebSecret, "", http.StatusBadRequest, "invalid_request"},
		{"right client", "web", testWebSecret, verifier, http.StatusOK, ""},
		{"second redemption", "web", testWebSecret, verifier, http.StatusBadRequest, "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := env.exchangeCode(code, tt.verifier, tt.clientID, tt.secret)
			checkTokenResponse(t, rec, tt.wantStatus, tt.wantError)
		})
	}
}

// A successful exchange and a refresh are no-store too, and the refresh
// token rotates: the old one is refused after use.
func TestTokenEndpointSuccessIsNoStoreAndRotates(t *testing.T) {
	env := newTestEnv(t)
	tr := env.codeFlow(t, "openid offline_access")
	if tr.RefreshToken == "" || tr.AccessToken == "" || tr.IDToken == "" {
		t.Fatalf("token response: got %+v, want access, refresh and ID tokens", tr)
	}
	if _, err := env.p.refreshTokenHash(tr.RefreshToken); err != nil {
		t.Errorf("issued refresh token: got %v from its MAC check, want nil", err)
	}
	refresh := func(token string) *httptest.ResponseRecorder {
		body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}.Encode()
		req := httptest.NewRequest(http.MethodPost, testIssuer+tokenPath, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", testWebSecret)
		return env.do(req)
	}
	rec := refresh(tr.RefreshToken)
	if rec.Code != http.StatusOK {
		t.Fatalf("refresh: got status %d, want 200; body %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("refresh Cache-Control: got %q, want no-store", got)
	}
	var next tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &next); err != nil {
		t.Fatal(err)
	}
	if next.RefreshToken == "" || next.RefreshToken == tr.RefreshToken {
		t.Errorf("rotated refresh token: got %q, want a new one", next.RefreshToken)
	}
	// Inside the grace window a retry gets the same answer (family_test.go
	// covers reuse after it).
	again := refresh(tr.RefreshToken)
	if again.Code != http.StatusOK || again.Body.String() != rec.Body.String() {
		t.Errorf("retried refresh token: got %d %s, want 200 and the first answer", again.Code, again.Body)
	}
	if got := again.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("retry Cache-Control: got %q, want no-store", got)
	}
}

// checkTokenResponse asserts a token endpoint answer's status, error code
// ("" for success) and no-store header.
func checkTokenResponse(t *testing.T, rec *httptest.ResponseRecorder, wantStatus int, wantError string) {
	t.Helper()
	if rec.Code != wantStatus {
		t.Errorf("status: got %d, want %d; body %s", rec.Code, wantStatus, rec.Body)
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", got)
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if body.Error != wantError {
		t.Errorf("error: got %q, want %q", body.Error, wantError)
	}
}
