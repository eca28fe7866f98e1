package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// registrationEnv is a provider with registration on, over SQLite, with a
// clock the test moves.
func registrationEnv(t *testing.T, wrap func(*sqlite.Store) Store) (*testEnv, *time.Time) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	e := newTestEnvConfig(t, wrap, func(cfg *Config) {
		cfg.Registration = true
		cfg.Now = func() time.Time { return now }
	})
	return e, &now
}

// mint stores an initial access token valid for ttl from now.
func mint(t *testing.T, e *testEnv, token string, now time.Time, ttl time.Duration) {
	t.Helper()
	if err := e.store.CreateInitialAccessToken(t.Context(), &storage.InitialAccessToken{
		ID: token[:4], Hash: TokenHash(token), ExpiresAt: now.Add(ttl), CreatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
}

func registerReq(e *testEnv, method, path, token, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, testIssuer+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

func decodeJSON(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("answer %d is not JSON: %q", rec.Code, rec.Body)
	}
	return m
}

// TestRegistrationTokenExpiry: a token works until its expiry instant and
// not at it.
func TestRegistrationTokenExpiry(t *testing.T) {
	e, now := registrationEnv(t, func(s *sqlite.Store) Store { return s })
	mint(t, e, "token-expiring", *now, time.Hour)
	body := `{"redirect_uris":["https://app.example/cb"]}`
	if rec := registerReq(e, http.MethodPost, registerPath, "token-expiring", body); rec.Code != http.StatusCreated {
		t.Fatalf("before expiry: got %d %s, want 201", rec.Code, rec.Body)
	}
	*now = now.Add(time.Hour)
	rec := registerReq(e, http.MethodPost, registerPath, "token-expiring", body)
	if rec.Code != http.StatusUnauthorized || decodeJSON(t, rec)["error"] != "invalid_token" ||
		!strings.Contains(rec.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("at expiry: got %d %s (WWW-Authenticate %q), want 401 invalid_token", rec.Code, rec.Body, rec.Header().Get("WWW-Authenticate"))
	}
}

// TestRegistrationDiscovery: registration_endpoint is advertised when on.
func TestRegistrationDiscovery(t *testing.T) {
	e, _ := registrationEnv(t, func(s *sqlite.Store) Store { return s })
	rec := e.do(httptest.NewRequest(http.MethodGet, testIssuer+"/.well-known/openid-configuration", nil))
	if got := decodeJSON(t, rec)["registration_endpoint"]; got != testIssuer+registerPath {
		t.Errorf("registration_endpoint: got %v, want %s", got, testIssuer+registerPath)
	}
}

// TestRegistrationServerFetchedURIs: jwks_uri and backchannel_logout_uri,
// which Gatehouse itself calls, may not name this machine or an internal
// address, however the address is written.
func TestRegistrationServerFetchedURIs(t *testing.T) {
	e, now := registrationEnv(t, func(s *sqlite.Store) Store { return s })
	mint(t, e, "token-ssrf", *now, time.Hour)
	jwksURI := func(uri string) string {
		return `{"token_endpoint_auth_method":"private_key_jwt","grant_types":["client_credentials"],"jwks_uri":"` + uri + `"}`
	}
	backchannel := func(uri string) string {
		return `{"redirect_uris":["https://app.example/cb"],"backchannel_logout_uri":"` + uri + `"}`
	}
	for name, body := range map[string]string{
		"a loopback jwks_uri":                     jwksURI("http://127.0.0.1:6379/keys"),
		"an https loopback jwks_uri":              jwksURI("https://127.0.0.1/keys"),
		"a localhost backchannel_logout_uri":      backchannel("http://localhost:8080/admin"),
		"a metadata-service jwks_uri":             jwksURI("https://169.254.169.254/latest/meta-data/"),
		"a private jwks_uri":                      jwksURI("https://10.0.0.5/keys"),
		"a shared-space jwks_uri":                 jwksURI("https://100.100.100.200/keys"),
		"an IPv4-mapped loopback jwks_uri":        jwksURI("https://[::ffff:127.0.0.1]/keys"),
		"an IPv6 loopback backchannel_logout_uri": backchannel("https://[::1]/logout"),
		"a unique-local backchannel_logout_uri":   backchannel("https://[fd00::5]/logout"),
		"a private backchannel_logout_uri":        backchannel("https://192.168.1.10/logout"),
		"an unspecified backchannel_logout_uri":   backchannel("https://0.0.0.0/logout"),
	} {
		rec := registerReq(e, http.MethodPost, registerPath, "token-ssrf", body)
		if m := decodeJSON(t, rec); rec.Code != http.StatusBadRequest || m["error"] != "invalid_client_metadata" ||
			!strings.Contains(m["error_description"].(string), "public host") {
			t.Errorf("%s: got %d %s, want 400 invalid_client_metadata asking for a public host", name, rec.Code, rec.Body)
		}
	}
	// A public address, and a name (checked where it is dialled), pass.
	for _, body := range []string{jwksURI("https://93.184.216.34/keys"), backchannel("https://rp.example/logout")} {
		if rec := registerReq(e, http.MethodPost, registerPath, "token-ssrf", body); rec.Code != http.StatusCreated {
			t.Errorf("register %s: got %d %s, want 201", body, rec.Code, rec.Body)
		}
	}
}

// staleStore answers every UpdateClient with ErrStale, as when another
// request changed the client between the read and the write.
type staleStore struct{ *sqlite.Store }

func (s staleStore) UpdateClient(context.Context, *storage.Client, int64, time.Time) error {
	return storage.ErrStale
}

// TestRegistrationUpdateConflict: an update that lost a race answers 409
// and changes nothing.
func TestRegistrationUpdateConflict(t *testing.T) {
	e, now := registrationEnv(t, func(s *sqlite.Store) Store { return staleStore{s} })
	mint(t, e, "token-stale", *now, time.Hour)
	rec := registerReq(e, http.MethodPost, registerPath, "token-stale", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"none"}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("register: %d %s", rec.Code, rec.Body)
	}
	reg := decodeJSON(t, rec)
	id, regToken := reg["client_id"].(string), reg["registration_access_token"].(string)
	upd := registerReq(e, http.MethodPut, registerPath+"/"+id, regToken, `{"client_id":"`+id+`","redirect_uris":["https://app.example/other"],"token_endpoint_auth_method":"none"}`)
	if upd.Code != http.StatusConflict {
		t.Errorf("update losing a race: got %d %s, want 409", upd.Code, upd.Body)
	}
	c, err := e.store.Client(t.Context(), id)
	if err != nil || c.RedirectURIs[0] != "https://app.example/cb" || c.Version != 1 {
		t.Errorf("after the refused update: got %+v, %v; want the client unchanged", c, err)
	}
}

// failingRegistrations fails RegisterClient as a store outage would.
type failingRegistrations struct{ *sqlite.Store }

func (s failingRegistrations) RegisterClient(context.Context, *storage.Client, string, string, time.Time) (string, error) {
	return "", errors.New("connection refused")
}

// TestRegistrationStoreFailure: a store failure is a 503 with Retry-After,
// never a 4xx (the token is not blamed) and never its detail.
func TestRegistrationStoreFailure(t *testing.T) {
	e, now := registrationEnv(t, func(s *sqlite.Store) Store { return failingRegistrations{s} })
	mint(t, e, "token-outage", *now, time.Hour)
	rec := registerReq(e, http.MethodPost, registerPath, "token-outage", `{"redirect_uris":["https://app.example/cb"]}`)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || strings.Contains(rec.Body.String(), "refused") {
		t.Errorf("store failure: got %d %s (Retry-After %q), want 503 with Retry-After and no detail", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
}

// TestRegistrationNativeApp: a native app registered with a loopback and a
// private-use redirect URI is public (none, no secret) by default.
func TestRegistrationNativeApp(t *testing.T) {
	e, now := registrationEnv(t, func(s *sqlite.Store) Store { return s })
	mint(t, e, "token-native", *now, time.Hour)
	rec := registerReq(e, http.MethodPost, registerPath, "token-native",
		`{"application_type":"native","redirect_uris":["http://127.0.0.1/cb","com.example.app:/cb"],"client_name":"App"}`)
	m := decodeJSON(t, rec)
	if rec.Code != http.StatusCreated || m["token_endpoint_auth_method"] != "none" || m["client_secret"] != nil || m["client_secret_expires_at"] != nil {
		t.Fatalf("native app: got %d %s, want 201, none, no secret", rec.Code, rec.Body)
	}
	// Bad input tried: a native app asking for a secret.
	rec = registerReq(e, http.MethodPost, registerPath, "token-native",
		`{"application_type":"native","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"client_secret_basic"}`)
	if m := decodeJSON(t, rec); rec.Code != http.StatusBadRequest || !strings.Contains(m["error_description"].(string), "native apps are public clients") {
		t.Errorf("native app with a secret: got %d %s, want 400 saying native apps are public", rec.Code, rec.Body)
	}
}
