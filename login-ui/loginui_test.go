package loginui

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/keys"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// Fixed inputs, so that CSRF tokens and rendered pages are reproducible.
var (
	testNow     = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	testCSRFKey = []byte("0123456789abcdef0123456789abcdef")
	// testBrowser is a well-formed browser-binding cookie value.
	testBrowser = base64.RawURLEncoding.EncodeToString([]byte("browser-binding-cookie-value-32b"))
)

const (
	testIssuer   = "https://op.example"
	testPassword = "correct horse battery staple"
)

// cheapArgon2 keeps test users fast to verify.
var cheapArgon2 = Argon2Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// uiEnv is a UI over a real SQLite store in t.TempDir, with a fixed clock.
type uiEnv struct {
	u     *UI
	store *sqlite.Store
	h     http.Handler
	// clock is the UI's now; tests move it.
	clock  *time.Time
	events *[]storage.AuditEvent
}

func newUIEnv(t testing.TB) *uiEnv { return newUIEnvWith(t, nil) }

// newUIEnvWith is newUIEnv with the configuration adjusted by configure.
// The UI's clock starts at testNow and its events are recorded.
func newUIEnvWith(t testing.TB, configure func(*Config)) *uiEnv {
	t.Helper()
	clock := testNow
	var (
		events []storage.AuditEvent
		mu     sync.Mutex // concurrent requests emit at once
	)
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	sealer, err := keys.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Sealer:      sealer,
		CSRFKey:     testCSRFKey,
		CallbackURL: func(id string) string { return testIssuer + "/authorize/callback?id=" + url.QueryEscape(id) },
		Now:         func() time.Time { return clock },
		Issuer:      testIssuer,
		// The users' hashes are cheap: so are the server's, or every
		// sign-in would replace them (NeedsRehash).
		PasswordHashing: cheapArgon2,
		Recorder: audit.RecorderFunc(func(_ context.Context, evs ...storage.AuditEvent) error {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, evs...)
			return nil
		}),
	}
	if configure != nil {
		configure(&cfg)
	}
	u, err := New(store, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	r := chi.NewRouter()
	u.Routes(r)
	env := &uiEnv{u: u, store: store, h: r, clock: &clock, events: &events}
	env.addClient(t, "web", "Web App")
	return env
}

func (e *uiEnv) addClient(t testing.TB, id, name string) {
	t.Helper()
	clients, err := e.store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	clients = append(clients, storage.Client{
		ID: id, Name: name, RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"},
		TokenEndpointAuthMethod: "none", ApplicationType: "web",
	})
	if _, err := e.store.SyncClients(t.Context(), clients, testNow); err != nil {
		t.Fatalf("SyncClients: %v", err)
	}
}

// addClientWith adds a client; unset protocol fields get defaults.
func (e *uiEnv) addClientWith(t testing.TB, c storage.Client) {
	t.Helper()
	clients, err := e.store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if c.RedirectURIs == nil {
		c.RedirectURIs = []string{"https://app.example/cb"}
	}
	c.GrantTypes, c.ResponseTypes = []string{"authorization_code"}, []string{"code"}
	c.TokenEndpointAuthMethod, c.ApplicationType = "none", "web"
	clients = append(clients, c)
	if _, err := e.store.SyncClients(t.Context(), clients, testNow); err != nil {
		t.Fatalf("SyncClients: %v", err)
	}
}

func (e *uiEnv) addUser(t testing.TB, username, password string, disabled bool) *storage.User {
	t.Helper()
	hash, err := HashPassword(password, cheapArgon2, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u := &storage.User{
		ID: "id-" + username, Username: username, Name: strings.ToUpper(username[:1]) + username[1:],
		Email: username + "@example.com", PasswordHash: hash, Disabled: disabled,
		CreatedAt: testNow, UpdatedAt: testNow,
	}
	if err := e.store.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

// addAuthRequest stores a live auth request bound to browser.
func (e *uiEnv) addAuthRequest(t testing.TB, id, clientID, browser, loginHint string) {
	t.Helper()
	err := e.store.CreateAuthRequest(t.Context(), &storage.AuthRequest{
		ID: id, ClientID: clientID, RedirectURI: "https://app.example/cb", Scopes: []string{"openid"},
		ResponseType: "code", ResponseMode: "query", LoginHint: loginHint,
		BrowserHash: Hash(browser), CreatedAt: testNow, ExpiresAt: testNow.Add(10 * time.Minute),
	})
	if err != nil {
		t.Fatalf("CreateAuthRequest: %v", err)
	}
}

// request builds a request carrying the given cookies (name, value pairs).
func request(method, target string, form url.Values, cookies ...string) *http.Request {
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, testIssuer+target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, testIssuer+target, nil)
	}
	for i := 0; i+1 < len(cookies); i += 2 {
		req.AddCookie(&http.Cookie{Name: cookies[i], Value: cookies[i+1]})
	}
	return req
}

func (e *uiEnv) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func responseCookie(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Passkey ceremonies carry a fresh challenge and token in every page.
var (
	passkeyOptions  = regexp.MustCompile(`data-options="[^"]*"`)
	passkeyCeremony = regexp.MustCompile(`name="ceremony" value="[^"]*"`)
)

// stableCeremonies replaces a page's passkey challenge and ceremony token
// by placeholders, so that golden files compare the rest byte for byte.
func stableCeremonies(page []byte) []byte {
	page = passkeyOptions.ReplaceAll(page, []byte(`data-options="OPTIONS"`))
	return passkeyCeremony.ReplaceAll(page, []byte(`name="ceremony" value="TOKEN"`))
}

// goldenCompare compares got with testdata/name, or rewrites the file
// under -update.
func goldenCompare(t *testing.T, name string, got []byte) {
	t.Helper()
	got = stableCeremonies(got)
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

func TestCookieValue(t *testing.T) {
	valid := testBrowser
	tests := []struct {
		name, header, want string
	}{
		{"valid", BrowserCookie + "=" + valid, valid},
		{"among others", "a=b; " + BrowserCookie + "=" + valid + "; c=d", valid},
		{"absent", "other=" + valid, ""},
		{"empty", BrowserCookie + "=", ""},
		{"short", BrowserCookie + "=" + valid[:42], ""},
		{"long", BrowserCookie + "=" + valid + "A", ""},
		{"padded", BrowserCookie + "=" + valid[:42] + "=", ""},
		{"standard alphabet", BrowserCookie + "=" + valid[:42] + "+", ""},
		{"bad char", BrowserCookie + "=" + valid[:42] + "!", ""},
		{"quoted", BrowserCookie + `="` + valid + `"`, valid},
		{"name case", strings.ToLower(BrowserCookie) + "=" + valid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Cookie", tt.header)
			if got := cookieValue(req, BrowserCookie); got != tt.want {
				t.Errorf("cookieValue(%q): got %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// FuzzCookieValue: cookieValue never panics on any Cookie header, and what
// it accepts is a 43-character base64url string.
func FuzzCookieValue(f *testing.F) {
	for _, s := range []string{
		BrowserCookie + "=" + testBrowser,
		SessionCookie + "=" + testBrowser + "; " + SessionCookie + "=x",
		SessionCookie + "=" + testBrowser[:42] + "=",
		SessionCookie + `="` + testBrowser + `"`,
		"", ";;;", "=", SessionCookie + "=\x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Cookie", header)
		for _, name := range []string{SessionCookie, BrowserCookie} {
			v := cookieValue(req, name)
			if v == "" {
				continue
			}
			if len(v) != 43 || strings.Trim(v, base64URLAlphabet) != "" {
				t.Fatalf("cookieValue(%q, %s): accepted %q, want a 43-character base64url value", header, name, v)
			}
			if _, err := base64.RawURLEncoding.DecodeString(v); err != nil {
				t.Fatalf("cookieValue(%q, %s): accepted %q that does not decode: %v", header, name, v, err)
			}
		}
	})
}

func TestCurrentSessionWithoutCookie(t *testing.T) {
	env := newUIEnv(t)
	for _, tt := range []struct {
		name    string
		cookies []string
	}{
		{"no cookie", nil},
		{"malformed cookie", []string{SessionCookie, "not-ours"}},
		{"unknown session", []string{SessionCookie, testBrowser}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := env.u.CurrentSession(t.Context(), request(http.MethodGet, "/", nil, tt.cookies...))
			if !errors.Is(err, ErrNoSession) {
				t.Errorf("CurrentSession: got %v, want ErrNoSession", err)
			}
		})
	}
}
