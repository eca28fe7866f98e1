package provider

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// DPoP proofs here are written from RFC 9449 §4.2 with go-jose, not with
// Gatehouse's dpop package: a JWS typed dpop+jwt, signed with ES256 by
// the key in its jwk header, with jti, htm, htu, iat and, at userinfo,
// ath = base64url(SHA-256(access token)).

type dpopKey struct {
	priv *ecdsa.PrivateKey
	jkt  string // RFC 7638 thumbprint of the public key, base64url
}

func newDPoPKey(t testing.TB) *dpopKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: &priv.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &dpopKey{priv: priv, jkt: base64.RawURLEncoding.EncodeToString(tp)}
}

// proof is a DPoP proof for method and URL at iat; extra claims (ath,
// nonce, or a replaced jti) are added.
func (k *dpopKey) proof(t testing.TB, method, u string, iat time.Time, extra map[string]any) string {
	t.Helper()
	claims := map[string]any{"jti": base64.RawURLEncoding.EncodeToString(randomBytes(t, 16)), "htm": method, "htu": u, "iat": iat.Unix()}
	for name, v := range extra {
		claims[name] = v
	}
	return signProof(t, jose.ES256, k.priv, nil, claims)
}

func signProof(t testing.TB, alg jose.SignatureAlgorithm, key any, header map[jose.HeaderKey]any, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt")
	for name, v := range header {
		opts = opts.WithHeader(name, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func athOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// dpopClients are the clients the DPoP tests add: a public single-page
// app and a service that must send proofs.
func dpopClients() []storage.Client {
	return []storage.Client{
		{
			ID: "spa", Name: "Single-page App", RedirectURIs: []string{webRedirect},
			GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
			TokenEndpointAuthMethod: "none", ApplicationType: "web", SkipConsent: true,
		},
		{
			ID: "dpop-service", Name: "DPoP service", SecretHash: testClientsSecretHash(),
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"reports:read"},
			TokenEndpointAuthMethod: "client_secret_basic", ApplicationType: "web",
			DPoPBoundAccessTokens: true,
		},
	}
}

func testClientsSecretHash() string {
	for _, c := range testClients() {
		if c.ID == "service" {
			return c.SecretHash // the same secret as "service"
		}
	}
	return ""
}

func newDPoPEnv(t *testing.T, mod func(*Config)) (*testEnv, *clock) {
	t.Helper()
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	e := newTestEnvConfig(t, func(s *sqlite.Store) Store { return s }, func(cfg *Config) {
		cfg.Now = c.now
		mod(cfg)
	})
	registerClients(t, e, dpopClients())
	return e, c
}

// tokenRequest posts form to the token endpoint with the given DPoP
// headers; basic names a client_secret_basic client ("" for none).
func (e *testEnv) tokenRequest(form url.Values, basic, secret string, proofs ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, testIssuer+tokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic != "" {
		req.SetBasicAuth(basic, secret)
	}
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return e.do(req)
}

type dpopTokenAnswer struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

func decodeDPoPAnswer(t *testing.T, rec *httptest.ResponseRecorder) dpopTokenAnswer {
	t.Helper()
	var a dpopTokenAnswer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("token answer %d %q: %v", rec.Code, rec.Body, err)
	}
	return a
}

// jwtCnf reads cnf.jkt from a JWT access token's payload (the signature
// is the provider's business here; userinfo checks it).
func jwtCnf(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("access token %q is not a compact JWS", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Cnf *struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Cnf == nil {
		return ""
	}
	return c.Cnf.JKT
}

func (e *testEnv) introspectAs(t *testing.T, clientID, secret, token string) map[string]any {
	t.Helper()
	form := url.Values{"token": {token}}
	basic := clientID == "web" || clientID == "service" // client_secret_basic; the others post
	if !basic {
		form.Set("client_id", clientID)
		form.Set("client_secret", secret)
	}
	req := httptest.NewRequest(http.MethodPost, testIssuer+introspectPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basic {
		req.SetBasicAuth(clientID, secret)
	}
	var got map[string]any
	if err := json.Unmarshal(e.do(req).Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	return got
}

// userinfoWith calls userinfo with an Authorization header and DPoP
// proofs.
func (e *testEnv) userinfoWith(method, authorization string, proofs ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, testIssuer+userinfoPath, nil)
	req.Header.Set("Authorization", authorization)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return e.do(req)
}

func TestDPoPClientCredentials(t *testing.T) {
	e, _ := newDPoPEnv(t, func(*Config) {})
	k := newDPoPKey(t)
	now := e.p.cfg.Now()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"reports:read"}}
	rec := e.tokenRequest(form, "service", testServiceSecret, k.proof(t, "POST", testIssuer+tokenPath, now, nil))
	a := decodeDPoPAnswer(t, rec)
	if rec.Code != http.StatusOK || a.TokenType != "DPoP" {
		t.Fatalf("client_credentials with a proof: got %d %+v, want 200 with token_type DPoP", rec.Code, a)
	}
	if got := jwtCnf(t, a.AccessToken); got != k.jkt {
		t.Errorf("cnf.jkt = %q, want the proof key's thumbprint %q", got, k.jkt)
	}
	if rec.Header().Get("DPoP-Nonce") == "" {
		t.Error("no DPoP-Nonce offered on an answer to a request with a proof")
	}
	got := e.introspectAs(t, "service", testServiceSecret, a.AccessToken)
	cnf, _ := got["cnf"].(map[string]any)
	if got["active"] != true || got["token_type"] != "DPoP" || cnf["jkt"] != k.jkt {
		t.Errorf("introspection of a bound token: got %v, want active, token_type DPoP, cnf.jkt %s", got, k.jkt)
	}
	// The admin API takes bearer tokens: a bound token is refused there.
	if id, _, err := e.p.ServiceToken(t.Context(), a.AccessToken); id != "" || err != nil {
		t.Errorf("ServiceToken(bound token) = %q, %v; want refused", id, err)
	}
	// Without a proof, the same request gets a bearer token.
	rec = e.tokenRequest(form, "service", testServiceSecret)
	if a := decodeDPoPAnswer(t, rec); rec.Code != http.StatusOK || a.TokenType != "Bearer" || jwtCnf(t, a.AccessToken) != "" {
		t.Errorf("client_credentials without a proof: got %d %+v, want an unbound Bearer token", rec.Code, a)
	}
}

func TestDPoPRequiredByClient(t *testing.T) {
	e, _ := newDPoPEnv(t, func(*Config) {})
	form := url.Values{"grant_type": {"client_credentials"}}
	rec := e.tokenRequest(form, "dpop-service", testServiceSecret)
	if a := decodeDPoPAnswer(t, rec); rec.Code != http.StatusBadRequest || a.Error != "invalid_dpop_proof" {
		t.Errorf("dpop_bound_access_tokens client without a proof: got %d %+v, want 400 invalid_dpop_proof", rec.Code, a)
	}
	k := newDPoPKey(t)
	rec = e.tokenRequest(form, "dpop-service", testServiceSecret, k.proof(t, "POST", testIssuer+tokenPath, e.p.cfg.Now(), nil))
	if a := decodeDPoPAnswer(t, rec); rec.Code != http.StatusOK || jwtCnf(t, a.AccessToken) != k.jkt {
		t.Errorf("dpop_bound_access_tokens client with a proof: got %d %+v, want a token bound to %s", rec.Code, a, k.jkt)
	}
}

// TestDPoPPublicClient: a public client's code exchange with a proof
// binds the access token and the refresh token; userinfo takes the token
// as DPoP with a proof carrying ath, and refuses it as Bearer; the
// refresh token needs a proof by the same key, and stays bound.
func TestDPoPPublicClient(t *testing.T) {
	e, _ := newDPoPEnv(t, func(*Config) {})
	k := newDPoPKey(t)
	tokenURL := testIssuer + tokenPath
	code, verifier := e.signInTo(t, cookieJar{}, "spa", "openid profile offline_access")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect},
		"code_verifier": {verifier}, "client_id": {"spa"}}
	rec := e.tokenRequest(form, "", "", k.proof(t, "POST", tokenURL, e.p.cfg.Now(), nil))
	a := decodeDPoPAnswer(t, rec)
	if rec.Code != http.StatusOK || a.TokenType != "DPoP" || a.RefreshToken == "" {
		t.Fatalf("code exchange with a proof: got %d %+v, want 200, DPoP, a refresh token", rec.Code, a)
	}
	if got := jwtCnf(t, a.AccessToken); got != k.jkt {
		t.Errorf("access token cnf.jkt = %q, want %q", got, k.jkt)
	}
	if g := e.storedGrant(t, a.RefreshToken); g.DPoPJKT != k.jkt {
		t.Errorf("refresh grant bound to %q, want %q", g.DPoPJKT, k.jkt)
	}

	// Userinfo.
	uiURL := testIssuer + userinfoPath
	now := e.p.cfg.Now()
	rec = e.userinfoWith("GET", "DPoP "+a.AccessToken, k.proof(t, "GET", uiURL, now, map[string]any{"ath": athOf(a.AccessToken)}))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"sub":"`+testUserID+`"`) {
		t.Errorf("userinfo with DPoP: got %d %s, want 200 with the user", rec.Code, rec.Body)
	}
	rec = e.userinfoWith("POST", "DPoP "+a.AccessToken, k.proof(t, "POST", uiURL, now, map[string]any{"ath": athOf(a.AccessToken)}))
	if rec.Code != http.StatusOK {
		t.Errorf("userinfo with DPoP by POST: got %d %s, want 200", rec.Code, rec.Body)
	}
	other := newDPoPKey(t)
	for _, tc := range []struct {
		name, auth string
		proofs     []string
		wantErr    string
	}{
		{"bound token as Bearer", "Bearer " + a.AccessToken, nil, "invalid_token"},
		{"bound token as Bearer, with a proof", "Bearer " + a.AccessToken, []string{k.proof(t, "GET", uiURL, now, map[string]any{"ath": athOf(a.AccessToken)})}, "invalid_token"},
		{"DPoP without a proof", "DPoP " + a.AccessToken, nil, "invalid_dpop_proof"},
		{"proof without ath", "DPoP " + a.AccessToken, []string{k.proof(t, "GET", uiURL, now, nil)}, "invalid_dpop_proof"},
		{"ath of another token", "DPoP " + a.AccessToken, []string{k.proof(t, "GET", uiURL, now, map[string]any{"ath": athOf("x")})}, "invalid_dpop_proof"},
		{"proof by another key", "DPoP " + a.AccessToken, []string{other.proof(t, "GET", uiURL, now, map[string]any{"ath": athOf(a.AccessToken)})}, "invalid_token"},
		{"proof for the token endpoint", "DPoP " + a.AccessToken, []string{k.proof(t, "GET", tokenURL, now, map[string]any{"ath": athOf(a.AccessToken)})}, "invalid_dpop_proof"},
		{"proof for POST sent by GET", "DPoP " + a.AccessToken, []string{k.proof(t, "POST", uiURL, now, map[string]any{"ath": athOf(a.AccessToken)})}, "invalid_dpop_proof"},
	} {
		rec := e.userinfoWith("GET", tc.auth, tc.proofs...)
		www := rec.Header().Get("WWW-Authenticate")
		if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(www, "DPoP ") || !strings.Contains(www, `error="`+tc.wantErr+`"`) || !strings.Contains(www, "algs=") {
			t.Errorf("userinfo, %s: got %d, WWW-Authenticate %q; want 401 with a DPoP challenge, error %s", tc.name, rec.Code, www, tc.wantErr)
		}
	}

	// Refresh: without a proof, with another key's: refused (and the
	// family not revoked by the attempt); with the key: a new bound pair.
	rform := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.RefreshToken}, "client_id": {"spa"}}
	for _, tc := range []struct {
		name   string
		proofs []string
	}{
		{"without a proof", nil},
		{"with another key's proof", []string{other.proof(t, "POST", tokenURL, e.p.cfg.Now(), nil)}},
	} {
		rec := e.tokenRequest(rform, "", "", tc.proofs...)
		if got := decodeDPoPAnswer(t, rec); rec.Code != http.StatusBadRequest || got.Error != "invalid_grant" {
			t.Errorf("refresh of a bound token %s: got %d %+v, want 400 invalid_grant", tc.name, rec.Code, got)
		}
	}
	rec = e.tokenRequest(rform, "", "", k.proof(t, "POST", tokenURL, e.p.cfg.Now(), nil))
	r := decodeDPoPAnswer(t, rec)
	if rec.Code != http.StatusOK || r.TokenType != "DPoP" || jwtCnf(t, r.AccessToken) != k.jkt {
		t.Fatalf("refresh with the key: got %d %+v, want 200 and a token bound to %s", rec.Code, r, k.jkt)
	}
	if g := e.storedGrant(t, r.RefreshToken); g.DPoPJKT != k.jkt {
		t.Errorf("rotated refresh grant bound to %q, want %q (kept across rotation)", g.DPoPJKT, k.jkt)
	}
	got := e.introspectAs(t, "web", testWebSecret, r.AccessToken)
	if got["active"] != false {
		t.Errorf("introspection by another client: got %v, want inactive", got)
	}
}

// A confidential client's refresh tokens are not bound (RFC 9449 §5):
// only its access tokens are.
func TestDPoPConfidentialRefreshUnbound(t *testing.T) {
	e, _ := newDPoPEnv(t, func(*Config) {})
	k := newDPoPKey(t)
	code, verifier := e.authorizeCode(t, "openid offline_access")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {verifier}}
	rec := e.tokenRequest(form, "web", testWebSecret, k.proof(t, "POST", testIssuer+tokenPath, e.p.cfg.Now(), nil))
	a := decodeDPoPAnswer(t, rec)
	if rec.Code != http.StatusOK || jwtCnf(t, a.AccessToken) != k.jkt {
		t.Fatalf("code exchange: got %d %+v, want a bound access token", rec.Code, a)
	}
	if g := e.storedGrant(t, a.RefreshToken); g.DPoPJKT != "" {
		t.Errorf("confidential client's refresh grant bound to %q, want unbound", g.DPoPJKT)
	}
	rec = e.refresh(a.RefreshToken)
	if r := decodeDPoPAnswer(t, rec); rec.Code != http.StatusOK || r.TokenType != "Bearer" {
		t.Errorf("refresh without a proof: got %d %+v, want a Bearer token", rec.Code, r)
	}
}

func TestDPoPOpaqueTokenBound(t *testing.T) {
	e, _ := newDPoPEnv(t, func(*Config) {})
	k := newDPoPKey(t)
	code, verifier := e.signInTo(t, cookieJar{}, "opaque", "openid")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect},
		"code_verifier": {verifier}, "client_id": {"opaque"}, "client_secret": {testOpaqueSecret}}
	rec := e.tokenRequest(form, "", "", k.proof(t, "POST", testIssuer+tokenPath, e.p.cfg.Now(), nil))
	a := decodeDPoPAnswer(t, rec)
	if rec.Code != http.StatusOK || !strings.HasPrefix(a.AccessToken, opaquePrefix) {
		t.Fatalf("code exchange: got %d %+v, want an opaque token", rec.Code, a)
	}
	got := e.introspectAs(t, "opaque", testOpaqueSecret, a.AccessToken)
	if cnf, _ := got["cnf"].(map[string]any); cnf["jkt"] != k.jkt {
		t.Errorf("introspection of a bound opaque token: got %v, want cnf.jkt %s", got, k.jkt)
	}
	if rec := e.userinfoWith("GET", "Bearer "+a.AccessToken); rec.Code != http.StatusUnauthorized {
		t.Errorf("bound opaque token as Bearer: got %d, want 401", rec.Code)
	}
}

func TestDPoPProofRefused(t *testing.T) {
	e, _ := newDPoPEnv(t, func(*Config) {})
	k := newDPoPKey(t)
	now := e.p.cfg.Now()
	tokenURL := testIssuer + tokenPath
	replayed := k.proof(t, "POST", tokenURL, now, nil)
	form := url.Values{"grant_type": {"client_credentials"}}
	if rec := e.tokenRequest(form, "service", testServiceSecret, replayed); rec.Code != http.StatusOK {
		t.Fatalf("first use of a proof: got %d %s", rec.Code, rec.Body)
	}
	ec := k.priv
	pub := jose.JSONWebKey{Key: &ec.PublicKey}
	claims := func() map[string]any {
		return map[string]any{"jti": base64.RawURLEncoding.EncodeToString(randomBytes(t, 16)), "htm": "POST", "htu": tokenURL, "iat": now.Unix()}
	}
	h, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": pub})
	c, _ := json.Marshal(claims())
	none := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
	secret := randomBytes(t, 32)
	for _, tc := range []struct {
		name   string
		proofs []string
	}{
		{"a proof for another URL", []string{k.proof(t, "POST", testIssuer+userinfoPath, now, nil)}},
		{"a proof for another host", []string{k.proof(t, "POST", "https://evil.example"+tokenPath, now, nil)}},
		{"a proof for another method", []string{k.proof(t, "GET", tokenURL, now, nil)}},
		{"an expired iat", []string{k.proof(t, "POST", tokenURL, now.Add(-5*time.Minute), nil)}},
		{"a future iat", []string{k.proof(t, "POST", tokenURL, now.Add(5*time.Minute), nil)}},
		{"a replayed jti", []string{replayed}},
		{"alg none", []string{none}},
		{"HS256", []string{signProof(t, jose.HS256, secret, map[jose.HeaderKey]any{"jwk": map[string]string{"kty": "oct", "k": base64.RawURLEncoding.EncodeToString(secret)}}, claims())}},
		{"a private key in jwk", []string{signProof(t, jose.ES256, ec, map[jose.HeaderKey]any{"jwk": &jose.JSONWebKey{Key: ec}}, claims())}},
		{"typ JWT", []string{signProof(t, jose.ES256, ec, map[jose.HeaderKey]any{"typ": "JWT"}, claims())}},
		{"two DPoP headers", []string{k.proof(t, "POST", tokenURL, now, nil), k.proof(t, "POST", tokenURL, now, nil)}},
	} {
		rec := e.tokenRequest(form, "service", testServiceSecret, tc.proofs...)
		if a := decodeDPoPAnswer(t, rec); rec.Code != http.StatusBadRequest || a.Error != "invalid_dpop_proof" {
			t.Errorf("token request with %s: got %d %+v, want 400 invalid_dpop_proof", tc.name, rec.Code, a)
		}
	}
	// The Host header plays no part: htu is the issuer's URL.
	req := httptest.NewRequest(http.MethodPost, "https://evil.example"+tokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("service", testServiceSecret)
	req.Header.Set("DPoP", k.proof(t, "POST", "https://evil.example"+tokenPath, now, nil))
	if rec := e.do(req); rec.Code != http.StatusBadRequest {
		t.Errorf("a proof for the Host header's URL: got %d %s, want 400", rec.Code, rec.Body)
	}
}

func TestDPoPNonceRequired(t *testing.T) {
	e, clk := newDPoPEnv(t, func(cfg *Config) { cfg.DPoPNonceRequired = true })
	k := newDPoPKey(t)
	tokenURL := testIssuer + tokenPath
	form := url.Values{"grant_type": {"client_credentials"}}
	rec := e.tokenRequest(form, "service", testServiceSecret, k.proof(t, "POST", tokenURL, clk.now(), nil))
	nonce := rec.Header().Get("DPoP-Nonce")
	if a := decodeDPoPAnswer(t, rec); rec.Code != http.StatusBadRequest || a.Error != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("a proof without a nonce: got %d %+v, nonce %q; want 400 use_dpop_nonce with a DPoP-Nonce", rec.Code, a, nonce)
	}
	rec = e.tokenRequest(form, "service", testServiceSecret, k.proof(t, "POST", tokenURL, clk.now(), map[string]any{"nonce": nonce}))
	if rec.Code != http.StatusOK {
		t.Fatalf("a proof with the nonce: got %d %s, want 200", rec.Code, rec.Body)
	}
	for _, tc := range []struct{ name, nonce string }{
		{"a made-up nonce", "bm90LWEtbm9uY2U"},
		{"a nonce from a quarter of an hour ago", nonce},
	} {
		clk.advance(15 * time.Minute / 2) // ends 15 minutes on
		rec := e.tokenRequest(form, "service", testServiceSecret, k.proof(t, "POST", tokenURL, clk.now(), map[string]any{"nonce": tc.nonce}))
		if a := decodeDPoPAnswer(t, rec); rec.Code != http.StatusBadRequest || a.Error != "use_dpop_nonce" || rec.Header().Get("DPoP-Nonce") == nonce {
			t.Errorf("%s: got %d %+v, want 400 use_dpop_nonce and a new nonce", tc.name, rec.Code, a)
		}
	}
	// Userinfo asks for nonces too, with a DPoP challenge.
	code, verifier := e.signInTo(t, cookieJar{}, "spa", "openid")
	cform := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {verifier}, "client_id": {"spa"}}
	rec = e.tokenRequest(cform, "", "", k.proof(t, "POST", tokenURL, clk.now(), map[string]any{"nonce": e.p.dpopNonces.Nonce(clk.now())}))
	a := decodeDPoPAnswer(t, rec)
	if rec.Code != http.StatusOK {
		t.Fatalf("code exchange with a nonce: got %d %+v", rec.Code, a)
	}
	uiURL := testIssuer + userinfoPath
	rec = e.userinfoWith("GET", "DPoP "+a.AccessToken, k.proof(t, "GET", uiURL, clk.now(), map[string]any{"ath": athOf(a.AccessToken)}))
	www := rec.Header().Get("WWW-Authenticate")
	nonce = rec.Header().Get("DPoP-Nonce")
	if rec.Code != http.StatusUnauthorized || !strings.Contains(www, `error="use_dpop_nonce"`) || nonce == "" {
		t.Fatalf("userinfo without a nonce: got %d, WWW-Authenticate %q, nonce %q; want 401 use_dpop_nonce", rec.Code, www, nonce)
	}
	rec = e.userinfoWith("GET", "DPoP "+a.AccessToken, k.proof(t, "GET", uiURL, clk.now(), map[string]any{"ath": athOf(a.AccessToken), "nonce": nonce}))
	if rec.Code != http.StatusOK {
		t.Errorf("userinfo with the nonce: got %d %s, want 200", rec.Code, rec.Body)
	}
}

// A public client's family started without a proof is bound from the
// first refresh that carries one, and refused without it afterwards.
func TestDPoPPublicClientBoundAtFirstProof(t *testing.T) {
	e, _ := newDPoPEnv(t, func(*Config) {})
	k := newDPoPKey(t)
	tokenURL := testIssuer + tokenPath
	code, verifier := e.signInTo(t, cookieJar{}, "spa", "openid offline_access")
	rec := e.tokenRequest(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect},
		"code_verifier": {verifier}, "client_id": {"spa"}}, "", "")
	a := decodeDPoPAnswer(t, rec)
	if rec.Code != http.StatusOK || a.TokenType != "Bearer" || e.storedGrant(t, a.RefreshToken).DPoPJKT != "" {
		t.Fatalf("code exchange without a proof: got %d %+v, want an unbound Bearer answer", rec.Code, a)
	}
	rec = e.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {a.RefreshToken}, "client_id": {"spa"}}, "", "",
		k.proof(t, "POST", tokenURL, e.p.cfg.Now(), nil))
	r := decodeDPoPAnswer(t, rec)
	if rec.Code != http.StatusOK || e.storedGrant(t, r.RefreshToken).DPoPJKT != k.jkt {
		t.Fatalf("first refresh with a proof: got %d %+v, want the next refresh token bound to %s", rec.Code, r, k.jkt)
	}
	rec = e.tokenRequest(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.RefreshToken}, "client_id": {"spa"}}, "", "")
	if got := decodeDPoPAnswer(t, rec); rec.Code != http.StatusBadRequest || got.Error != "invalid_grant" {
		t.Errorf("refresh without a proof after binding: got %d %+v, want 400 invalid_grant", rec.Code, got)
	}
}
