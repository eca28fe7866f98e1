package provider

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/mfa"
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

// TestDefaultACRValues: a client's default_acr_values stand in for the
// acr_values of a request that names none, for the provider's step-up and
// the login UI alike; a request's own acr_values win over them.
func TestDefaultACRValues(t *testing.T) {
	e := newTestEnv(t)
	wantsMFA := storage.Client{
		ID: "wants-mfa", Name: "Wants MFA", SkipConsent: true,
		RedirectURIs:            []string{webRedirect},
		GrantTypes:              []string{"authorization_code"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "none", ApplicationType: "web",
		DefaultACRValues: []string{mfa.ACRMultiFactor},
	}
	if _, err := e.store.SyncClients(t.Context(), append(testClients(), wantsMFA), time.Now()); err != nil {
		t.Fatal(err)
	}
	// A password-only session of a user who has a one-time code: set up
	// straight in the store, which leaves the session as it was.
	jar := e.signedInJar(t)
	e.enrolTOTP(t)

	ssoCode := func(t *testing.T, clientID string, extra url.Values) {
		t.Helper()
		rec, _ := e.authorizeAs(t, jar, clientID, extra)
		back := mustParseURL(t, rec.Header().Get("Location"))
		if rec.Code != http.StatusFound || !strings.HasPrefix(back.String(), webRedirect+"?") || back.Query().Get("code") == "" {
			t.Fatalf("authorize %s %v: got %d to %q, want a code at once (SSO)", clientID, extra, rec.Code, back)
		}
	}

	t.Run("explicit acr_values win", func(t *testing.T) {
		ssoCode(t, "wants-mfa", url.Values{"acr_values": {mfa.ACRSingleFactor}})
	})
	t.Run("a client without defaults", func(t *testing.T) {
		ssoCode(t, "web", nil)
	})
	t.Run("prompt=none answers with the session as it is", func(t *testing.T) {
		// Like a request's acr_values, the defaults are a wish: only
		// require_mfa or the server's mfa: required stop prompt=none.
		ssoCode(t, "wants-mfa", url.Values{"prompt": {"none"}})
	})
	t.Run("defaults step up", func(t *testing.T) {
		rec, _ := e.authorizeAs(t, jar, "wants-mfa", nil)
		loc := rec.Header().Get("Location")
		if rec.Code != http.StatusFound || !strings.HasPrefix(loc, loginPath+"?id=") {
			t.Fatalf("authorize without acr_values: got %d to %q, want 302 to the login page (step-up)", rec.Code, loc)
		}
		id := mustParseURL(t, loc).Query().Get("id")
		ar, err := e.store.AuthRequest(t.Context(), id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{mfa.ACRMultiFactor}; !slices.Equal(ar.ACRValues, want) {
			t.Errorf("stored request's ACRValues: got %q, want %q", ar.ACRValues, want)
		}
		// The login UI reads the same values: it asks the code, not the
		// password, and keeps the session.
		rec = e.follow(t, jar, loc)
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login/factor" {
			t.Errorf("login page: got %d to %q, want 303 to /login/factor", rec.Code, rec.Header().Get("Location"))
		}
	})
}
