package clientpolicy

import (
	"strings"
	"testing"
)

// fapiClient is a client held to the FAPI 2.0 Security Profile, valid as
// it stands, on lines 4 to 9 of its file: clients[1] after a public one.
const fapiClient = "clients:\n" +
	"  - {client_id: ok, token_endpoint_auth_method: none, redirect_uris: [\"https://ok.example/cb\"]}\n" +
	"  # the client under test:\n" +
	"  - client_id: bank\n" +
	"    profile: fapi2\n" +
	"    token_endpoint_auth_method: private_key_jwt\n" +
	"    jwks: {keys: [" + testJWK + "]}\n" +
	"    redirect_uris: [https://bank.example/cb]\n" +
	"    id_token_signed_response_alg: ES256\n"

// TestProfileFAPI2Implies: profile: fapi2 turns on pushed authorization
// requests and DPoP-bound tokens when the file leaves them out, and keeps
// the profile.
func TestProfileFAPI2Implies(t *testing.T) {
	got, err := parseOnLoopback([]byte(fapiClient+"    grant_types: [authorization_code, refresh_token, client_credentials]\n    request_object_signing_alg: PS256\n"),
		"clients.yaml", testEnv(nil), testFiles(nil))
	if err != nil {
		t.Fatalf("ParseFile: %v", err)
	}
	c := got[1]
	if c.Profile != ProfileFAPI2 || !c.RequirePushedAuthorizationRequests || !c.DPoPBoundAccessTokens {
		t.Errorf("got profile %q, PAR required %v, DPoP-bound %v; want fapi2, true, true", c.Profile, c.RequirePushedAuthorizationRequests, c.DPoPBoundAccessTokens)
	}
	if err := Validate(c); err != nil {
		t.Errorf("Validate of the parsed client: %v", err)
	}
}

// TestProfileFAPI2Refusals: what the FAPI 2.0 Security Profile rules out is
// refused with the line of the field at fault. Bad input tried: an unknown
// profile, a secret instead of private_key_jwt, a public client, ID tokens
// signed with RS256 or the server's default, an RS256 request object, PAR
// or DPoP turned off outright, the device grant, no authorization_code.
func TestProfileFAPI2Refusals(t *testing.T) {
	replace := func(old, new string) string { return strings.Replace(fapiClient, old, new, 1) }
	for _, tt := range []struct {
		name, file, want string
	}{
		{"unknown profile", replace("profile: fapi2", "profile: fapi1"), `clients.yaml:5: clients[1].profile: "fapi1" is not a profile Gatehouse knows`},
		{"secret", replace("    token_endpoint_auth_method: private_key_jwt\n    jwks: {keys: ["+testJWK+"]}\n", "    client_secret_env: A_SECRET\n"),
			"clients.yaml:4: clients[1].token_endpoint_auth_method: the FAPI 2.0 Security Profile (profile: fapi2) needs private_key_jwt"},
		{"public", replace("    token_endpoint_auth_method: private_key_jwt\n    jwks: {keys: ["+testJWK+"]}\n", "    token_endpoint_auth_method: none\n"),
			"clients[1].token_endpoint_auth_method: the FAPI 2.0 Security Profile (profile: fapi2) needs private_key_jwt"},
		{"RS256 ID tokens", replace("ES256", "RS256"), "clients.yaml:9: clients[1].id_token_signed_response_alg: the FAPI 2.0 Security Profile (profile: fapi2) allows PS256, ES256 or EdDSA"},
		{"server default ID tokens", replace("    id_token_signed_response_alg: ES256\n", ""), "clients[1].id_token_signed_response_alg: the FAPI 2.0 Security Profile (profile: fapi2) allows PS256, ES256 or EdDSA"},
		{"RS256 request objects", fapiClient + "    request_object_signing_alg: RS256\n", "clients.yaml:10: clients[1].request_object_signing_alg: the FAPI 2.0 Security Profile (profile: fapi2) allows PS256, ES256 or EdDSA, not RS256"},
		{"PAR off", fapiClient + "    require_pushed_authorization_requests: false\n", "clients.yaml:10: clients[1].require_pushed_authorization_requests: the FAPI 2.0 Security Profile (profile: fapi2) requires pushed authorization requests"},
		{"DPoP off", fapiClient + "    dpop_bound_access_tokens: false\n", "clients.yaml:10: clients[1].dpop_bound_access_tokens: the FAPI 2.0 Security Profile (profile: fapi2) requires sender-constrained access tokens"},
		{"device grant", fapiClient + "    grant_types: [authorization_code, " + GrantDeviceCode + "]\n", "clients[1].grant_types[1]: the FAPI 2.0 Security Profile (profile: fapi2) covers the authorization code flow, not the device grant"},
		{"no code flow", replace("    redirect_uris: [https://bank.example/cb]\n", "    grant_types: [client_credentials]\n"), "clients[1].grant_types: the FAPI 2.0 Security Profile (profile: fapi2) is for clients that sign users in"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseOnLoopback([]byte(tt.file), "clients.yaml", testEnv(map[string]string{"A_SECRET": clientsTestSecretEnv}), testFiles(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %d clients, error %v; want an error containing %q", len(got), err, tt.want)
			}
		})
	}
}
