package provider

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// handlerTransport serves HTTP requests from an http.Handler in process, so
// that a relying-party library can fetch discovery and the JWKS from a test
// provider whose issuer is not a real host.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// jwks fetches the provider's published key set.
func (e *testEnv) jwks(t *testing.T) jose.JSONWebKeySet {
	t.Helper()
	rec := e.do(httptest.NewRequest(http.MethodGet, testIssuer+"/keys", nil))
	var set jose.JSONWebKeySet
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &set) != nil {
		t.Fatalf("JWKS: got %d %s", rec.Code, rec.Body)
	}
	return set
}

// checkSignedWith checks that token is a JWS whose header names alg and a
// kid published in set with that alg, and that it verifies against that
// published key.
func checkSignedWith(t *testing.T, set jose.JSONWebKeySet, what, token, alg string) {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
	if err != nil {
		t.Fatalf("%s: not a JWS: %v", what, err)
	}
	h := jws.Signatures[0].Header
	if h.Algorithm != alg {
		t.Errorf("%s: got header alg %q, want %q", what, h.Algorithm, alg)
	}
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("%s: got %d JWKS keys with kid %q, want 1", what, len(keys), h.KeyID)
	}
	if keys[0].Algorithm != alg {
		t.Errorf("%s: signed by a key published with alg %q, want %q", what, keys[0].Algorithm, alg)
	}
	if _, err := jws.Verify(keys[0]); err != nil {
		t.Errorf("%s: does not verify against the published key %s: %v", what, h.KeyID, err)
	}
}

// postAsClient posts form to path with client authentication: Basic for
// the web client, the secret in the body for the others.
func (e *testEnv) postAsClient(clientID, secret, path string, form url.Values) *httptest.ResponseRecorder {
	if clientID != "web" {
		form.Set("client_id", clientID)
		form.Set("client_secret", secret)
	}
	req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID == "web" {
		req.SetBasicAuth(clientID, secret)
	}
	return e.do(req)
}

// TestPerClientSigningAlgorithm checks that each client's ID tokens and
// access tokens, from the code exchange and from a refresh, are signed with
// the algorithm it registered (id_token_signed_response_alg), or RS256 when
// it registered none; that each verifies against the JWKS with go-jose, and
// each ID token with coreos/go-oidc configured from discovery; and that
// Gatehouse verifies each of its own tokens whatever the algorithm: access
// tokens at userinfo and introspection, ID tokens as id_token_hint at
// end_session.
func TestPerClientSigningAlgorithm(t *testing.T) {
	e := newTestEnv(t)
	set := e.jwks(t)
	ctx := oidc.ClientContext(context.Background(), &http.Client{Transport: handlerTransport{e.h}})
	rp, err := oidc.NewProvider(ctx, testIssuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	tests := []struct {
		client, secret, want string
	}{
		{"web", testWebSecret, "RS256"},
		{"post", testPostSecret, "RS256"},
		{"es256", testES256Secret, "ES256"},
		{"eddsa", testEdDSASecret, "EdDSA"},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			jar := cookieJar{}
			code, verifier := e.signInTo(t, jar, tt.client, "openid profile offline_access")
			tr := decodeToken(t, e.exchangeCode(code, verifier, tt.client, tt.secret))
			checkSignedWith(t, set, "ID token", tr.IDToken, tt.want)
			checkSignedWith(t, set, "access token", tr.AccessToken, tt.want)
			idt, err := rp.Verifier(&oidc.Config{ClientID: tt.client}).Verify(ctx, tr.IDToken)
			if err != nil {
				t.Errorf("go-oidc: the %s ID token does not verify: %v", tt.want, err)
			} else if idt.Subject != testUserID {
				t.Errorf("go-oidc: got sub %q, want %q", idt.Subject, testUserID)
			}
			if got := e.userinfoStatus(tr.AccessToken); got != http.StatusOK {
				t.Errorf("userinfo with the %s access token: got %d, want 200", tt.want, got)
			}
			rec := e.postAsClient(tt.client, tt.secret, introspectPath, url.Values{"token": {tr.AccessToken}})
			var in map[string]any
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &in) != nil || in["active"] != true {
				t.Errorf("introspect the %s access token: got %d %s, want active", tt.want, rec.Code, rec.Body)
			}

			// A forged hint is refused; the real one ends the session
			// without asking.
			endSession := func(hint string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodGet, testIssuer+endSessionPath+"?"+url.Values{"id_token_hint": {hint}}.Encode(), nil)
				jar.add(req)
				return e.do(req)
			}
			if rec := endSession(tr.IDToken[:len(tr.IDToken)-4] + "AAAA"); rec.Code != http.StatusBadRequest {
				t.Errorf("end_session with a forged %s hint: got %d, want 400", tt.want, rec.Code)
			}
			if rec := endSession(tr.IDToken); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "csrf_token") {
				t.Errorf("end_session with the %s ID token as hint: got %d, want 200 and no confirmation form; body %s", tt.want, rec.Code, rec.Body)
			}

			if tr.RefreshToken == "" {
				return
			}
			rec = e.postAsClient(tt.client, tt.secret, tokenPath, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}})
			next := decodeToken(t, rec)
			checkSignedWith(t, set, "refreshed ID token", next.IDToken, tt.want)
			checkSignedWith(t, set, "refreshed access token", next.AccessToken, tt.want)
		})
	}

	t.Run("client_credentials", func(t *testing.T) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"reports:read"}}
		tr := decodeToken(t, e.postAsClient("es256", testES256Secret, tokenPath, form))
		checkSignedWith(t, set, "service access token", tr.AccessToken, "ES256")

		rec := e.serviceToken("reports:read", testServiceSecret)
		checkSignedWith(t, set, "default service access token", decodeToken(t, rec).AccessToken, "RS256")
	})
}

// TestSigningAlgForClient checks the choice of algorithm for a client's
// tokens: its registered id_token_signed_response_alg, else
// Config.SigningAlg; an algorithm without an active key signs nothing
// (never a token signed with another algorithm).
func TestSigningAlgForClient(t *testing.T) {
	e := newTestEnvConfig(t, func(s *sqlite.Store) Store { return s }, func(c *Config) { c.SigningAlg = "ES256" })
	set := e.jwks(t)
	for _, tt := range []struct {
		registered, want string
	}{
		{"", "ES256"},
		{"EdDSA", "EdDSA"},
		{"RS256", "RS256"},
	} {
		c := &client{c: &storage.Client{ID: "c", IDTokenSignedResponseAlg: tt.registered}, cfg: &e.p.cfg}
		if got := e.p.signingAlgFor(c); got != tt.want {
			t.Errorf("registered %q: got algorithm %s, want %s", tt.registered, got, tt.want)
		}
		jws, err := e.p.signJWS(e.p.signingAlgFor(c), "JWT", []byte(`{}`))
		if err != nil {
			t.Fatalf("signJWS(%s): %v", tt.want, err)
		}
		checkSignedWith(t, set, "token of a client registered with "+cmp.Or(tt.registered, `no algorithm`), jws, tt.want)
	}
	if jws, err := e.p.signJWS("HS256", "JWT", []byte(`{}`)); err == nil {
		t.Errorf("signJWS(HS256): got %s, want an error (never another algorithm)", jws)
	}
}
