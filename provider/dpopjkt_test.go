package provider

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

// Authorization code binding to a DPoP key (RFC 9449 §10): dpop_jkt at
// /authorize, in a pushed request or a request object, or the key of a
// DPoP proof sent with the push; the code is redeemed only with a proof by
// that key.

// exchangeForm is the form of a code exchange by client id (its secret, if
// any, sent separately).
func exchangeForm(code, verifier, id string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect},
		"code_verifier": {verifier}, "client_id": {id}}
}

// wantBoundExchange redeems code with a proof by k and checks that the
// tokens are bound to k.
func wantBoundExchange(t *testing.T, e *testEnv, form url.Values, basic, secret string, k *dpopKey) dpopTokenAnswer {
	t.Helper()
	rec := e.tokenRequest(form, basic, secret, k.proof(t, "POST", testIssuer+tokenPath, e.p.cfg.Now(), nil))
	a := decodeDPoPAnswer(t, rec)
	if rec.Code != http.StatusOK || a.TokenType != "DPoP" {
		t.Fatalf("code exchange with a proof by the dpop_jkt key: got %d %+v, want 200 with token_type DPoP", rec.Code, a)
	}
	if got := jwtCnf(t, a.AccessToken); got != k.jkt {
		t.Errorf("access token cnf.jkt = %q, want the dpop_jkt key's %q", got, k.jkt)
	}
	return a
}

// wantRefusedExchange checks that redeeming form with proofs is refused
// with invalid_grant.
func wantRefusedExchange(t *testing.T, e *testEnv, what string, form url.Values, basic, secret string, proofs ...string) {
	t.Helper()
	rec := e.tokenRequest(form, basic, secret, proofs...)
	if a := decodeDPoPAnswer(t, rec); rec.Code != http.StatusBadRequest || a.Error != "invalid_grant" {
		t.Errorf("exchange of a code bound by dpop_jkt %s: got %d %+v, want 400 invalid_grant", what, rec.Code, a)
	}
}

// TestDPoPJKTPublicClient: a public client's code flow with dpop_jkt. The
// code is refused without a proof and with another key's proof, and those
// refusals leave it redeemable: the exchange with the named key then
// succeeds, and its tokens (the refresh token too) are bound to that key.
func TestDPoPJKTPublicClient(t *testing.T) {
	e, _ := newDPoPEnv(t, func(*Config) {})
	k, other := newDPoPKey(t), newDPoPKey(t)
	verifier := base64.RawURLEncoding.EncodeToString(randomBytes(t, 32))
	q := url.Values{
		"client_id": {"spa"}, "redirect_uri": {webRedirect}, "response_type": {"code"},
		"scope": {"openid offline_access"}, "state": {"st"}, "nonce": {"nn"},
		"code_challenge": {s256(verifier)}, "code_challenge_method": {"S256"}, "dpop_jkt": {k.jkt},
	}
	code := e.signInWith(t, cookieJar{}, q, "st")
	form := exchangeForm(code, verifier, "spa")

	wantRefusedExchange(t, e, "without a proof", form, "", "")
	wantRefusedExchange(t, e, "with another key's proof", form, "", "", other.proof(t, "POST", testIssuer+tokenPath, e.p.cfg.Now(), nil))

	a := wantBoundExchange(t, e, form, "", "", k)
	if a.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}
	if g := e.storedGrant(t, a.RefreshToken); g.DPoPJKT != k.jkt {
		t.Errorf("refresh grant bound to %q, want %q", g.DPoPJKT, k.jkt)
	}
	// Redeemed once: the same code again is refused even with the key.
	wantRefusedExchange(t, e, "a second time", form, "", "", k.proof(t, "POST", testIssuer+tokenPath, e.p.cfg.Now(), nil))
}

// TestDPoPJKTMalformed: /authorize refuses a dpop_jkt that is not a
// base64url SHA-256 thumbprint with invalid_request, back to the client.
func TestDPoPJKTMalformed(t *testing.T) {
	e, _ := newDPoPEnv(t, func(*Config) {})
	good := newDPoPKey(t).jkt
	for _, tc := range []struct{ name, jkt string }{
		{"too short (42 characters)", good[:42]},
		{"too long (44 characters)", good + "A"},
		{"padded", good + "="},
		{"standard base64 alphabet (+ and /)", "+/" + good[2:]},
		{"not base64 at all", strings.Repeat("!", 43)},
		{"white space inside", good[:20] + "\n" + good[21:]},
		{"non-canonical last character (bits beyond 256)", good[:42] + "B"},
		{"a JWK instead of its thumbprint", `{"kty":"EC","crv":"P-256","x":"abc","y":"def"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{
				"client_id": {"spa"}, "redirect_uri": {webRedirect}, "response_type": {"code"},
				"scope": {"openid"}, "state": {"st"},
				"code_challenge": {s256(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"}, "dpop_jkt": {tc.jkt},
			}
			rec := e.do(httptest.NewRequest(http.MethodGet, testIssuer+authorizePath+"?"+q.Encode(), nil))
			wantErrorRedirect(t, "dpop_jkt "+tc.name, rec, "invalid_request", "st")
			if loc := rec.Header().Get("Location"); !strings.Contains(loc, "dpop_jkt") {
				t.Errorf("dpop_jkt %s: the error %q does not name dpop_jkt", tc.name, loc)
			}
		})
	}
	// dpop_jkt twice is refused like any parameter sent twice.
	q := url.Values{
		"client_id": {"spa"}, "redirect_uri": {webRedirect}, "response_type": {"code"}, "scope": {"openid"}, "state": {"st"},
		"code_challenge": {s256(strings.Repeat("v", 43))}, "code_challenge_method": {"S256"}, "dpop_jkt": {good, good},
	}
	wantErrorRedirect(t, "dpop_jkt twice", e.do(httptest.NewRequest(http.MethodGet, testIssuer+authorizePath+"?"+q.Encode(), nil)), "invalid_request", "st")
}

// pushWithProofs posts form to the PAR endpoint as basicID with DPoP
// headers.
func (e *parEnv) pushWithProofs(form url.Values, basicID, basicSecret string, proofs ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, testIssuer+parPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(basicID, basicSecret)
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	return e.do(req)
}

// requestURIOf reads the request_uri of a 201 answer to a push.
func requestURIOf(t *testing.T, what string, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		RequestURI string `json:"request_uri"`
	}
	if rec.Code != http.StatusCreated || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.RequestURI == "" {
		t.Fatalf("%s: got %d %s, want 201 with a request_uri", what, rec.Code, rec.Body)
	}
	return body.RequestURI
}

// TestDPoPJKTPushed: a DPoP proof sent with a push binds the code as
// dpop_jkt would (RFC 9449 §10.1); a matching dpop_jkt beside it is
// accepted, a different one refused; a pushed dpop_jkt alone and one in a
// request object bind too; bad proofs and malformed values are refused at
// the push.
func TestDPoPJKTPushed(t *testing.T) {
	e := newPAREnv(t, nil)
	parURL := testIssuer + parPath
	k, other := newDPoPKey(t), newDPoPKey(t)
	exchange := func(t *testing.T, uri, verifier string) url.Values {
		t.Helper()
		code := e.signInWith(t, cookieJar{}, url.Values{"client_id": {"web"}, "request_uri": {uri}}, "st")
		form := exchangeForm(code, verifier, "web")
		form.Del("client_id")
		return form
	}

	t.Run("proof binds", func(t *testing.T) {
		params, verifier := authParams(t, "web")
		rec := e.pushWithProofs(params, "web", testWebSecret, k.proof(t, "POST", parURL, e.p.cfg.Now(), nil))
		if rec.Header().Get("DPoP-Nonce") == "" {
			t.Error("push with a proof: no DPoP-Nonce offered")
		}
		form := exchange(t, requestURIOf(t, "push with a proof", rec), verifier)
		wantRefusedExchange(t, e.testEnv, "(bound at the push) without a proof", form, "web", testWebSecret)
		wantRefusedExchange(t, e.testEnv, "(bound at the push) with another key's proof", form, "web", testWebSecret,
			other.proof(t, "POST", testIssuer+tokenPath, e.p.cfg.Now(), nil))
		wantBoundExchange(t, e.testEnv, form, "web", testWebSecret, k)
	})

	t.Run("proof and the same dpop_jkt", func(t *testing.T) {
		params, verifier := authParams(t, "web")
		params.Set("dpop_jkt", k.jkt)
		rec := e.pushWithProofs(params, "web", testWebSecret, k.proof(t, "POST", parURL, e.p.cfg.Now(), nil))
		wantBoundExchange(t, e.testEnv, exchange(t, requestURIOf(t, "push with a proof and its dpop_jkt", rec), verifier), "web", testWebSecret, k)
	})

	t.Run("dpop_jkt alone", func(t *testing.T) {
		params, verifier := authParams(t, "web")
		params.Set("dpop_jkt", k.jkt)
		form := exchange(t, e.pushed(t, params, "web", testWebSecret), verifier)
		wantRefusedExchange(t, e.testEnv, "(pushed) without a proof", form, "web", testWebSecret)
		wantBoundExchange(t, e.testEnv, form, "web", testWebSecret, k)
	})

	t.Run("dpop_jkt in a request object", func(t *testing.T) {
		params, verifier := authParams(t, "jar")
		params.Set("dpop_jkt", k.jkt)
		q := url.Values{"client_id": {"jar"}, "request": {sign(t, e.jarKey, jose.ES256, "jar1", e.requestObject(params))}}
		code := e.signInWith(t, cookieJar{}, q, "st")
		form := exchangeForm(code, verifier, "jar")
		form.Set("client_secret", testJARSecret)
		wantRefusedExchange(t, e.testEnv, "(request object) without a proof", form, "", "")
		wantBoundExchange(t, e.testEnv, form, "", "", k)
	})

	for _, tc := range []struct {
		name, jkt, wantErr string
		proof              func(t *testing.T) string
	}{
		{"proof and another key's dpop_jkt", other.jkt, "invalid_request",
			func(t *testing.T) string { return k.proof(t, "POST", parURL, e.p.cfg.Now(), nil) }},
		{"proof for the token endpoint", "", "invalid_dpop_proof",
			func(t *testing.T) string { return k.proof(t, "POST", testIssuer+tokenPath, e.p.cfg.Now(), nil) }},
		{"proof for GET", "", "invalid_dpop_proof",
			func(t *testing.T) string { return k.proof(t, "GET", parURL, e.p.cfg.Now(), nil) }},
		{"malformed dpop_jkt (padded)", k.jkt + "=", "invalid_request", nil},
		{"malformed dpop_jkt (too short)", k.jkt[:40], "invalid_request", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params, _ := authParams(t, "web")
			if tc.jkt != "" {
				params.Set("dpop_jkt", tc.jkt)
			}
			var proofs []string
			if tc.proof != nil {
				proofs = append(proofs, tc.proof(t))
			}
			rec := e.pushWithProofs(params, "web", testWebSecret, proofs...)
			var got struct {
				Error string `json:"error"`
			}
			_ = json.Unmarshal(rec.Body.Bytes(), &got)
			if rec.Code != http.StatusBadRequest || got.Error != tc.wantErr {
				t.Errorf("push, %s: got %d %s, want 400 %s", tc.name, rec.Code, rec.Body, tc.wantErr)
			}
		})
	}

	// A proof is used once: the same proof at a second push is refused.
	proof := k.proof(t, "POST", parURL, e.p.cfg.Now(), nil)
	params, _ := authParams(t, "web")
	requestURIOf(t, "first push with a proof", e.pushWithProofs(params, "web", testWebSecret, proof))
	if rec := e.pushWithProofs(params, "web", testWebSecret, proof); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "invalid_dpop_proof") {
		t.Errorf("push with a replayed proof: got %d %s, want 400 invalid_dpop_proof", rec.Code, rec.Body)
	}
}
