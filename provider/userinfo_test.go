package provider

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// T-U1: userinfo takes bearer tokens from the Authorization header only and
// answers every failure with WWW-Authenticate.
func TestUserinfo(t *testing.T) {
	env := newTestEnv(t)
	tr := env.codeFlow(t, "openid profile email")
	refreshToken, err := env.p.newRefreshToken()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		method     string
		query      string
		body       string
		auth       string
		wantStatus int
		wantError  string // "" for no error code in WWW-Authenticate
	}{
		{"no Authorization header", http.MethodGet, "", "", "", http.StatusUnauthorized, ""},
		{"empty bearer", http.MethodGet, "", "", "Bearer ", http.StatusUnauthorized, ""},
		{"basic scheme", http.MethodGet, "", "", "Basic " + base64.StdEncoding.EncodeToString([]byte("web:"+testWebSecret)), http.StatusUnauthorized, ""},
		{"real token in the query", http.MethodGet, "access_token=" + url.QueryEscape(tr.AccessToken), "", "", http.StatusBadRequest, "invalid_request"},
		{"real token in the query and the header", http.MethodGet, "access_token=" + url.QueryEscape(tr.AccessToken), "", "Bearer " + tr.AccessToken, http.StatusBadRequest, "invalid_request"},
		{"garbage token in the query", http.MethodGet, "access_token=garbage", "", "", http.StatusBadRequest, "invalid_request"},
		{"real token in a POST body", http.MethodPost, "", "access_token=" + url.QueryEscape(tr.AccessToken), "", http.StatusUnauthorized, ""},
		{"garbage token", http.MethodGet, "", "", "Bearer garbage", http.StatusUnauthorized, "invalid_token"},
		{"garbage JWT", http.MethodGet, "", "", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", http.StatusUnauthorized, "invalid_token"},
		{"truncated token", http.MethodGet, "", "", "Bearer " + tr.AccessToken[:len(tr.AccessToken)-10], http.StatusUnauthorized, "invalid_token"},
		{"token without signature", http.MethodGet, "", "", "Bearer " + tr.AccessToken[:strings.LastIndexByte(tr.AccessToken, '.')+1], http.StatusUnauthorized, "invalid_token"},
		{"ID token as access token", http.MethodGet, "", "", "Bearer " + tr.IDToken, http.StatusUnauthorized, "invalid_token"},
		{"refresh token as access token", http.MethodGet, "", "", "Bearer " + refreshToken, http.StatusUnauthorized, "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := testIssuer + userinfoPath
			if tt.query != "" {
				target += "?" + tt.query
			}
			req := httptest.NewRequest(tt.method, target, strings.NewReader(tt.body))
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := env.do(req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status: got %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			wa := rec.Header().Get("WWW-Authenticate")
			if !strings.HasPrefix(wa, "Bearer ") {
				t.Errorf("WWW-Authenticate: got %q, want a Bearer challenge", wa)
			}
			if tt.wantError != "" && !strings.Contains(wa, `error="`+tt.wantError+`"`) {
				t.Errorf("WWW-Authenticate: got %q, want error=%q", wa, tt.wantError)
			}
			if strings.Contains(rec.Body.String(), testUserID) {
				t.Errorf("body: got %s, want no user data", rec.Body)
			}
		})
	}

	t.Run("valid token", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, testIssuer+userinfoPath, nil)
		req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
		rec := env.do(req)
		if rec.Code != http.StatusOK {
			t.Fatalf("status: got %d, want 200; body %s", rec.Code, rec.Body)
		}
		if got := rec.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control: got %q, want no-store", got)
		}
		var info struct {
			Sub               string `json:"sub"`
			PreferredUsername string `json:"preferred_username"`
			Email             string `json:"email"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil {
			t.Fatal(err)
		}
		if info.Sub != testUserID || info.PreferredUsername != testUsername || info.Email != "alice@example.com" {
			t.Errorf("userinfo: got %+v, want sub %q, preferred_username %q, email alice@example.com", info, testUserID, testUsername)
		}
		if idSub := jwtClaim(t, tr.IDToken, "sub"); idSub != info.Sub {
			t.Errorf("sub: got %q from userinfo and %q from the ID token, want them equal", info.Sub, idSub)
		}
	})
}

// jwtClaim reads a string claim from a JWT's payload without verifying it.
func jwtClaim(t *testing.T, jwt, name string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("JWT %q: got %d parts, want 3", jwt, len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	s, _ := claims[name].(string)
	return s
}
