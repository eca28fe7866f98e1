package provider

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// ssoCode gets a code for the web client through the single sign-on path:
// the browser (jar) already has a session, so /authorize answers with the
// code at once.
func (e *testEnv) ssoCode(tb testing.TB, jar cookieJar) (code, verifier string) {
	return e.ssoCodeScope(tb, jar, "openid profile email offline_access")
}

// ssoCodeScope is ssoCode asking for scope.
func (e *testEnv) ssoCodeScope(tb testing.TB, jar cookieJar, scope string) (code, verifier string) {
	verifier = base64.RawURLEncoding.EncodeToString(randomBytes(tb, 32))
	q := url.Values{
		"client_id": {"web"}, "redirect_uri": {webRedirect}, "response_type": {"code"},
		"scope": {scope}, "state": {"st"}, "nonce": {"nn"},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"},
	}
	req := httptest.NewRequest(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil)
	jar.add(req)
	rec := e.do(req)
	code = mustParseURL(tb, rec.Header().Get("Location")).Query().Get("code")
	if rec.Code != http.StatusFound || code == "" {
		tb.Fatalf("SSO authorize: got %d to %q, want a code", rec.Code, rec.Header().Get("Location"))
	}
	return code, verifier
}

// signedInJar signs alice in once and returns the browser's cookies.
func (e *testEnv) signedInJar(tb testing.TB) cookieJar {
	jar := cookieJar{}
	e.signIn(tb, jar, "openid")
	return jar
}

// BenchmarkCodeExchange measures one token-endpoint code exchange for a
// confidential client: client authentication, PKCE check, the atomic code
// take, a new refresh family, and an access token and ID token signed with
// the sub-benchmark's algorithm (Config.SigningAlg; a client's
// id_token_signed_response_alg costs the same). Getting the code (an SSO
// /authorize) is outside the timer.
func BenchmarkCodeExchange(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			e := newTestEnvConfig(b, func(s *sqlite.Store) Store { return s }, func(c *Config) { c.SigningAlg = alg })
			jar := e.signedInJar(b)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				code, verifier := e.ssoCode(b, jar)
				b.StartTimer()
				rec := e.exchangeCode(code, verifier, "web", testWebSecret)
				if rec.Code != http.StatusOK {
					b.Fatalf("token: got %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkClientCredentials measures one client_credentials token: client
// authentication and one signed JWT, no store write.
func BenchmarkClientCredentials(b *testing.B) {
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			e := newTestEnvConfig(b, func(s *sqlite.Store) Store { return s }, func(c *Config) { c.SigningAlg = alg })
			b.ReportAllocs()
			for b.Loop() {
				if rec := e.serviceToken("reports:read", testServiceSecret); rec.Code != http.StatusOK {
					b.Fatalf("client_credentials: got %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// BenchmarkSSOAuthorize measures /authorize for a browser that already has
// a session: request validation, session lookup, storing the completed
// request and issuing its code.
func BenchmarkSSOAuthorize(b *testing.B) {
	e := newTestEnv(b)
	jar := e.signedInJar(b)
	b.ReportAllocs()
	for b.Loop() {
		e.ssoCode(b, jar)
	}
}

// BenchmarkDiscovery measures the discovery document: no store call, no
// crypto, so what it costs is mostly the router and its middleware.
func BenchmarkDiscovery(b *testing.B) {
	e := newTestEnv(b)
	b.ReportAllocs()
	for b.Loop() {
		rec := e.do(httptest.NewRequest(http.MethodGet, testIssuer+"/.well-known/openid-configuration", nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("discovery: got %d", rec.Code)
		}
	}
}

// BenchmarkUserinfo measures one userinfo call with a valid access token:
// JWT verification and one user read.
func BenchmarkUserinfo(b *testing.B) {
	e := newTestEnv(b)
	tr := e.codeFlow(b, "openid profile email")
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, testIssuer+userinfoPath, nil)
		req.Header.Set("Authorization", "Bearer "+tr.AccessToken)
		rec := e.do(req)
		if rec.Code != http.StatusOK {
			b.Fatalf("userinfo: got %d %s", rec.Code, rec.Body)
		}
		var info map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &info); err != nil || info["sub"] != testUserID {
			b.Fatalf("userinfo body: %s", rec.Body)
		}
	}
}

// BenchmarkRefresh measures one refresh with rotation, with ES256 keys.
func BenchmarkRefresh(b *testing.B) {
	e := newTestEnvConfig(b, func(s *sqlite.Store) Store { return s }, func(c *Config) { c.SigningAlg = "ES256" })
	tr := e.codeFlow(b, "openid offline_access")
	token := tr.RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
		req := httptest.NewRequest(http.MethodPost, testIssuer+tokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", testWebSecret)
		rec := e.do(req)
		var next tokenResponse
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &next) != nil || next.RefreshToken == "" {
			b.Fatalf("refresh: got %d %s", rec.Code, rec.Body)
		}
		token = next.RefreshToken
	}
}

// BenchmarkSignIn measures a whole browser sign-in up to the code at the
// application (authorize, login page, login post, callback), with the
// password alone and with the password and a one-time code (its page and
// its post added). The test user's password hash uses cheap argon2id
// parameters, so the difference is what the second step costs, not the
// hash. The one-time code is set up again outside the timer before each
// sign-in, so that the current step's code is not a replay.
func BenchmarkSignIn(b *testing.B) {
	b.Run("password", func(b *testing.B) {
		e := newTestEnv(b)
		b.ReportAllocs()
		for b.Loop() {
			e.signIn(b, cookieJar{}, "openid")
		}
	})
	b.Run("password+code", func(b *testing.B) {
		e := newTestEnv(b)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			e.enrolTOTP(b)
			b.StartTimer()
			e.signInWithCode(b, cookieJar{}, "openid")
		}
	})
}

// BenchmarkGroupsClaim measures what the groups scope adds to the two
// token paths that read the user's groups: the code exchange (SSO
// authorize outside the timer) and a refresh, for a user in three groups,
// without the scope and with it.
func BenchmarkGroupsClaim(b *testing.B) {
	for _, scope := range []string{"openid offline_access", "openid offline_access groups"} {
		name := "without"
		if strings.HasSuffix(scope, "groups") {
			name = "with"
		}
		e := newTestEnvConfig(b, func(s *sqlite.Store) Store { return s }, func(c *Config) { c.SigningAlg = "ES256" })
		for _, g := range []string{"staff", "admins", "engineering"} {
			if err := e.store.CreateGroup(b.Context(), &storage.Group{Name: g, CreatedAt: time.Now()}); err != nil {
				b.Fatal(err)
			}
			if err := e.store.AddGroupMember(b.Context(), g, testUserID); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("code/"+name, func(b *testing.B) {
			jar := cookieJar{}
			e.signIn(b, jar, scope)
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				b.StopTimer()
				code, verifier := e.ssoCodeScope(b, jar, scope)
				b.StartTimer()
				if rec := e.exchangeCode(code, verifier, "web", testWebSecret); rec.Code != http.StatusOK {
					b.Fatalf("token: got %d %s", rec.Code, rec.Body)
				}
			}
		})
		b.Run("refresh/"+name, func(b *testing.B) {
			token := e.codeFlow(b, scope).RefreshToken
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
				req := httptest.NewRequest(http.MethodPost, testIssuer+tokenPath, strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("web", testWebSecret)
				rec := e.do(req)
				var next tokenResponse
				if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &next) != nil || next.RefreshToken == "" {
					b.Fatalf("refresh: got %d %s", rec.Code, rec.Body)
				}
				token = next.RefreshToken
			}
		})
	}
}

// reportCPU reports, when the function it returns is called, the process's
// CPU time (user and system, every goroutine) per iteration as cpu-ns/op:
// on a shared machine it varies less from run to run than ns/op, which is
// wall time. Work outside the timer (b.StopTimer) is counted too.
func reportCPU(b *testing.B) func() {
	start := processCPU(b)
	return func() { b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op") }
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDPoP measures what DPoP adds to a client_credentials token, a
// refresh (of the public client "spa", whose refresh token is bound) and a
// userinfo call: each without a proof (bearer) and with one (dpop). The
// server's part of a proof is parsing it, verifying its ES256 signature,
// the thumbprint, the nonce offered, and recording its jti (one SQLite
// write); the client's signing of the proof is outside the timer. The
// server signs with ES256.
func BenchmarkDPoP(b *testing.B) {
	for _, withProof := range []bool{false, true} {
		name := "bearer"
		if withProof {
			name = "dpop"
		}
		e := newTestEnvConfig(b, func(s *sqlite.Store) Store { return s }, func(c *Config) { c.SigningAlg = "ES256" })
		registerClients(b, e, dpopClients())
		k := newDPoPKey(b)
		tokenURL, uiURL := testIssuer+tokenPath, testIssuer+userinfoPath
		proof := func(method, u string, extra map[string]any) []string {
			if !withProof {
				return nil
			}
			b.StopTimer()
			defer b.StartTimer()
			return []string{k.proof(b, method, u, e.p.cfg.Now(), extra)}
		}
		post := func(form url.Values, basic, secret string, proofs []string) *httptest.ResponseRecorder {
			req := httptest.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if basic != "" {
				req.SetBasicAuth(basic, secret)
			}
			for _, p := range proofs {
				req.Header.Add("DPoP", p)
			}
			return e.do(req)
		}
		// A fresh family (and access token) for each run of a
		// sub-benchmark: a rotated token sent again would be a replay.
		codeFlow := func() tokenResponse {
			code, verifier := e.signInTo(b, cookieJar{}, "spa", "openid profile offline_access")
			rec := post(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect},
				"code_verifier": {verifier}, "client_id": {"spa"}}, "", "", proof("POST", tokenURL, nil))
			var tr tokenResponse
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tr) != nil {
				b.Fatalf("code exchange: got %d %s", rec.Code, rec.Body)
			}
			return tr
		}
		b.Run("client_credentials/"+name, func(b *testing.B) {
			form := url.Values{"grant_type": {"client_credentials"}, "scope": {"reports:read"}}
			b.ReportAllocs()
			for b.Loop() {
				if rec := post(form, "service", testServiceSecret, proof("POST", tokenURL, nil)); rec.Code != http.StatusOK {
					b.Fatalf("client_credentials: got %d %s", rec.Code, rec.Body)
				}
			}
		})
		b.Run("refresh/"+name, func(b *testing.B) {
			token := codeFlow().RefreshToken
			b.ReportAllocs()
			for b.Loop() {
				rec := post(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {"spa"}}, "", "", proof("POST", tokenURL, nil))
				var next tokenResponse
				if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &next) != nil || next.RefreshToken == "" {
					b.Fatalf("refresh: got %d %s", rec.Code, rec.Body)
				}
				token = next.RefreshToken
			}
		})
		b.Run("userinfo/"+name, func(b *testing.B) {
			tr := codeFlow()
			scheme := "Bearer "
			if withProof {
				scheme = "DPoP "
			}
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, uiURL, nil)
				req.Header.Set("Authorization", scheme+tr.AccessToken)
				for _, p := range proof("GET", uiURL, map[string]any{"ath": athOf(tr.AccessToken)}) {
					req.Header.Set("DPoP", p)
				}
				if rec := e.do(req); rec.Code != http.StatusOK {
					b.Fatalf("userinfo: got %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
