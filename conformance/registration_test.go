package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// startRegistrationServer starts Gatehouse with dynamic client
// registration on (registration: initial_access_token).
func startRegistrationServer(t *testing.T) *server {
	t.Helper()
	return launch(t, &server{t: t, dir: newStateDir(t), host: "127.0.0.1", backendEnv: suiteBackend(t),
		extraEnv: []string{"GATEHOUSE_REGISTRATION=initial_access_token"}})
}

// mintToken runs `gatehouse clients token` with args and returns the token
// it printed.
func mintToken(t *testing.T, s *server, args ...string) string {
	t.Helper()
	out, err := s.gatehouseCLI("", append([]string{"clients", "token"}, args...)...)
	if err != nil {
		t.Fatalf("gatehouse clients token: %v\n%s", err, out)
	}
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || !strings.Contains(lines[0], "shown once") {
		t.Fatalf("gatehouse clients token printed %q, want the token on its second line", out)
	}
	return strings.TrimSpace(lines[1])
}

// answer is a registration endpoint's answer.
type answer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// registration sends method to u with the bearer token and body (JSON
// unless contentType says otherwise).
func registration(t *testing.T, method, u, token, contentType string, body []byte) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &a.body)
	}
	return a
}

// rfc7591Example is the client registration request of RFC 7591 §3.1,
// adapted: its jwks_uri is left out, since a client_secret_basic client has
// no keys in Gatehouse (clientpolicy). The localized client_name#ja-Jpan-JP,
// logo_uri and example_extension_parameter are metadata Gatehouse does not
// keep, ignored as RFC 7591 §2 allows.
const rfc7591Example = `{
  "redirect_uris": [
    "https://client.example.org/callback",
    "https://client.example.org/callback2"],
  "client_name": "My Example Client",
  "client_name#ja-Jpan-JP":
     "\u30AF\u30E9\u30A4\u30A2\u30F3\u30C8\u540D",
  "token_endpoint_auth_method": "client_secret_basic",
  "logo_uri": "https://client.example.org/logo.png",
  "example_extension_parameter": "example_value"
}`

// TestDynamicRegistration registers RFC 7591's example client with an
// initial access token minted by the CLI, signs in through it with
// x/oauth2 and go-oidc, then reads, updates and deletes it (RFC 7592).
func TestDynamicRegistration(t *testing.T) {
	s := startRegistrationServer(t)
	p, err := oidc.NewProvider(context.Background(), s.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	var meta struct {
		RegistrationEndpoint string `json:"registration_endpoint"`
	}
	if err := p.Claims(&meta); err != nil || meta.RegistrationEndpoint != s.issuer+"/register" {
		t.Fatalf("discovery registration_endpoint: got %q (%v), want %q", meta.RegistrationEndpoint, err, s.issuer+"/register")
	}
	token := mintToken(t, s, "--expires", "1h", "--max-uses", "5")

	reg := registration(t, http.MethodPost, meta.RegistrationEndpoint, token, "application/json", []byte(rfc7591Example))
	if reg.status != http.StatusCreated {
		t.Fatalf("register RFC 7591's example: got %d %s, want 201", reg.status, reg.raw)
	}
	if cc := reg.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("registration answer Cache-Control: got %q, want no-store", cc)
	}
	clientID, _ := reg.body["client_id"].(string)
	secret, _ := reg.body["client_secret"].(string)
	regToken, _ := reg.body["registration_access_token"].(string)
	regURI, _ := reg.body["registration_client_uri"].(string)
	if clientID == "" || len(secret) < 43 || len(regToken) < 43 || regURI != s.issuer+"/register/"+clientID {
		t.Fatalf("registration answer: got %s, want client_id, a 256-bit client_secret and registration_access_token, registration_client_uri %s/register/<id>", reg.raw, s.issuer)
	}
	if reg.body["client_secret_expires_at"] != float64(0) || reg.body["client_name"] != "My Example Client" ||
		reg.body["token_endpoint_auth_method"] != "client_secret_basic" || reg.body["logo_uri"] != nil {
		t.Errorf("registration answer: got %s, want client_secret_expires_at 0, the name and method as sent, no logo_uri (not kept)", reg.raw)
	}

	// The registered client signs a user in: login form, consent, code,
	// tokens verified by go-oidc.
	r := &rp{t: t, provider: p, verifier: p.Verifier(&oidc.Config{ClientID: clientID}), conf: oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: "https://client.example.org/callback",
		Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile"},
	}}
	r.conf.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	b := newBrowser(t)
	f := newFlow()
	next := b.login(r.authURL(f), "admin", adminPassword)
	if next.Path != "/consent" {
		t.Fatalf("after sign-in: sent to %s, want the consent page (a registered client never skips consent)", next)
	}
	page := b.get(next.String())
	fields := formFields(page.body)
	fields.Set("decision", "allow")
	done := b.postForm(s.issuer+"/consent", fields)
	resp, err := url.Parse(done.location)
	if err != nil || done.status/100 != 3 {
		t.Fatalf("consent: got %d to %q", done.status, done.location)
	}
	code := r.code(s, f, resp)
	_, idt := r.exchange(f, code)
	if len(idt.Audience) != 1 || idt.Audience[0] != clientID {
		t.Errorf("ID token aud: got %v, want [%s]", idt.Audience, clientID)
	}

	// RFC 7592: read with the registration access token.
	got := registration(t, http.MethodGet, regURI, regToken, "", nil)
	if got.status != http.StatusOK || got.body["client_id"] != clientID || got.body["client_secret"] != nil {
		t.Fatalf("read: got %d %s, want 200 with the client and no secret", got.status, got.raw)
	}
	// Another client's registration token, the initial access token, none.
	other := registration(t, http.MethodPost, meta.RegistrationEndpoint, token, "application/json",
		[]byte(`{"redirect_uris":["https://other.example/cb"],"client_name":"Other"}`))
	if other.status != http.StatusCreated {
		t.Fatalf("register another client: got %d %s", other.status, other.raw)
	}
	otherToken, _ := other.body["registration_access_token"].(string)
	for name, tok := range map[string]string{"another client's registration token": otherToken, "the initial access token": token, "no token": ""} {
		for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
			a := registration(t, m, regURI, tok, "application/json", []byte(`{"client_id":"`+clientID+`","redirect_uris":["https://evil.example/cb"]}`))
			if a.status != http.StatusUnauthorized || !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s %s with %s: got %d %s, want 401 with WWW-Authenticate", m, regURI, name, a.status, a.raw)
			}
		}
	}
	// A clients.yaml client is never reachable here, whatever the token.
	for _, tok := range []string{regToken, token} {
		if a := registration(t, http.MethodGet, s.issuer+"/register/web-basic", tok, "", nil); a.status != http.StatusUnauthorized {
			t.Errorf("GET /register/web-basic (clients.yaml): got %d %s, want 401", a.status, a.raw)
		}
	}

	// Update: a new name and only one redirect URI; the secret is kept.
	upd := registration(t, http.MethodPut, regURI, regToken, "application/json", []byte(fmt.Sprintf(
		`{"client_id":%q,"client_secret":%q,"redirect_uris":["https://client.example.org/callback"],"client_name":"Renamed"}`, clientID, secret)))
	if upd.status != http.StatusOK || upd.body["client_name"] != "Renamed" || upd.body["client_secret"] != nil {
		t.Fatalf("update: got %d %s, want 200, renamed, no new secret", upd.status, upd.raw)
	}
	// Bad input tried: another client's id, a wrong secret.
	for name, body := range map[string]string{
		"another client_id": `{"client_id":"web-basic","redirect_uris":["https://client.example.org/callback"]}`,
		"a wrong secret":    fmt.Sprintf(`{"client_id":%q,"client_secret":"wrong","redirect_uris":["https://client.example.org/callback"]}`, clientID),
	} {
		if a := registration(t, http.MethodPut, regURI, regToken, "application/json", []byte(body)); a.status != http.StatusBadRequest || a.body["error"] != "invalid_client_metadata" {
			t.Errorf("update with %s: got %d %s, want 400 invalid_client_metadata", name, a.status, a.raw)
		}
	}
	f2 := newFlow()
	if _, err := r.conf.Exchange(context.Background(), "bogus", oauth2.VerifierOption(f2.verifier)); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("token endpoint with the kept secret: got %v, want invalid_grant (the client still authenticates)", err)
	}

	del := registration(t, http.MethodDelete, regURI, regToken, "", nil)
	if del.status != http.StatusNoContent {
		t.Fatalf("delete: got %d %s, want 204", del.status, del.raw)
	}
	if a := registration(t, http.MethodGet, regURI, regToken, "", nil); a.status != http.StatusUnauthorized {
		t.Errorf("read after delete: got %d, want 401", a.status)
	}
	if _, err := r.conf.Exchange(context.Background(), "bogus", oauth2.VerifierOption(f2.verifier)); oauthErrorCode(err) != "invalid_client" {
		t.Errorf("token endpoint after delete: got %v, want invalid_client", err)
	}

	// (audit --client refuses a client no longer stored, so the whole trail.)
	// The server stores its events in batches: wait for the last one.
	var out string
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = waitFor(ctx, func() bool {
		out, err = s.gatehouseCLI("", "audit", "--json", "--since", "1h")
		return strings.Contains(out, "client_registration_deleted")
	})
	for _, kind := range []string{"client_registered", "client_registration_updated", "client_registration_deleted"} {
		if err != nil || !strings.Contains(out, `"kind":"`+kind+`","actor":"registration"`) || !strings.Contains(out, clientID) {
			t.Errorf("gatehouse audit --json: got %v\n%s\nwant a %s event of %s by actor registration", err, out, kind, clientID)
		}
	}
}

// TestDynamicRegistrationRefusals: every request the registration endpoint
// must refuse, each with its RFC 7591 error.
func TestDynamicRegistrationRefusals(t *testing.T) {
	s := startRegistrationServer(t)
	endpoint := s.issuer + "/register"
	token := mintToken(t, s, "--expires", "1h")
	good := `{"redirect_uris":["https://app.example/cb"]}`

	for _, tc := range []struct {
		name, token, contentType, body string
		status                         int
		error                          string // "" for a bare 401
		description                    string // a substring of error_description
	}{
		{"no token", "", "application/json", good, 401, "", ""},
		{"a wrong token", "not-a-token", "application/json", good, 401, "invalid_token", "invalid, expired or used up"},
		{"a redirect URI with a fragment", token, "application/json", `{"redirect_uris":["https://app.example/cb#x"]}`, 400, "invalid_redirect_uri", "fragment"},
		{"http for a web client", token, "application/json", `{"redirect_uris":["http://app.example/cb"]}`, 400, "invalid_redirect_uri", "must use https"},
		{"a wildcard", token, "application/json", `{"redirect_uris":["https://*.app.example/cb"]}`, 400, "invalid_redirect_uri", "wildcard"},
		{"none with client_credentials", token, "application/json", `{"token_endpoint_auth_method":"none","grant_types":["client_credentials"]}`, 400, "invalid_client_metadata", "client_credentials needs a confidential client"},
		{"the admin scope", token, "application/json", `{"redirect_uris":["https://app.example/cb"],"scope":"openid gatehouse:admin"}`, 400, "invalid_client_metadata", "gatehouse:admin reserved"},
		{"skip_consent", token, "application/json", `{"redirect_uris":["https://app.example/cb"],"skip_consent":true}`, 400, "invalid_client_metadata", "never skips"},
		{"encrypted ID tokens", token, "application/json", `{"redirect_uris":["https://app.example/cb"],"id_token_encrypted_response_alg":"RSA-OAEP"}`, 400, "invalid_client_metadata", "encrypted ID tokens"},
		{"redirect_uris as a string", token, "application/json", `{"redirect_uris":"https://app.example/cb"}`, 400, "invalid_client_metadata", "redirect_uris must be a list"},
		{"client_name as a number", token, "application/json", `{"redirect_uris":["https://app.example/cb"],"client_name":7}`, 400, "invalid_client_metadata", "client_name must be a string"},
		{"a JSON list", token, "application/json", `[]`, 400, "invalid_client_metadata", "one JSON object"},
		{"a form", token, "application/x-www-form-urlencoded", `redirect_uris=https://app.example/cb`, 415, "invalid_client_metadata", "application/json"},
		{"a body over 64 KiB", token, "application/json", `{"client_name":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "invalid_client_metadata", "larger than 64 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := registration(t, http.MethodPost, endpoint, tc.token, tc.contentType, []byte(tc.body))
			if a.status != tc.status {
				t.Fatalf("got %d %s, want %d", a.status, a.raw, tc.status)
			}
			if tc.status == 401 && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer (got %q)", a.header.Get("WWW-Authenticate"))
			}
			if tc.error != "" {
				desc, _ := a.body["error_description"].(string)
				if a.body["error"] != tc.error || !strings.Contains(desc, tc.description) {
					t.Errorf("got %s, want error %s with a description containing %q", a.raw, tc.error, tc.description)
				}
			}
		})
	}

	// A revoked token, and a used-up one: of two concurrent registrations
	// with a token of one use, exactly one succeeds.
	revoked := mintToken(t, s, "--expires", "1h")
	list, err := s.gatehouseCLI("", "clients", "tokens")
	if err != nil {
		t.Fatalf("clients tokens: %v\n%s", err, list)
	}
	lines := strings.Split(strings.TrimSpace(list), "\n")
	id := strings.Fields(lines[len(lines)-1])[0]
	if out, err := s.gatehouseCLI("", "clients", "token", "revoke", id); err != nil {
		t.Fatalf("clients token revoke %s: %v\n%s", id, err, out)
	}
	if a := registration(t, http.MethodPost, endpoint, revoked, "application/json", []byte(good)); a.status != http.StatusUnauthorized {
		t.Errorf("register with a revoked token: got %d %s, want 401", a.status, a.raw)
	}

	once := mintToken(t, s, "--expires", "1h", "--max-uses", "1")
	var (
		wg       sync.WaitGroup
		statuses [2]int
	)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = registration(t, http.MethodPost, endpoint, once, "application/json", []byte(good)).status
		})
	}
	wg.Wait()
	created, refused := 0, 0
	for _, st := range statuses {
		switch st {
		case http.StatusCreated:
			created++
		case http.StatusUnauthorized:
			refused++
		}
	}
	if created != 1 || refused != 1 {
		t.Errorf("two concurrent registrations with a 1-use token: got statuses %v, want one 201 and one 401", statuses)
	}
	if a := registration(t, http.MethodPost, endpoint, once, "application/json", []byte(good)); a.status != http.StatusUnauthorized {
		t.Errorf("a third registration with the used-up token: got %d, want 401", a.status)
	}
}

// TestRegistrationOffByDefault: without registration configured there is
// no endpoint and discovery names none.
func TestRegistrationOffByDefault(t *testing.T) {
	s := startServer(t, "")
	a := registration(t, http.MethodPost, s.issuer+"/register", "x", "application/json", []byte(`{}`))
	if a.status != http.StatusNotFound && a.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /register with registration off: got %d, want 404", a.status)
	}
	resp, err := http.Get(s.issuer + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(body), "registration_endpoint") {
		t.Error("discovery names a registration_endpoint with registration off")
	}
}
