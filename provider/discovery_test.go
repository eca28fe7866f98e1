package provider

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// T-J1 / G4: the discovery document, as a golden file and as the
// properties that must never drift.
func TestDiscovery(t *testing.T) {
	env := newTestEnv(t)
	rec := env.do(httptest.NewRequest(http.MethodGet, testIssuer+"/.well-known/openid-configuration", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200", rec.Code)
	}
	if got := rec.Header().Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", got)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, rec.Body.Bytes(), "", "  "); err != nil {
		t.Fatalf("discovery is not JSON: %v", err)
	}
	pretty.WriteByte('\n')
	goldenCompare(t, "discovery.golden", pretty.Bytes())

	var doc map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	strs := func(key string) []string {
		raw, _ := doc[key].([]any)
		out := make([]string, 0, len(raw))
		for _, v := range raw {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	if got := doc["issuer"]; got != testIssuer {
		t.Errorf("issuer: got %v, want exactly %q", got, testIssuer)
	}
	if got := doc["authorization_response_iss_parameter_supported"]; got != true {
		t.Errorf("authorization_response_iss_parameter_supported: got %v, want true", got)
	}
	if got := strs("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
		t.Errorf("code_challenge_methods_supported: got %q, want [S256]", got)
	}
	if got := strs("response_types_supported"); !slices.Equal(got, []string{"code"}) {
		t.Errorf("response_types_supported: got %q, want [code]", got)
	}
	if got, want := strs("grant_types_supported"), []string{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:device_code"}; !slices.Equal(got, want) {
		t.Errorf("grant_types_supported: got %q, want %q", got, want)
	}
	// Only what Gatehouse serves: op's defaults add phone and address.
	if got, want := strs("scopes_supported"), []string{"openid", "profile", "email", "groups", "offline_access"}; !slices.Equal(got, want) {
		t.Errorf("scopes_supported: got %q, want %q", got, want)
	}
	if got := strs("claims_supported"); !slices.Equal(got, supportedClaims) {
		t.Errorf("claims_supported: got %q, want %q", got, supportedClaims)
	}
	algs := strs("id_token_signing_alg_values_supported")
	if want := []string{"RS256", "ES256", "EdDSA"}; !slices.Equal(algs, want) {
		t.Errorf("id_token_signing_alg_values_supported: got %q, want %q (RS256 first: the default)", algs, want)
	}
	if slices.Contains(algs, "none") {
		t.Errorf("id_token_signing_alg_values_supported: got %q, want no none", algs)
	}
	for _, key := range []string{"check_session_iframe"} {
		if v, ok := doc[key]; ok {
			t.Errorf("%s: got %v, want absent", key, v)
		}
	}
	// Request objects (RFC 9101), asymmetric algorithms only; request_uri
	// only from the PAR endpoint (RFC 9126), never fetched.
	if got, want := strs("request_object_signing_alg_values_supported"), []string{"ES256", "PS256", "RS256", "EdDSA"}; !slices.Equal(got, want) {
		t.Errorf("request_object_signing_alg_values_supported: got %q, want %q", got, want)
	}
	for key, want := range map[string]any{
		"request_parameter_supported": true, "request_uri_parameter_supported": false,
		"require_pushed_authorization_requests": false,
		"pushed_authorization_request_endpoint": testIssuer + parPath,
	} {
		if got := doc[key]; got != want {
			t.Errorf("%s: got %v, want %v", key, got, want)
		}
	}
	for key, want := range map[string]string{
		"authorization_endpoint":        testIssuer + authorizePath,
		"token_endpoint":                testIssuer + tokenPath,
		"device_authorization_endpoint": testIssuer + deviceAuthorizationPath,
		"userinfo_endpoint":             testIssuer + userinfoPath,
		"end_session_endpoint":          testIssuer + endSessionPath,
		"jwks_uri":                      testIssuer + "/keys",
		"introspection_endpoint":        testIssuer + introspectPath,
		"revocation_endpoint":           testIssuer + revokePath,
	} {
		if got := doc[key]; got != want {
			t.Errorf("%s: got %v, want %q", key, got, want)
		}
	}
}

// HEAD is answered like GET, as for the key set.
func TestDiscoveryHead(t *testing.T) {
	e := newTestEnv(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/keys"} {
		rec := e.do(httptest.NewRequest(http.MethodHead, testIssuer+path, nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") == "" {
			t.Errorf("HEAD %s: status %d, Content-Type %q, want 200 with a type", path, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
}
