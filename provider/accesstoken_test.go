package provider

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// jwtParts returns the decoded header and claims of a compact JWS.
func jwtParts(t *testing.T, token string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", token)
	}
	var hdr, claims map[string]any
	for i, v := range []*map[string]any{&hdr, &claims} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	return hdr, claims
}

// Access tokens are RFC 9068 JWTs: typ at+jwt, with iss, sub, aud,
// client_id, scope, jti, iat, exp; they verify against the JWKS.
func TestAccessTokenIsRFC9068(t *testing.T) {
	e, _ := newClockEnv(t, 10*time.Second)
	tr := e.codeFlow(t, "openid profile offline_access")
	hdr, claims := jwtParts(t, tr.AccessToken)
	if hdr["typ"] != "at+jwt" || hdr["alg"] != "RS256" || hdr["kid"] == nil {
		t.Errorf("access token header: got %v, want typ at+jwt, alg RS256, kid", hdr)
	}
	for _, name := range []string{"iss", "sub", "aud", "client_id", "scope", "jti", "iat", "exp", "auth_time"} {
		if claims[name] == nil {
			t.Errorf("access token claim %s: missing in %v", name, claims)
		}
	}
	if claims["iss"] != testIssuer || claims["client_id"] != "web" || claims["sub"] != testUserID ||
		claims["scope"] != "openid profile offline_access" {
		t.Errorf("access token claims: got %v", claims)
	}
	jws, err := jose.ParseSigned(tr.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	verified := false
	for _, k := range e.keys.PublicKeys() {
		if k.KeyID == hdr["kid"] {
			_, err := jws.Verify(&k)
			verified = err == nil
		}
	}
	if !verified {
		t.Error("the access token does not verify against its published key")
	}
	// An ID token is typed JWT and is no access token.
	if idHdr, _ := jwtParts(t, tr.IDToken); idHdr["typ"] == "at+jwt" {
		t.Errorf("ID token header: got typ %v, want not at+jwt", idHdr["typ"])
	}
	if got := e.userinfoStatus(tr.IDToken); got != http.StatusUnauthorized {
		t.Errorf("userinfo with an ID token: got %d, want 401", got)
	}
	// A JWT signed by our key but typed JWT (not at+jwt) is refused.
	k, err := e.keys.Signer("RS256")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: k.Key(), KeyID: k.ID()}},
		(&jose.SignerOptions{}).WithType("JWT"))
	payload, _ := json.Marshal(claims)
	forged, _ := signer.Sign(payload)
	compact, _ := forged.CompactSerialize()
	if got := e.userinfoStatus(compact); got != http.StatusUnauthorized {
		t.Errorf("userinfo with a JWT typed JWT: got %d, want 401", got)
	}
}

// A client registered with access_token_format: opaque gets tokens only
// Gatehouse can read; they work at userinfo, introspection and
// revocation, and a changed byte breaks them.
func TestOpaqueAccessTokens(t *testing.T) {
	e, _ := newClockEnv(t, 10*time.Second)
	code, verifier := e.signInTo(t, cookieJar{}, "opaque", "openid profile offline_access")
	tr := decodeToken(t, e.exchangeCode(code, verifier, "opaque", testOpaqueSecret))
	if !strings.HasPrefix(tr.AccessToken, "gho_") || strings.Count(tr.AccessToken, ".") != 0 {
		t.Fatalf("opaque access token: got %q, want gho_ and no JWT structure", tr.AccessToken)
	}
	if got := e.userinfoStatus(tr.AccessToken); got != http.StatusOK {
		t.Errorf("userinfo with an opaque token: got %d, want 200", got)
	}
	tampered := tr.AccessToken[:len(tr.AccessToken)-3] + "AAA"
	if got := e.userinfoStatus(tampered); got != http.StatusUnauthorized {
		t.Errorf("userinfo with a changed opaque token: got %d, want 401", got)
	}
	info, _ := e.introspect(t, "web", tr.AccessToken)
	if info["active"] != false {
		t.Errorf("another client introspecting the opaque token: got %v, want inactive", info)
	}
	rec := e.postAs("opaque-post", introspectPath, url.Values{"token": {tr.AccessToken}})
	var mine map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &mine); err != nil || mine["active"] != true || mine["client_id"] != "opaque" {
		t.Errorf("introspect own opaque token: got %d %s", rec.Code, rec.Body)
	}
	if rec := e.postAs("opaque-post", revokePath, url.Values{"token": {tr.AccessToken}}); rec.Code != http.StatusOK {
		t.Fatalf("revoke an opaque token: %d", rec.Code)
	}
	if got := e.userinfoStatus(tr.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("userinfo after revoking the opaque token: got %d, want 401", got)
	}
}
