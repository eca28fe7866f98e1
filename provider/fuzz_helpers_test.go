package provider

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// Helpers shared by the fuzz targets of this package (fuzz_*_test.go).

// fuzzNow is the frozen clock of fuzz environments: tokens, codes and
// assertions built from constants stay valid however long a run lasts, and
// an input behaves the same in every worker process.
var fuzzNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// newFuzzEnv is a test provider whose clock stands still at fuzzNow, with
// extra clients registered next to testClients(). Its login UI keeps the
// real clock, so it serves no sign-in: targets that need one use
// newLiveFuzzEnv.
func newFuzzEnv(tb testing.TB, extra ...storage.Client) *testEnv {
	tb.Helper()
	e := newTestEnvConfig(tb, func(s *sqlite.Store) Store { return s }, func(cfg *Config) {
		cfg.Now = func() time.Time { return fuzzNow }
	})
	registerClients(tb, e, extra)
	return e
}

// newLiveFuzzEnv is newTestEnv with extra clients registered: the real
// clock, for targets that sign in. Their genuine tokens and codes are
// issued afresh while a run lasts (liveTokens).
func newLiveFuzzEnv(tb testing.TB, extra ...storage.Client) *testEnv {
	tb.Helper()
	e := newTestEnv(tb)
	registerClients(tb, e, extra)
	return e
}

func registerClients(tb testing.TB, e *testEnv, extra []storage.Client) {
	tb.Helper()
	if len(extra) == 0 {
		return
	}
	if _, err := e.store.SyncClients(tb.Context(), append(testClients(), extra...), time.Now()); err != nil {
		tb.Fatalf("SyncClients: %v", err)
	}
}

// liveTokens keeps genuine tokens (or codes, or a signed-in browser) for a
// fuzz target with the real clock: get issues them again once they are
// older than maxAge, so that a long run keeps mutating live ones.
type liveTokens[T any] struct {
	maxAge time.Duration
	issue  func(testing.TB) T
	at     time.Time
	v      T
}

func (l *liveTokens[T]) get(tb testing.TB) T {
	if l.at.IsZero() || time.Since(l.at) > l.maxAge {
		l.v, l.at = l.issue(tb), time.Now()
	}
	return l.v
}

// renew makes the next get issue afresh.
func (l *liveTokens[T]) renew() { l.at = time.Time{} }

// rfc6749Errors are the error codes a token, revocation or introspection
// endpoint may answer (RFC 6749 §5.2, RFC 7009 §2.2.1; server_error only
// when a store fails), with the status each goes with.
var rfc6749Errors = map[string]int{
	"invalid_request":        http.StatusBadRequest,
	"invalid_client":         http.StatusUnauthorized,
	"invalid_grant":          http.StatusBadRequest,
	"unauthorized_client":    http.StatusBadRequest,
	"unsupported_grant_type": http.StatusBadRequest,
	"invalid_scope":          http.StatusBadRequest,
	"unsupported_token_type": http.StatusBadRequest,
}

// checkProtocolError fails unless rec is a JSON error of RFC 6749 §5.2
// with the status that code goes with, and returns the code. The store
// never fails in these tests, so a 5xx is always wrong.
func checkProtocolError(t *testing.T, rec *httptest.ResponseRecorder, input any) string {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("status %d (%s) with a healthy store, input %#v", rec.Code, rec.Body, input)
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("status %d: body %q is not JSON (%v), input %#v", rec.Code, rec.Body, err, input)
	}
	want, ok := rfc6749Errors[body.Error]
	if !ok {
		t.Fatalf("status %d: error %q is not an RFC 6749 error code, input %#v", rec.Code, body.Error, input)
	}
	if rec.Code != want {
		t.Fatalf("error %q with status %d, want %d; input %#v", body.Error, rec.Code, want, input)
	}
	return body.Error
}

// mutate returns s with one edit an attacker holding s can make, chosen by
// op: 0 flips bits of the byte at pos (xor with the first byte of data, or
// 1), 1 cuts s at pos, 2 inserts data at pos, 3 overwrites s from pos with
// data, 4 swaps the byte at pos with its neighbour, 5 is data alone.
func mutate(s string, op uint8, pos uint16, data string) string {
	if op%6 == 5 || s == "" {
		return data
	}
	i := int(pos) % len(s)
	switch op % 6 {
	case 0:
		x := byte(1)
		if data != "" && data[0] != 0 {
			x = data[0]
		}
		b := []byte(s)
		b[i] ^= x
		return string(b)
	case 1:
		return s[:i]
	case 2:
		return s[:i] + data + s[i:]
	case 3:
		if i+len(data) >= len(s) {
			return s[:i] + data
		}
		return s[:i] + data + s[i+len(data):]
	default:
		if i+1 >= len(s) {
			return s
		}
		b := []byte(s)
		b[i], b[i+1] = b[i+1], b[i]
		return string(b)
	}
}

// sameToken reports whether variant is token spelled differently but
// carrying the same bytes: a JWS or JWE whose every segment decodes to the
// same bytes (decodeSegment), or an opaque token whose sealed part does.
// Anything else must differ byte for byte. (go-jose strips white space
// from compact tokens and ignores the unused low bits of a segment's last
// character, so such variants of a token are that token.)
func sameToken(variant, token string) bool {
	if variant == token {
		return true
	}
	if rest, ok := strings.CutPrefix(token, opaquePrefix); ok {
		vrest, ok := strings.CutPrefix(variant, opaquePrefix)
		a, okA := decodeSegment(rest)
		b, okB := decodeSegment(vrest)
		return ok && okA && okB && bytes.Equal(a, b)
	}
	parts, vparts := strings.Split(token, "."), strings.Split(variant, ".")
	if len(parts) < 3 || len(parts) != len(vparts) {
		return false
	}
	for i := range parts {
		a, okA := decodeSegment(parts[i])
		b, okB := decodeSegment(vparts[i])
		if !okA || !okB || !bytes.Equal(a, b) {
			return false
		}
	}
	return true
}

// decodeSegment decodes one base64url segment of a compact token as
// leniently as any decoder Gatehouse uses: white space (Unicode's) and
// trailing padding ignored, and the unused low bits of the last character.
func decodeSegment(s string) ([]byte, bool) {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	return b, err == nil
}

// formPost is a POST of body (form-encoded unless contentType says
// otherwise) to path with an optional Authorization header.
func formPost(path, body, authorization string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return req
}

// basicAuth is the Authorization header of client_secret_basic (RFC 6749
// §2.3.1: id and secret form-urlencoded, then joined by a colon).
func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// registeredSecrets are the secrets of the confidential test clients.
var registeredSecrets = map[string]string{
	"web": testWebSecret, "post": testPostSecret, "service": testServiceSecret, "opaque": testOpaqueSecret,
	"es256": testES256Secret, "eddsa": testEdDSASecret, "idle": testIdleSecret, "nograce": testNoGraceSecret,
	"grace10": testGraceSecret, "third": testThirdSecret, oddClientID: oddClientSecret,
}

// oddClient is a client_secret_basic service whose id and secret hold every
// character RFC 6749 §2.3.1's form-urlencoding changes.
const (
	oddClientID     = "svc:a+b/c=d%e f"
	oddClientSecret = "s3cret +/=:%25 ünï ~!*'()"
)

func oddClient() storage.Client {
	return storage.Client{
		ID: oddClientID, Name: "Odd", SecretHash: clientpolicy.HashSecret(oddClientSecret),
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"reports:read"},
		TokenEndpointAuthMethod: "client_secret_basic", ApplicationType: "web",
	}
}

// authOracle says, from the RFCs rather than from the code under test,
// which client a token-endpoint style request authenticates: exactly one
// method (Basic, client_secret in the body, or a client assertion), the
// one the client registered, with its secret; a public client by its
// client_id alone. Assertions are never judged here: ok is false for them.
func authOracle(clients map[string]storage.Client, r *http.Request, form url.Values) (id string, ok bool) {
	user, pass, basic := r.BasicAuth()
	_, post := form["client_secret"]
	_, a1 := form["client_assertion"]
	_, a2 := form["client_assertion_type"]
	methods := 0
	for _, used := range []bool{basic, post, a1 || a2} {
		if used {
			methods++
		}
	}
	if methods > 1 || a1 || a2 || len(form["client_id"]) > 1 || len(form["client_secret"]) > 1 {
		return "", false
	}
	id, secret, method := form.Get("client_id"), form.Get("client_secret"), "client_secret_post"
	if basic {
		var err1, err2 error
		user, err1 = url.QueryUnescape(user)
		pass, err2 = url.QueryUnescape(pass)
		if err1 != nil || err2 != nil || (id != "" && id != user) {
			return "", false
		}
		id, secret, method = user, pass, "client_secret_basic"
	} else if !post {
		method = "none"
	}
	c, found := clients[id]
	if !found || c.TokenEndpointAuthMethod != method {
		return "", false
	}
	if method != "none" && registeredSecrets[id] != secret {
		return "", false
	}
	return id, true
}

// clientsByID indexes clients by id.
func clientsByID(cs ...storage.Client) map[string]storage.Client {
	m := map[string]storage.Client{}
	for _, c := range cs {
		m[c.ID] = c
	}
	return m
}

// subset reports whether every element of a is in b.
func subset(a, b []string) bool {
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}
