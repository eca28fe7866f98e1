package provider

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/keys"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/mfa/mfatest"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

const (
	testIssuer        = "https://op.example"
	testWebSecret     = "web-secret-0123456789abcdef0123456789abcdef"
	testPostSecret    = "post-secret-0123456789abcdef0123456789abcdef"
	testOpaqueSecret  = "opaque-secret-0123456789abcdef0123456789abcdef"
	testServiceSecret = "service-secret-0123456789abcdef0123456789abcdef"
	testES256Secret   = "es256-secret-0123456789abcdef0123456789abcdef"
	testEdDSASecret   = "eddsa-secret-0123456789abcdef0123456789abcdef"
	testIdleSecret    = "idle-secret-0123456789abcdef0123456789abcdef"
	testNoGraceSecret = "nograce-secret-0123456789abcdef0123456789abcdef"
	testGraceSecret   = "grace-secret-0123456789abcdef0123456789abcdef"
	testThirdSecret   = "third-secret-0123456789abcdef0123456789abcdef"
	testUsername      = "alice"
	testPassword      = "correct horse battery staple"
	testUserID        = "user-alice"
	webRedirect       = "https://app.example/cb"
	nativeLoopback    = "http://127.0.0.1/callback"
)

// cheapArgon2 keeps test users fast to verify; production parameters are
// covered in package loginui.
var cheapArgon2 = loginui.Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// testClients are the relying parties every test provider knows. Only
// "es256" and "eddsa" name an id_token_signed_response_alg; the others get
// the provider's default. Only "idle", "nograce" and "grace10" (all
// client_secret_post) have their own refresh-token policy; the others get
// the provider's defaults.
func testClients() []storage.Client {
	clients := firstPartyClients()
	for i := range clients {
		clients[i].SkipConsent = true
	}
	return append(clients, storage.Client{
		ID: "third", Name: "Third-party <App>", SecretHash: clientpolicy.HashSecret(testThirdSecret),
		RedirectURIs:            []string{webRedirect},
		PostLogoutRedirectURIs:  []string{webRedirect + "/bye"},
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: "client_secret_post", ApplicationType: "web",
		BackchannelLogoutURI: "https://third.example/backchannel", BackchannelLogoutSessionRequired: true,
		FrontchannelLogoutURI: "https://third.example/frontchannel", FrontchannelLogoutSessionRequired: true,
	})
}

// firstPartyClients are the test clients that skip consent.
func firstPartyClients() []storage.Client {
	return []storage.Client{
		{
			ID: "web", Name: "Web App", SecretHash: clientpolicy.HashSecret(testWebSecret),
			RedirectURIs:            []string{webRedirect},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_basic", ApplicationType: "web",
		},
		{
			ID: "post", Name: "Post App", SecretHash: clientpolicy.HashSecret(testPostSecret),
			RedirectURIs:            []string{webRedirect},
			GrantTypes:              []string{"authorization_code"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_post", ApplicationType: "web",
		},
		{
			ID: "service", Name: "Reporting job", SecretHash: clientpolicy.HashSecret(testServiceSecret),
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"reports:read", "reports:write"},
			TokenEndpointAuthMethod: "client_secret_basic", ApplicationType: "web",
		},
		{
			ID: "native", Name: "Native App",
			RedirectURIs:            []string{nativeLoopback, "http://[::1]/callback", "com.example.app:/oauth2redirect"},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "none", ApplicationType: "native",
		},
		{
			ID: "opaque", Name: "Opaque App", SecretHash: clientpolicy.HashSecret(testOpaqueSecret),
			RedirectURIs:            []string{webRedirect},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_post", ApplicationType: "web",
			AccessTokenFormat: "opaque",
		},
		{
			ID: "es256", Name: "ES256 App", SecretHash: clientpolicy.HashSecret(testES256Secret),
			RedirectURIs:            []string{webRedirect},
			GrantTypes:              []string{"authorization_code", "refresh_token", "client_credentials"},
			ResponseTypes:           []string{"code"},
			Scopes:                  []string{"reports:read"},
			TokenEndpointAuthMethod: "client_secret_post", ApplicationType: "web",
			IDTokenSignedResponseAlg: "ES256",
		},
		{
			ID: "eddsa", Name: "EdDSA App", SecretHash: clientpolicy.HashSecret(testEdDSASecret),
			RedirectURIs:            []string{webRedirect},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_post", ApplicationType: "web",
			IDTokenSignedResponseAlg: "EdDSA",
		},
		{
			ID: "idle", Name: "Idle-limited App", SecretHash: clientpolicy.HashSecret(testIdleSecret),
			RedirectURIs:            []string{webRedirect},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_post", ApplicationType: "web",
			RefreshTokenIdleTTL:     time.Hour,
			RefreshTokenAbsoluteTTL: 24 * time.Hour,
		},
		{
			ID: "nograce", Name: "No-grace App", SecretHash: clientpolicy.HashSecret(testNoGraceSecret),
			RedirectURIs:            []string{webRedirect},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_post", ApplicationType: "web",
			RefreshGracePeriod: storage.NoRefreshGrace,
		},
		{
			ID: "grace10", Name: "Grace App", SecretHash: clientpolicy.HashSecret(testGraceSecret),
			RedirectURIs:            []string{webRedirect},
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			TokenEndpointAuthMethod: "client_secret_post", ApplicationType: "web",
			RefreshGracePeriod: 10 * time.Second,
		},
	}
}

// testEnv is a provider over a real SQLite store in t.TempDir.
type testEnv struct {
	p     *Provider
	store *sqlite.Store
	keys  *keys.Manager
	ui    *loginui.UI
	h     http.Handler
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	return newTestEnvWith(t, func(s *sqlite.Store) Store { return s })
}

// newTestEnvWith is newTestEnv with the provider's store wrapped, for tests
// that make the store fail.
func newTestEnvWith(t testing.TB, wrap func(*sqlite.Store) Store) *testEnv {
	t.Helper()
	return newTestEnvConfig(t, wrap, func(*Config) {})
}

// newTestEnvConfig is newTestEnvWith with the provider's Config adjusted
// by mod (a clock, a grace window…).
func newTestEnvConfig(t testing.TB, wrap func(*sqlite.Store) Store, mod func(*Config)) *testEnv {
	t.Helper()
	ctx := t.Context()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { store.Close() })

	sealer, err := keys.NewSealer(randomBytes(t, 32))
	if err != nil {
		t.Fatalf("keys.NewSealer: %v", err)
	}
	km := keys.NewManager(store, sealer, keys.Options{})
	if err := km.Ensure(ctx); err != nil {
		t.Fatalf("keys Ensure: %v", err)
	}
	if _, err := store.SyncClients(ctx, testClients(), time.Now()); err != nil {
		t.Fatalf("SyncClients: %v", err)
	}
	hash, err := loginui.HashPassword(testPassword, cheapArgon2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := store.CreateUser(ctx, &storage.User{
		ID: testUserID, Username: testUsername, Name: "Alice", Email: "alice@example.com",
		EmailVerified: true, PasswordHash: hash, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}

	var cryptoKey [32]byte
	copy(cryptoKey[:], randomBytes(t, 32))
	cfg := Config{Issuer: testIssuer, CryptoKey: cryptoKey, RefreshKey: randomBytes(t, 32)}
	mod(&cfg)
	cfg.UI = loginui.Config{
		CSRFKey:         randomBytes(t, 32),
		Logger:          cfg.Logger,  // as serve does
		PasswordHashing: cheapArgon2, // the user's hash is cheap: no sign-in replaces it
	}
	p, err := New(context.Background(), cfg, wrap(store), km)
	if err != nil {
		t.Fatalf("provider.New: %v", err)
	}
	return &testEnv{p: p, store: store, keys: km, ui: p.ui, h: p.Handler(km.JWKSHandler())}
}

// do serves req and returns the recorded response.
func (e *testEnv) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// cookieJar carries cookies by name between recorded requests: the
// __Host- cookies are Secure, which net/http/cookiejar would not send to
// an httptest URL.
type cookieJar map[string]string

func (j cookieJar) take(rec *httptest.ResponseRecorder) {
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(j, c.Name)
			continue
		}
		j[c.Name] = c.Value
	}
}

func (j cookieJar) add(req *http.Request) {
	for name, value := range j {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// tokenResponse is the token endpoint's success answer.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// codeFlow runs a whole authorization code flow for the web client as a
// browser would (authorize, login form, callback) and redeems the code.
func (e *testEnv) codeFlow(t testing.TB, scope string) tokenResponse {
	t.Helper()
	code, verifier := e.authorizeCode(t, scope)
	rec := e.exchangeCode(code, verifier, "web", testWebSecret)
	if rec.Code != http.StatusOK {
		t.Fatalf("token: got status %d, want 200; body %s", rec.Code, rec.Body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil {
		t.Fatalf("token response: %v", err)
	}
	return tr
}

// authorizeCode signs alice in to the web client through the browser
// endpoints and returns the authorization code and its PKCE verifier.
func (e *testEnv) authorizeCode(t testing.TB, scope string) (code, verifier string) {
	t.Helper()
	return e.signIn(t, cookieJar{}, scope)
}

// signIn is authorizeCode with the browser's cookies kept in jar.
func (e *testEnv) signIn(t testing.TB, jar cookieJar, scope string) (code, verifier string) {
	t.Helper()
	return e.signInTo(t, jar, "web", scope)
}

// signInTo is signIn for the client clientID, which must have webRedirect
// among its redirect URIs.
func (e *testEnv) signInTo(t testing.TB, jar cookieJar, clientID, scope string) (code, verifier string) {
	t.Helper()
	verifier = base64.RawURLEncoding.EncodeToString(randomBytes(t, 32))
	q := url.Values{
		"client_id": {clientID}, "redirect_uri": {webRedirect}, "response_type": {"code"},
		"scope": {scope}, "state": {"st"}, "nonce": {"nn"},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"},
	}
	rec := e.do(httptest.NewRequest(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil))
	if rec.Code != http.StatusFound {
		t.Fatalf("authorize: got status %d, want 302; body %s", rec.Code, rec.Body)
	}
	jar.take(rec)
	loginLoc := rec.Header().Get("Location")
	id := mustParseURL(t, loginLoc).Query().Get("id")

	req := httptest.NewRequest(http.MethodGet, testIssuer+loginLoc, nil)
	jar.add(req)
	rec = e.do(req)
	m := csrfField.FindStringSubmatch(rec.Body.String())
	if rec.Code != http.StatusOK || m == nil {
		t.Fatalf("login page: got status %d and no csrf token, want 200 with a form; body %s", rec.Code, rec.Body)
	}

	form := url.Values{"id": {id}, "csrf_token": {m[1]}, "username": {testUsername}, "password": {testPassword}}
	req = httptest.NewRequest(http.MethodPost, testIssuer+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	jar.add(req)
	rec = e.do(req)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("login: got status %d, want 303; body %s", rec.Code, rec.Body)
	}
	jar.take(rec)

	req = httptest.NewRequest(http.MethodGet, rec.Header().Get("Location"), nil)
	jar.add(req)
	rec = e.do(req)
	if rec.Code != http.StatusFound {
		t.Fatalf("callback: got status %d, want 302; body %s", rec.Code, rec.Body)
	}
	back := mustParseURL(t, rec.Header().Get("Location"))
	code = back.Query().Get("code")
	if code == "" || back.Query().Get("iss") != testIssuer || back.Query().Get("state") != "st" {
		t.Fatalf("callback redirect: got %s, want code, iss=%s and state=st", back, testIssuer)
	}
	return code, verifier
}

// testTOTPSecret is the one-time-code secret enrolTOTP gives the test user.
const testTOTPSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// enrolTOTP gives the test user a one-time code (testTOTPSecret), sealed
// as the login UI seals it.
func (e *testEnv) enrolTOTP(t testing.TB) {
	t.Helper()
	sealed, err := e.keys.Sealer().Seal([]byte(testTOTPSecret), []byte("totp:"+testUserID))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetTOTP(t.Context(), &storage.TOTPCredential{UserID: testUserID, SealedSecret: sealed,
		KEKID: e.keys.Sealer().KEKID(), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// signInWithCode is signIn for a user with a one-time code: the password,
// then the code of the current step.
func (e *testEnv) signInWithCode(t testing.TB, jar cookieJar, scope string) {
	t.Helper()
	q := url.Values{
		"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"code"}, "scope": {scope}, "state": {"st"},
		"code_challenge": {s256("verifier-verifier-verifier-verifier-verifier")}, "code_challenge_method": {"S256"},
	}
	rec := e.do(httptest.NewRequest(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil))
	jar.take(rec)
	loginLoc := rec.Header().Get("Location")
	req := httptest.NewRequest(http.MethodGet, testIssuer+loginLoc, nil)
	jar.add(req)
	rec = e.do(req)
	m := csrfField.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("login page: %d %s", rec.Code, rec.Body)
	}
	post := func(path string, form url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		jar.add(req)
		rec := e.do(req)
		jar.take(rec)
		return rec
	}
	id := mustParseURL(t, loginLoc).Query().Get("id")
	rec = post("/login", url.Values{"id": {id}, "csrf_token": {m[1]}, "username": {testUsername}, "password": {testPassword}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login/factor" {
		t.Fatalf("login: got %d to %q, want 303 to /login/factor", rec.Code, rec.Header().Get("Location"))
	}
	req = httptest.NewRequest(http.MethodGet, testIssuer+"/login/factor", nil)
	jar.add(req)
	rec = e.do(req)
	if m = csrfField.FindStringSubmatch(rec.Body.String()); m == nil {
		t.Fatalf("code page: %d %s", rec.Code, rec.Body)
	}
	code, err := mfatest.Code(testTOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec = post("/login/factor", url.Values{"csrf_token": {m[1]}, "method": {"totp"}, "code": {code}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("code: got %d, want 303; body %s", rec.Code, rec.Body)
	}
	req = httptest.NewRequest(http.MethodGet, rec.Header().Get("Location"), nil)
	jar.add(req)
	if rec = e.do(req); rec.Code != http.StatusFound || mustParseURL(t, rec.Header().Get("Location")).Query().Get("code") == "" {
		t.Fatalf("callback: got %d to %q, want the code", rec.Code, rec.Header().Get("Location"))
	}
}

// exchangeCode redeems code at the token endpoint as clientID, with Basic
// auth for the web client and the secret in the body otherwise.
func (e *testEnv) exchangeCode(code, verifier, clientID, secret string) *httptest.ResponseRecorder {
	tf := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {verifier}}
	if clientID != "web" {
		tf.Set("client_id", clientID)
		tf.Set("client_secret", secret)
	}
	req := httptest.NewRequest(http.MethodPost, testIssuer+tokenPath, strings.NewReader(tf.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if clientID == "web" {
		req.SetBasicAuth(clientID, secret)
	}
	return e.do(req)
}

func mustParseURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return u
}

// goldenCompare compares got with testdata/name, or rewrites the file
// under -update.
func goldenCompare(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s\n(run go test -update to accept)", path, got, want)
	}
}
