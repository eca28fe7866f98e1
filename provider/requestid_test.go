package provider

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-idp/gatehouse/logging"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

var generatedRequestID = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

func TestRequestIDHeader(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name     string
		incoming []string // X-Request-Id values the caller sends
		path     string
		want     string // "": a generated id
	}{
		{"none", nil, "/healthz", ""},
		{"well-formed is kept", []string{"lb-7f3a.9_Z"}, "/healthz", "lb-7f3a.9_Z"},
		{"64 characters is kept", []string{strings.Repeat("a", 64)}, "/healthz", strings.Repeat("a", 64)},
		{"65 characters is replaced", []string{strings.Repeat("a", 65)}, "/healthz", ""},
		{"empty is replaced", []string{""}, "/healthz", ""},
		{"a space is replaced", []string{"a b"}, "/healthz", ""},
		{"a newline is replaced", []string{"a\nb"}, "/healthz", ""},
		{"JSON is replaced", []string{`a","admin":true`}, "/healthz", ""},
		{"two values are replaced", []string{"one", "two"}, "/healthz", ""},
		{"on a 404", []string{"req-404"}, "/nope", "req-404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, testIssuer+tt.path, nil)
			for _, v := range tt.incoming {
				req.Header.Add(requestIDHeader, v)
			}
			rec := env.do(req)
			got := rec.Header().Values(requestIDHeader)
			if len(got) != 1 {
				t.Fatalf("X-Request-Id: got %q, want one value", got)
			}
			if tt.want != "" && got[0] != tt.want {
				t.Errorf("X-Request-Id: got %q, want %q", got[0], tt.want)
			}
			if tt.want == "" && !generatedRequestID.MatchString(got[0]) {
				t.Errorf("X-Request-Id: got %q, want 22 base64url characters", got[0])
			}
		})
	}

	// Generated ids differ, and a refused cross-site post still has one.
	a, b := env.do(httptest.NewRequest(http.MethodGet, testIssuer+"/healthz", nil)), env.do(httptest.NewRequest(http.MethodGet, testIssuer+"/healthz", nil))
	if a.Header().Get(requestIDHeader) == b.Header().Get(requestIDHeader) {
		t.Errorf("two requests got the same id %q", a.Header().Get(requestIDHeader))
	}
	req := httptest.NewRequest(http.MethodPost, testIssuer+"/login", strings.NewReader("id=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if rec := env.do(req); rec.Code != http.StatusForbidden || rec.Header().Get(requestIDHeader) == "" {
		t.Errorf("cross-site post: got %d with X-Request-Id %q, want 403 with one", rec.Code, rec.Header().Get(requestIDHeader))
	}
}

// logBuffer collects the JSON log lines of a test provider.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mark returns where the log is now, for linesSince.
func (b *logBuffer) mark() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

// linesSince returns the lines logged after mark, decoded.
func (b *logBuffer) linesSince(t *testing.T, mark int) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()[mark:]), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, m)
	}
	return lines
}

// newLoggedEnv is a test provider whose provider, login UI and op (through
// slog's default logger) log JSON at Debug into the returned buffer, with
// the handler serve uses (logging.NewHandler). It replaces slog's default
// logger until the test ends, so the test must not be parallel.
func newLoggedEnv(t *testing.T) (*testEnv, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(logging.NewHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	prev := slog.Default()
	slog.SetDefault(log)
	t.Cleanup(func() { slog.SetDefault(prev) })
	env := newTestEnvConfig(t, func(s *sqlite.Store) Store { return s }, func(c *Config) { c.Logger = log })
	return env, logs
}

// failedSignIn starts a sign-in to the web client and posts a wrong
// password; it returns the response to that post.
func (e *testEnv) failedSignIn(t *testing.T, password string) *httptest.ResponseRecorder {
	t.Helper()
	jar := cookieJar{}
	q := url.Values{
		"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"code"},
		"scope": {"openid"}, "state": {"st"}, "code_challenge": {s256(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"},
	}
	rec := e.do(httptest.NewRequest(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil))
	jar.take(rec)
	loginLoc := rec.Header().Get("Location")
	req := httptest.NewRequest(http.MethodGet, testIssuer+loginLoc, nil)
	jar.add(req)
	m := csrfField.FindStringSubmatch(e.do(req).Body.String())
	if m == nil {
		t.Fatalf("login page: no csrf token (authorize went to %q)", loginLoc)
	}
	form := url.Values{"id": {mustParseURL(t, loginLoc).Query().Get("id")}, "csrf_token": {m[1]}, "username": {testUsername}, "password": {password}}
	req = httptest.NewRequest(http.MethodPost, testIssuer+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	jar.add(req)
	rec = e.do(req)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Incorrect username or password") {
		t.Fatalf("wrong password: got %d, want 200 with the form again; body %s", rec.Code, rec.Body)
	}
	return rec
}

// Every line a request logs — the provider's, the login UI's and op's —
// carries the request id the response names.
func TestRequestIDInLogs(t *testing.T) {
	env, logs := newLoggedEnv(t)
	tests := []struct {
		name     string
		incoming string // the caller's X-Request-Id, if any
		do       func(t *testing.T) *httptest.ResponseRecorder
		wantMsg  string // a line the request must log
	}{
		{"authorize error", "", func(t *testing.T) *httptest.ResponseRecorder {
			q := url.Values{"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"code"}, "scope": {"profile"}, "state": {"s"}}
			return env.do(httptest.NewRequest(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil))
		}, "authorize error"},
		{"failed sign-in", "", func(t *testing.T) *httptest.ResponseRecorder {
			return env.failedSignIn(t, "not the password")
		}, "audit: " + loginui.EventSignInFailed},
		{"token error", "from-the-proxy-1", func(t *testing.T) *httptest.ResponseRecorder {
			form := url.Values{"grant_type": {"authorization_code"}, "code": {"no-such-code"}, "redirect_uri": {webRedirect}, "code_verifier": {strings.Repeat("v", 43)}}
			req := httptest.NewRequest(http.MethodPost, testIssuer+tokenPath, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set(requestIDHeader, "from-the-proxy-1")
			req.SetBasicAuth("web", testWebSecret)
			return env.do(req)
		}, "request error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mark := logs.mark()
			rec := tt.do(t)
			id := rec.Header().Get(requestIDHeader)
			if tt.incoming != "" && id != tt.incoming {
				t.Errorf("X-Request-Id: got %q, want the caller's %q", id, tt.incoming)
			}
			lines := logs.linesSince(t, mark)
			found := false
			for _, l := range lines {
				found = found || l["msg"] == tt.wantMsg
			}
			if !found {
				t.Fatalf("no %q line logged; got\n%s", tt.wantMsg, logs.String()[mark:])
			}
			// The last request of do is the one that logged last: every line
			// it wrote carries its id. (failedSignIn makes earlier requests,
			// whose lines carry their own ids.)
			last := lines[len(lines)-1]
			if got := last["request_id"]; got != id {
				t.Errorf("request_id of %q: got %v, want the response's X-Request-Id %q", last["msg"], got, id)
			}
			for _, l := range lines {
				if l["msg"] == tt.wantMsg && l["request_id"] != id {
					t.Errorf("request_id of %q: got %v, want %q", l["msg"], l["request_id"], id)
				}
				if _, ok := l["request_id"]; !ok {
					t.Errorf("a line without request_id: %v", l)
				}
			}
		})
	}
}

// A sign-in (after a failed one), a code exchange, a refresh, userinfo and
// the error paths around them (a replayed code, which revokes the grant,
// then its refresh token, a bad bearer token) log none of the secrets
// involved.
func TestLogsHoldNoSecrets(t *testing.T) {
	env, logs := newLoggedEnv(t)
	wrongPassword := "wrong-" + base64.RawURLEncoding.EncodeToString(randomBytes(t, 12))
	env.failedSignIn(t, wrongPassword)

	jar := cookieJar{}
	code, verifier := env.signIn(t, jar, "openid profile offline_access")
	first := decodeToken(t, env.exchangeCode(code, verifier, "web", testWebSecret))
	second := decodeToken(t, env.refresh(first.RefreshToken))
	if got := env.userinfoStatus(second.AccessToken); got != http.StatusOK {
		t.Fatalf("userinfo: got %d, want 200", got)
	}
	badBearer := "gho_" + base64.RawURLEncoding.EncodeToString(randomBytes(t, 32))
	if got := env.userinfoStatus(badBearer); got != http.StatusUnauthorized {
		t.Errorf("userinfo with a made-up token: got %d, want 401", got)
	}
	if rec := env.exchangeCode(code, verifier, "web", testWebSecret); rec.Code != http.StatusBadRequest {
		t.Errorf("replayed code: got %d, want 400", rec.Code)
	}
	if rec := env.refresh(second.RefreshToken); rec.Code != http.StatusBadRequest {
		t.Errorf("refresh of the revoked grant: got %d, want 400", rec.Code)
	}

	out := logs.String()
	for _, msg := range []string{"audit: sign_in_failed", "audit: sign_in", "audit: token_issued", "audit: token_refreshed", "audit: code_reuse_detected"} {
		if !strings.Contains(out, `"msg":"`+msg+`"`) {
			t.Errorf("no %q line logged: the test would prove nothing; log:\n%s", msg, out)
		}
	}
	session := jar[loginui.SessionCookie]
	if session == "" {
		t.Fatal("no session cookie after signing in")
	}
	secrets := map[string]string{
		"password":              testPassword,
		"wrong password":        wrongPassword,
		"code":                  code,
		"PKCE verifier":         verifier,
		"client secret":         testWebSecret,
		"Authorization header":  base64.StdEncoding.EncodeToString([]byte("web:" + testWebSecret)),
		"session cookie":        session,
		"session id":            loginui.Hash(session), // only its first 8 characters may be logged
		"browser cookie":        jar[loginui.BrowserCookie],
		"made-up bearer token":  badBearer,
		"refresh token":         first.RefreshToken,
		"rotated refresh token": second.RefreshToken,
	}
	// JWTs part by part: a header alone is no secret, the rest is.
	for name, jwt := range map[string]string{"access token": first.AccessToken, "refreshed access token": second.AccessToken, "ID token": first.IDToken} {
		parts := strings.Split(jwt, ".")
		if len(parts) != 3 {
			t.Fatalf("%s: got %q, want a JWS", name, jwt)
		}
		secrets[name] = jwt
		secrets[name+" claims"] = parts[1]
		secrets[name+" signature"] = parts[2]
	}
	for name, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("%s: got %q, too short to look for", name, s)
		}
		if strings.Contains(out, s) {
			t.Errorf("the log holds the %s:\n%s", name, out)
		}
	}
}
