package provider

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// genuineToken is a token Gatehouse really issued, for mutating.
type genuineToken struct {
	name    string
	value   string
	access  bool   // an access token: parseAccessToken accepts it
	refresh bool   // a refresh token
	client  string // the client it was issued to
}

// issueTokens signs alice in to the web, opaque, es256 and eddsa clients
// and gets a service token: every kind of token Gatehouse issues.
func issueTokens(tb testing.TB, e *testEnv) []genuineToken {
	tb.Helper()
	decode := func(rec *httptest.ResponseRecorder) tokenResponse {
		var tr tokenResponse
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tr) != nil || tr.AccessToken == "" {
			tb.Fatalf("token: got %d %s, want 200 with tokens", rec.Code, rec.Body)
		}
		return tr
	}
	web := e.codeFlow(tb, "openid profile offline_access")
	out := []genuineToken{
		{name: "web at+jwt (RS256)", value: web.AccessToken, access: true, client: "web"},
		{name: "web ID token", value: web.IDToken, client: "web"},
		{name: "web refresh token", value: web.RefreshToken, refresh: true, client: "web"},
	}
	for _, c := range []struct{ id, secret, name string }{
		{"opaque", testOpaqueSecret, "opaque access token"},
		{"es256", testES256Secret, "es256 at+jwt"},
		{"eddsa", testEdDSASecret, "eddsa at+jwt"},
	} {
		code, verifier := e.signInTo(tb, cookieJar{}, c.id, "openid profile")
		out = append(out, genuineToken{name: c.name, value: decode(e.exchangeCode(code, verifier, c.id, c.secret)).AccessToken, access: true, client: c.id})
	}
	svc := decode(e.serviceToken("reports:read", testServiceSecret))
	out = append(out, genuineToken{name: "service token", value: svc.AccessToken, access: true, client: "service"})
	for _, g := range out {
		if _, err := e.p.parseAccessToken(g.value); (err == nil) != g.access {
			tb.Fatalf("%s: parseAccessToken error %v, want accepted=%v", g.name, err, g.access)
		}
	}
	return out
}

// FuzzAccessToken mutates genuinely issued tokens (JWT access tokens signed
// RS256, ES256 and EdDSA, an opaque gho_ token, a service token, an ID
// token, a refresh token) — a flipped bit, a cut, an insertion, an
// overwrite, a swap — or replaces them with arbitrary input, and presents
// the result to parseAccessToken, to userinfo and to introspection (as the
// web client). Whatever the input: no panic, no 5xx; a token that is not
// one of the genuine access tokens (byte for byte, or the same bytes
// spelled in another base64 form) is refused by parseAccessToken, gets 401
// with WWW-Authenticate at userinfo and exactly {"active":false} at
// introspection (only web's own refresh token, unchanged, is active there);
// an accepted variant carries the genuine token's claims.
func FuzzAccessToken(f *testing.F) {
	for _, s := range []struct {
		which, op uint8
		pos       uint16
		data      string
	}{
		{0, 2, 0, ""}, // the genuine web access token
		{0, 0, 5, "\x01"},
		{0, 0, 200, "\x20"},
		{0, 0, 65535, "\x01"},
		{0, 1, 300, ""},
		{0, 2, 40, "\n"},
		{0, 2, 65535, "=="},
		{0, 3, 0, "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0."},
		{0, 4, 100, ""},
		{1, 2, 0, ""}, // the ID token
		{1, 0, 15, "\x04"},
		{2, 2, 0, ""}, // the refresh token
		{2, 0, 10, "\x01"},
		{3, 2, 0, ""}, // the opaque token
		{3, 0, 8, "\x01"},
		{3, 1, 80, ""},
		{3, 2, 4, "AAAA"},
		{4, 0, 30, "\x02"},
		{5, 0, 65535, "\x80"},
		{6, 0, 120, "\x01"},
		{0, 5, 0, ""},
		{0, 5, 0, "gho_"},
		{0, 5, 0, "gho_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{0, 5, 0, "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJpc3MiOiJodHRwczovL29wLmV4YW1wbGUiLCJqdGkiOiJ4IiwiY2xpZW50X2lkIjoid2ViIiwiZXhwIjo5OTk5OTk5OTk5fQ."},
		{0, 5, 0, "a.b.c"},
		{0, 5, 0, "...."},
		{0, 5, 0, strings.Repeat("A", 4096)},
	} {
		f.Add(s.which, s.op, s.pos, s.data)
	}
	e := newLiveFuzzEnv(f)
	live := &liveTokens[[]genuineToken]{maxAge: 5 * time.Minute, issue: func(tb testing.TB) []genuineToken { return issueTokens(tb, e) }}
	live.get(f)
	f.Fuzz(func(t *testing.T, which, op uint8, pos uint16, data string) {
		genuine := live.get(t)
		token := mutate(genuine[int(which)%len(genuine)].value, op, pos, data)
		same := -1
		for i, g := range genuine {
			if sameToken(token, g.value) {
				same = i
				break
			}
		}
		claims, err := e.p.parseAccessToken(token)
		switch {
		case err == nil && (same < 0 || !genuine[same].access):
			t.Fatalf("parseAccessToken accepted %q, which is no access token Gatehouse issued", token)
		case err == nil:
			want, werr := e.p.parseAccessToken(genuine[same].value)
			if werr != nil || !reflect.DeepEqual(claims, want) {
				t.Fatalf("parseAccessToken(%q): got %+v, want the claims of the %s", token, claims, genuine[same].name)
			}
		case same >= 0 && genuine[same].access && token == genuine[same].value:
			t.Fatalf("the genuine %s was refused: %v", genuine[same].name, err)
		}

		req := httptest.NewRequest(http.MethodGet, testIssuer+userinfoPath, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := e.do(req)
		switch {
		case rec.Code >= 500:
			t.Fatalf("userinfo: status %d for %q", rec.Code, token)
		case rec.Code == http.StatusOK && (err != nil || claims.Subject != testUserID):
			t.Fatalf("userinfo: 200 for %q, which parseAccessToken refused (%v) or is not alice's", token, err)
		case rec.Code != http.StatusOK && (rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer ")):
			t.Fatalf("userinfo: got %d (WWW-Authenticate %q) for %q, want 401 with a Bearer challenge", rec.Code, rec.Header().Get("WWW-Authenticate"), token)
		}

		rec = e.do(formPost(introspectPath, url.Values{"token": {token}}.Encode(), basicAuth("web", testWebSecret)))
		if rec.Code != http.StatusOK {
			t.Fatalf("introspect: got %d %s for %q, want 200", rec.Code, rec.Body, token)
		}
		var got introspection
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatalf("introspect: body %s: %v", rec.Body, err)
		}
		ownRefresh := same >= 0 && genuine[same].refresh && genuine[same].client == "web" && token == genuine[same].value
		ownAccess := err == nil && claims.ClientID == "web"
		if got.Active && !ownRefresh && !ownAccess {
			t.Fatalf("introspect: active for %q, which is not one of web's live tokens: %s", token, rec.Body)
		}
		if !got.Active && strings.TrimSpace(rec.Body.String()) != `{"active":false}` {
			t.Fatalf("introspect: inactive answer %s, want exactly {\"active\":false}", rec.Body)
		}
	})
}
