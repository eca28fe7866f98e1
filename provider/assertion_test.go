package provider

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// assertionEnv is a provider with two private_key_jwt clients next to
// testClients(): "pkjwt" with an inline JWKS (an ES256 and an RSA key) and
// "pkjwt-uri" whose keys are served by an httptest server (jwks_uri).
type assertionEnv struct {
	*testEnv
	clock *clock
	ec    *ecdsa.PrivateKey // kid "ec1", in pkjwt's jwks
	rsa   *rsa.PrivateKey   // kid "rsa1", in pkjwt's jwks
	// uriKey is the key jwksServer currently publishes (kid uriKID).
	mu       sync.Mutex
	uriKey   crypto.Signer
	uriKID   string
	fetches  atomic.Int32
	jwksJSON []byte // pkjwt's inline JWKS
}

func newAssertionEnv(t *testing.T) *assertionEnv {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := &assertionEnv{ec: ec, rsa: rk, uriKey: ed, uriKID: "ed1"}
	a.jwksJSON, err = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: ec.Public(), KeyID: "ec1", Algorithm: "ES256", Use: "sig"},
		{Key: rk.Public(), KeyID: "rsa1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.fetches.Add(1)
		a.mu.Lock()
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: a.uriKey.Public(), KeyID: a.uriKID}}}
		a.mu.Unlock()
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)

	a.clock = &clock{}
	a.clock.ns.Store(time.Now().UnixNano())
	a.testEnv = newTestEnvConfig(t, func(s *sqlite.Store) Store { return s }, func(cfg *Config) { cfg.Now = a.clock.now })
	clients := append(testClients(),
		storage.Client{
			ID: "pkjwt", Name: "Key App",
			RedirectURIs:            []string{webRedirect},
			GrantTypes:              []string{"authorization_code", "refresh_token", "client_credentials"},
			ResponseTypes:           []string{"code"},
			Scopes:                  []string{"reports:read"},
			TokenEndpointAuthMethod: "private_key_jwt", ApplicationType: "web",
			JWKS: a.jwksJSON, SkipConsent: true,
		},
		storage.Client{
			ID: "pkjwt-uri", Name: "Key URI App",
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"reports:read"},
			TokenEndpointAuthMethod: "private_key_jwt", ApplicationType: "web",
			JWKSURI: srv.URL + "/jwks.json",
		},
	)
	if _, err := a.store.SyncClients(t.Context(), clients, time.Now()); err != nil {
		t.Fatalf("SyncClients: %v", err)
	}
	return a
}

// claims returns valid assertion claims of client id at the env's now.
func (a *assertionEnv) claims(id string) map[string]any {
	now := a.clock.now()
	return map[string]any{
		"iss": id, "sub": id, "aud": testIssuer + tokenPath,
		"jti": rand.Text(),
		"iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
	}
}

// sign signs claims as a compact JWS with key, alg and kid.
func sign(t *testing.T, key any, alg jose.SignatureAlgorithm, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unsigned builds a JWS with the given header alg and a signature made by
// sig over the signing input (nil: empty signature).
func unsigned(header map[string]any, claims map[string]any, sig func(input []byte) []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	var s []byte
	if sig != nil {
		s = sig([]byte(input))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(s)
}

// post sends form to path with the assertion, as a client assertion.
func (a *assertionEnv) post(path string, form url.Values, assertion string) *httptest.ResponseRecorder {
	if assertion != "" {
		form.Set("client_assertion_type", clientAssertionType)
		form.Set("client_assertion", assertion)
	}
	req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return a.do(req)
}

func (a *assertionEnv) serviceForm() url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "scope": {"reports:read"}}
}

func TestPrivateKeyJWTCodeAndRefresh(t *testing.T) {
	a := newAssertionEnv(t)
	code, verifier := a.signInTo(t, cookieJar{}, "pkjwt", "openid offline_access")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {verifier}}
	rec := a.post(tokenPath, form, sign(t, a.ec, jose.ES256, "ec1", a.claims("pkjwt")))
	checkTokenResponse(t, rec, http.StatusOK, "")
	tr := decodeToken(t, rec)
	if tr.AccessToken == "" || tr.IDToken == "" || tr.RefreshToken == "" {
		t.Fatalf("code exchange: got %+v, want access, ID and refresh tokens", tr)
	}

	// Refresh, signed with the RSA key (no kid: every key is tried).
	form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}
	rec = a.post(tokenPath, form, sign(t, a.rsa, jose.PS256, "", a.claims("pkjwt")))
	checkTokenResponse(t, rec, http.StatusOK, "")
	tr2 := decodeToken(t, rec)
	if tr2.RefreshToken == "" || tr2.RefreshToken == tr.RefreshToken {
		t.Fatalf("refresh: got %+v, want a new refresh token", tr2)
	}

	// Revocation and introspection authenticate with assertions too.
	rec = a.post(introspectPath, url.Values{"token": {tr2.AccessToken}}, sign(t, a.ec, jose.ES256, "ec1", a.claims("pkjwt")))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"active":true`) {
		t.Fatalf("introspect: got %d %s, want 200 active", rec.Code, rec.Body)
	}
	rec = a.post(revokePath, url.Values{"token": {tr2.RefreshToken}}, sign(t, a.ec, jose.ES256, "ec1", a.claims("pkjwt")))
	if rec.Code != http.StatusOK {
		t.Fatalf("revoke: got %d %s, want 200", rec.Code, rec.Body)
	}
	rec = a.post(introspectPath, url.Values{"token": {tr2.RefreshToken}}, sign(t, a.ec, jose.ES256, "ec1", a.claims("pkjwt")))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"active":false}` {
		t.Fatalf("introspect after revoke: got %d %s, want 200 inactive", rec.Code, rec.Body)
	}
	// Without authentication, or with a bad assertion, revocation refuses.
	bad := a.claims("pkjwt")
	bad["aud"] = "https://other.example"
	rec = a.post(revokePath, url.Values{"token": {tr.AccessToken}}, sign(t, a.ec, jose.ES256, "ec1", bad))
	checkTokenResponse(t, rec, http.StatusUnauthorized, "invalid_client")
}

func TestPrivateKeyJWTClientCredentialsAndReplay(t *testing.T) {
	a := newAssertionEnv(t)
	assertion := sign(t, a.ec, jose.ES256, "ec1", a.claims("pkjwt"))
	rec := a.post(tokenPath, a.serviceForm(), assertion)
	checkTokenResponse(t, rec, http.StatusOK, "")
	if tr := decodeToken(t, rec); tr.AccessToken == "" {
		t.Fatalf("client_credentials: no access token in %s", rec.Body)
	}
	// client_id may be given as well, and must match.
	form := a.serviceForm()
	form.Set("client_id", "pkjwt")
	checkTokenResponse(t, a.post(tokenPath, form, sign(t, a.ec, jose.ES256, "ec1", a.claims("pkjwt"))), http.StatusOK, "")
	form.Set("client_id", "service")
	checkTokenResponse(t, a.post(tokenPath, form, sign(t, a.ec, jose.ES256, "ec1", a.claims("pkjwt"))), http.StatusUnauthorized, "invalid_client")

	// The same assertion again, on any endpoint: refused.
	checkTokenResponse(t, a.post(tokenPath, a.serviceForm(), assertion), http.StatusUnauthorized, "invalid_client")
	checkTokenResponse(t, a.post(introspectPath, url.Values{"token": {"x"}}, assertion), http.StatusUnauthorized, "invalid_client")

	// 20 concurrent uses of one fresh assertion: exactly one succeeds.
	fresh := sign(t, a.ec, jose.ES256, "ec1", a.claims("pkjwt"))
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if a.post(tokenPath, a.serviceForm(), fresh).Code == http.StatusOK {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("concurrent replays of one assertion: %d succeeded, want 1", ok.Load())
	}
}

func TestPrivateKeyJWTRefused(t *testing.T) {
	a := newAssertionEnv(t)
	now := a.clock.now()
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(a.ec.Public())
	with := func(mod func(map[string]any)) map[string]any {
		c := a.claims("pkjwt")
		mod(c)
		return c
	}
	cases := []struct {
		name      string
		assertion string
		form      func(url.Values)
		basic     [2]string
		wantCode  int
		wantError string
	}{
		{name: "wrong aud", assertion: sign(t, a.ec, jose.ES256, "ec1", with(func(c map[string]any) { c["aud"] = "https://rp.example" }))},
		{name: "issuer as aud accepted", assertion: sign(t, a.ec, jose.ES256, "ec1", with(func(c map[string]any) { c["aud"] = []string{"x", testIssuer} })), wantCode: http.StatusOK},
		{name: "expired", assertion: sign(t, a.ec, jose.ES256, "ec1", with(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Minute).Unix() }))},
		{name: "no exp", assertion: sign(t, a.ec, jose.ES256, "ec1", with(func(c map[string]any) { delete(c, "exp") }))},
		{name: "exp too far ahead", assertion: sign(t, a.ec, jose.ES256, "ec1", with(func(c map[string]any) { c["exp"] = now.Add(time.Hour).Unix() }))},
		{name: "issued in the future", assertion: sign(t, a.ec, jose.ES256, "ec1", with(func(c map[string]any) { c["iat"] = now.Add(5 * time.Minute).Unix() }))},
		{name: "nbf in the future", assertion: sign(t, a.ec, jose.ES256, "ec1", with(func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() }))},
		{name: "no jti", assertion: sign(t, a.ec, jose.ES256, "ec1", with(func(c map[string]any) { delete(c, "jti") }))},
		{name: "iss not sub", assertion: sign(t, a.ec, jose.ES256, "ec1", with(func(c map[string]any) { c["iss"] = "web" }))},
		{name: "sub names another private_key_jwt client", assertion: sign(t, a.ec, jose.ES256, "ec1", with(func(c map[string]any) { c["iss"], c["sub"] = "pkjwt-uri", "pkjwt-uri" }))},
		{name: "alg none", assertion: unsigned(map[string]any{"alg": "none"}, a.claims("pkjwt"), nil)},
		{name: "HS256 keyed with the public key", assertion: unsigned(map[string]any{"alg": "HS256", "kid": "ec1"}, a.claims("pkjwt"), func(in []byte) []byte {
			m := hmac.New(sha256.New, pubDER)
			m.Write(in)
			return m.Sum(nil)
		})},
		{name: "HS256 keyed with the JWKS", assertion: unsigned(map[string]any{"alg": "HS256"}, a.claims("pkjwt"), func(in []byte) []byte {
			m := hmac.New(sha256.New, a.jwksJSON)
			m.Write(in)
			return m.Sum(nil)
		})},
		{name: "key not in the JWKS", assertion: sign(t, other, jose.ES256, "ec1", a.claims("pkjwt"))},
		{name: "key not in the JWKS, no kid", assertion: sign(t, other, jose.ES256, "", a.claims("pkjwt"))},
		{name: "key alg mismatch", assertion: sign(t, a.ec, jose.ES256, "rsa1", a.claims("pkjwt"))},
		{name: "garbage", assertion: "not.a.jwt"},
		{name: "wrong assertion type", assertion: sign(t, a.ec, jose.ES256, "ec1", a.claims("pkjwt")), form: func(f url.Values) { f.Set("client_assertion_type", "urn:other") }},
		{name: "basic client sending an assertion", assertion: sign(t, a.ec, jose.ES256, "ec1", a.claims("service"))},
		{name: "private_key_jwt client sending a secret", basic: [2]string{"pkjwt", "anything"}},
		{name: "private_key_jwt client sending a post secret", form: func(f url.Values) { f.Set("client_id", "pkjwt"); f.Set("client_secret", "x") }},
		{name: "private_key_jwt client sending nothing", form: func(f url.Values) { f.Set("client_id", "pkjwt") }},
		{name: "assertion and basic", assertion: sign(t, a.ec, jose.ES256, "ec1", a.claims("pkjwt")), basic: [2]string{"service", testServiceSecret}, wantCode: http.StatusBadRequest, wantError: "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			form := a.serviceForm()
			if tc.assertion != "" {
				form.Set("client_assertion_type", clientAssertionType)
				form.Set("client_assertion", tc.assertion)
			}
			if tc.form != nil {
				tc.form(form)
			}
			req := httptest.NewRequest(http.MethodPost, testIssuer+tokenPath, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.basic[0] != "" {
				req.SetBasicAuth(tc.basic[0], tc.basic[1])
			}
			want, wantErr := http.StatusUnauthorized, "invalid_client"
			if tc.wantCode != 0 {
				want, wantErr = tc.wantCode, tc.wantError
			}
			rec := a.do(req)
			checkTokenResponse(t, rec, want, wantErr)
		})
	}
	// The secret clients keep working.
	checkTokenResponse(t, a.serviceToken("reports:read", testServiceSecret), http.StatusOK, "")
}

func TestPrivateKeyJWTJWKSURIRotation(t *testing.T) {
	a := newAssertionEnv(t)
	a.mu.Lock()
	first := a.uriKey
	a.mu.Unlock()
	rec := a.post(tokenPath, a.serviceForm(), sign(t, first, jose.EdDSA, "ed1", a.claims("pkjwt-uri")))
	checkTokenResponse(t, rec, http.StatusOK, "")
	checkTokenResponse(t, a.post(tokenPath, a.serviceForm(), sign(t, first, jose.EdDSA, "ed1", a.claims("pkjwt-uri"))), http.StatusOK, "")
	if n := a.fetches.Load(); n != 1 {
		t.Fatalf("jwks_uri fetches after two assertions: got %d, want 1 (cached)", n)
	}

	// The client rotates to a new key under a new kid.
	_, next, _ := ed25519.GenerateKey(rand.Reader)
	a.mu.Lock()
	a.uriKey, a.uriKID = next, "ed2"
	a.mu.Unlock()
	a.clock.advance(jwksMinRefetch)
	checkTokenResponse(t, a.post(tokenPath, a.serviceForm(), sign(t, next, jose.EdDSA, "ed2", a.claims("pkjwt-uri"))), http.StatusOK, "")
	if n := a.fetches.Load(); n != 2 {
		t.Fatalf("jwks_uri fetches after an unknown kid: got %d, want 2 (one refetch)", n)
	}
	// The old key is gone, and unknown kids do not refetch again at once.
	checkTokenResponse(t, a.post(tokenPath, a.serviceForm(), sign(t, first, jose.EdDSA, "ed1", a.claims("pkjwt-uri"))), http.StatusUnauthorized, "invalid_client")
	checkTokenResponse(t, a.post(tokenPath, a.serviceForm(), sign(t, next, jose.EdDSA, "nope", a.claims("pkjwt-uri"))), http.StatusUnauthorized, "invalid_client")
	if n := a.fetches.Load(); n != 2 {
		t.Errorf("jwks_uri fetches after unknown kids within %s: got %d, want 2", jwksMinRefetch, n)
	}
	// After the cache's lifetime the set is fetched again.
	a.clock.advance(jwksCacheTTL)
	checkTokenResponse(t, a.post(tokenPath, a.serviceForm(), sign(t, next, jose.EdDSA, "ed2", a.claims("pkjwt-uri"))), http.StatusOK, "")
	if n := a.fetches.Load(); n != 3 {
		t.Errorf("jwks_uri fetches after the cache TTL: got %d, want 3", n)
	}
}

// A client that registered itself has its jwks_uri fetched only from
// public addresses (package egress): one whose jwks_uri names this
// machine (stored as if registration had let it through, or reached by a
// name that resolves here) is refused with invalid_client and the server
// there sees no request, even while the set at that URI is cached for an
// operator's client.
func TestPrivateKeyJWTRegisteredClientJWKSURIPublicOnly(t *testing.T) {
	a := newAssertionEnv(t)
	a.mu.Lock()
	key := a.uriKey
	a.mu.Unlock()
	checkTokenResponse(t, a.post(tokenPath, a.serviceForm(), sign(t, key, jose.EdDSA, "ed1", a.claims("pkjwt-uri"))), http.StatusOK, "")
	if n := a.fetches.Load(); n != 1 {
		t.Fatalf("jwks_uri fetches for the operator's client: got %d, want 1", n)
	}
	file, err := a.store.Client(t.Context(), "pkjwt-uri")
	if err != nil {
		t.Fatal(err)
	}
	reg := &storage.Client{
		ID: "registered-uri", Name: "Registered Key URI App", Source: storage.ClientSourceRegistration,
		GrantTypes: file.GrantTypes, Scopes: file.Scopes,
		TokenEndpointAuthMethod: "private_key_jwt", ApplicationType: "web",
		JWKSURI: file.JWKSURI,
	}
	if err := a.store.CreateClient(t.Context(), reg, a.clock.now()); err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	checkTokenResponse(t, a.post(tokenPath, a.serviceForm(), sign(t, key, jose.EdDSA, "ed1", a.claims("registered-uri"))), http.StatusUnauthorized, "invalid_client")
	if n := a.fetches.Load(); n != 1 {
		t.Errorf("jwks_uri fetches after the registered client's assertion: got %d, want 1 (refused before connecting)", n)
	}
	// The operator's client is unaffected.
	checkTokenResponse(t, a.post(tokenPath, a.serviceForm(), sign(t, key, jose.EdDSA, "ed1", a.claims("pkjwt-uri"))), http.StatusOK, "")
}

// A key fetched from a jwks_uri is held to the rule inline keys are held
// to at registration: an RSA key under 2048 bits (RFC 7518 §3.3, FAPI 2.0
// §5.4.1) verifies nothing, so an assertion it signed is invalid_client;
// the client's 2048-bit key then works.
func TestPrivateKeyJWTJWKSURIShortRSAKey(t *testing.T) {
	a := newAssertionEnv(t)
	for _, tt := range []struct {
		bits   int
		status int
		code   string
	}{{1024, http.StatusUnauthorized, "invalid_client"}, {2048, http.StatusOK, ""}} {
		key, err := rsa.GenerateKey(rand.Reader, tt.bits)
		if err != nil {
			t.Fatal(err)
		}
		kid := fmt.Sprintf("rsa-%d", tt.bits)
		a.mu.Lock()
		a.uriKey, a.uriKID = key, kid
		a.mu.Unlock()
		a.clock.advance(jwksCacheTTL) // fetch the set again
		rec := a.post(tokenPath, a.serviceForm(), sign(t, key, jose.RS256, kid, a.claims("pkjwt-uri")))
		checkTokenResponse(t, rec, tt.status, tt.code)
	}
}
