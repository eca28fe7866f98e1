package provider

import (
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// T-A5: PKCE at the authorization endpoint.
func TestCheckPKCE(t *testing.T) {
	public := &client{c: &storage.Client{ID: "native", TokenEndpointAuthMethod: "none", ApplicationType: "native"}}
	confidential := &client{c: &storage.Client{ID: "web", TokenEndpointAuthMethod: "client_secret_basic", ApplicationType: "web"}}
	good := s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
	if len(good) != 43 {
		t.Fatalf("test challenge: got length %d, want 43", len(good))
	}
	tests := []struct {
		name      string
		challenge string
		method    oidc.CodeChallengeMethod
		// wantOK per client kind
		publicOK, confidentialOK bool
	}{
		{"no PKCE", "", "", false, true},
		{"valid S256", good, oidc.CodeChallengeMethodS256, true, true},
		{"RFC 7636 example", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", oidc.CodeChallengeMethodS256, true, true},
		{"method without challenge", "", oidc.CodeChallengeMethodS256, false, false},
		{"plain without challenge", "", oidc.CodeChallengeMethodPlain, false, false},
		{"plain", good, oidc.CodeChallengeMethodPlain, false, false},
		{"missing method", good, "", false, false},
		{"unknown method", good, "S512", false, false},
		{"lower-case method", good, "s256", false, false},
		{"42 characters", good[:42], oidc.CodeChallengeMethodS256, false, false},
		{"44 characters", good + "A", oidc.CodeChallengeMethodS256, false, false},
		{"padding", good[:42] + "=", oidc.CodeChallengeMethodS256, false, false},
		{"padded 44", good + "=", oidc.CodeChallengeMethodS256, false, false},
		{"standard base64 plus", good[:20] + "+" + good[21:], oidc.CodeChallengeMethodS256, false, false},
		{"standard base64 slash", good[:20] + "/" + good[21:], oidc.CodeChallengeMethodS256, false, false},
		{"dot", good[:42] + ".", oidc.CodeChallengeMethodS256, false, false},
		{"space", " " + good[1:], oidc.CodeChallengeMethodS256, false, false},
		{"NUL", good[:42] + "\x00", oidc.CodeChallengeMethodS256, false, false},
		{"non-ASCII", good[:41] + "é", oidc.CodeChallengeMethodS256, false, false},
		{"long verifier-like", strings.Repeat("a", 128), oidc.CodeChallengeMethodS256, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []struct {
				name   string
				c      *client
				wantOK bool
			}{{"public", public, tt.publicOK}, {"confidential", confidential, tt.confidentialOK}} {
				e := checkPKCE(k.c, tt.challenge, tt.method)
				if gotOK := e == nil; gotOK != k.wantOK {
					t.Errorf("%s client, challenge %q method %q: got error %v, want ok=%v", k.name, tt.challenge, tt.method, e, k.wantOK)
					continue
				}
				if e != nil && e.ErrorType != oidc.InvalidRequest {
					t.Errorf("%s client: got error type %q, want %q", k.name, e.ErrorType, oidc.InvalidRequest)
				}
			}
		})
	}
}
