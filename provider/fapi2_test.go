package provider

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/dpop"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// newFAPIEnv is newPAREnv with "bank", a client held to the FAPI 2.0
// Security Profile (profile: fapi2): private_key_jwt with pkjwt's keys,
// ES256 ID tokens, pushed requests and DPoP-bound tokens required, as the
// clients.yaml parser sets them for the profile.
func newFAPIEnv(t *testing.T) *parEnv {
	t.Helper()
	e := newPAREnv(t, nil)
	bank := storage.Client{
		ID: "bank", Name: "Bank", RedirectURIs: []string{webRedirect},
		GrantTypes: []string{"authorization_code", "refresh_token"}, ResponseTypes: []string{"code"},
		TokenEndpointAuthMethod: "private_key_jwt", ApplicationType: "web", JWKS: e.jwksJSON, SkipConsent: true,
		IDTokenSignedResponseAlg: "ES256", Profile: clientpolicy.ProfileFAPI2,
		RequirePushedAuthorizationRequests: true, DPoPBoundAccessTokens: true,
	}
	if err := clientpolicy.Validate(bank); err != nil {
		t.Fatalf("test client bank: %v", err)
	}
	clients, err := e.store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.SyncClients(t.Context(), append(clients, bank), time.Now()); err != nil {
		t.Fatal(err)
	}
	e.p.InvalidateClients()
	return e
}

// bankAssertion is a client assertion of bank for aud.
func (e *parEnv) bankAssertion(t *testing.T, aud string) url.Values {
	claims := e.claims("bank")
	claims["aud"] = aud
	return url.Values{
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {sign(t, e.ec, jose.ES256, "ec1", claims)},
	}
}

func with(form url.Values, more url.Values) url.Values {
	out := url.Values{}
	for _, f := range []url.Values{form, more} {
		for k, v := range f {
			out[k] = v
		}
	}
	return out
}

// TestFAPI2Client: a fapi2 client signs a user in the FAPI 2.0 way (a
// pushed request authenticated with a private_key_jwt assertion for the
// issuer, PKCE, the code exchanged with a DPoP proof: the access token is
// bound) and nothing less. Bad input tried: a plain /authorize, a push
// without PKCE, a push and a token request whose assertion names the
// endpoint instead of the issuer, a token request without a DPoP proof,
// with an RS256 proof, with an RS256 client assertion.
func TestFAPI2Client(t *testing.T) {
	e := newFAPIEnv(t)
	params, verifier := authParams(t, "bank")

	wantErrorRedirect(t, "a plain authorization request", e.authorize(params), "invalid_request", "st")

	noPKCE := with(params, e.bankAssertion(t, testIssuer))
	noPKCE.Del("code_challenge")
	noPKCE.Del("code_challenge_method")
	if rec := e.push(noPKCE, "", ""); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "PKCE is required for this client") {
		t.Errorf("push without PKCE: %d %s, want 400 naming PKCE", rec.Code, rec.Body)
	}
	if rec := e.push(with(params, e.bankAssertion(t, testIssuer+parPath)), "", ""); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "must be the issuer") {
		t.Errorf("push with the PAR endpoint as aud: %d %s, want 401 invalid_client", rec.Code, rec.Body)
	}

	uri := e.pushed(t, with(params, e.bankAssertion(t, testIssuer)), "", "")
	code := e.signInWith(t, cookieJar{}, url.Values{"client_id": {"bank"}, "request_uri": {uri}}, "st")
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {verifier}}
	k := newDPoPKey(t)
	proof := func() string { return k.proof(t, "POST", testIssuer+tokenPath, e.p.cfg.Now(), nil) }

	if rec := e.tokenRequest(with(exchange, e.bankAssertion(t, testIssuer+tokenPath)), "", "", proof()); rec.Code != http.StatusUnauthorized {
		t.Errorf("token request with the token endpoint as aud: %d %s, want 401 invalid_client", rec.Code, rec.Body)
	}
	if rec := e.tokenRequest(with(exchange, e.bankAssertion(t, testIssuer)), "", ""); rec.Code != http.StatusBadRequest || errorCode(rec) != "invalid_dpop_proof" {
		t.Errorf("token request without a DPoP proof: %d %s, want 400 invalid_dpop_proof", rec.Code, rec.Body)
	}
	rsaJTI := rand.Text()
	rsaProof := signProof(t, jose.RS256, e.rsa, nil, map[string]any{"jti": rsaJTI, "htm": "POST", "htu": testIssuer + tokenPath, "iat": e.p.cfg.Now().Unix()})
	if rec := e.tokenRequest(with(exchange, e.bankAssertion(t, testIssuer)), "", "", rsaProof); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "PS256, ES256, EdDSA") {
		t.Errorf("token request with an RS256 DPoP proof: %d %s, want 400 invalid_dpop_proof", rec.Code, rec.Body)
	}
	// The refused proof's jti was not recorded: the refusal wrote nothing.
	rsaJKT, err := dpop.Thumbprint(&jose.JSONWebKey{Key: e.rsa.Public()})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.UseDPoPProof(t.Context(), rsaJKT, rsaJTI, e.p.cfg.Now().Add(time.Minute), e.p.cfg.Now()); err != nil {
		t.Errorf("recording the refused RS256 proof's jti afterwards: %v, want nil (never recorded)", err)
	}
	rsaAssertion := e.claims("bank")
	rsaAssertion["aud"] = testIssuer
	form := with(exchange, url.Values{"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion": {sign(t, e.rsa, jose.RS256, "rsa1", rsaAssertion)}})
	if rec := e.tokenRequest(form, "", "", proof()); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "PS256, ES256 or EdDSA") {
		t.Errorf("token request with an RS256 client assertion: %d %s, want 401 invalid_client", rec.Code, rec.Body)
	}
	rec := e.tokenRequest(with(exchange, e.bankAssertion(t, testIssuer)), "", "", proof())
	a := decodeDPoPAnswer(t, rec)
	if rec.Code != http.StatusOK || a.TokenType != "DPoP" {
		t.Fatalf("the FAPI 2.0 code exchange: %d %s, want 200 with token_type DPoP", rec.Code, rec.Body)
	}
	if got := jwtCnf(t, a.AccessToken); got != k.jkt {
		t.Errorf("cnf.jkt = %q, want the proof key's thumbprint %q", got, k.jkt)
	}
}

// TestFAPI2RefreshKeepsToken: a fapi2 client's refresh token does not
// rotate (FAPI 2.0 Security Profile §5.3.2.1). Each refresh answers new
// access and ID tokens with the same refresh token, which stays valid:
// used again long after the grace window it is not taken for a reuse, and
// nothing is revoked. With an idle limit each refresh moves the grant's
// expiry, never past the family's deadline; a revoked family's token is
// refused.
func TestFAPI2RefreshKeepsToken(t *testing.T) {
	e := newFAPIEnv(t)
	bank, err := e.store.Client(t.Context(), "bank")
	if err != nil {
		t.Fatal(err)
	}
	bank.RefreshTokenIdleTTL = time.Hour
	clients, err := e.store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := range clients {
		if clients[i].ID == "bank" {
			clients[i] = *bank
		}
	}
	if _, err := e.store.SyncClients(t.Context(), clients, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.p.InvalidateClients()

	k := newDPoPKey(t)
	proof := func() string { return k.proof(t, "POST", testIssuer+tokenPath, e.p.cfg.Now(), nil) }
	signIn := func() dpopTokenAnswer {
		t.Helper()
		params, verifier := authParams(t, "bank")
		params.Set("scope", "openid email offline_access")
		uri := e.pushed(t, with(params, e.bankAssertion(t, testIssuer)), "", "")
		code := e.signInWith(t, cookieJar{}, url.Values{"client_id": {"bank"}, "request_uri": {uri}}, "st")
		rec := e.tokenRequest(with(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {webRedirect}, "code_verifier": {verifier}},
			e.bankAssertion(t, testIssuer)), "", "", proof())
		a := decodeDPoPAnswer(t, rec)
		if rec.Code != http.StatusOK || a.RefreshToken == "" {
			t.Fatalf("code exchange: %d %s, want 200 with a refresh token", rec.Code, rec.Body)
		}
		return a
	}
	grant := func(token string) *storage.RefreshGrant {
		t.Helper()
		hash, err := e.p.refreshTokenHash(token)
		if err != nil {
			t.Fatal(err)
		}
		g, err := e.store.RefreshGrantByHash(t.Context(), hash)
		if err != nil {
			t.Fatalf("RefreshGrantByHash: %v", err)
		}
		return g
	}
	refreshWith := func(token string) (*httptest.ResponseRecorder, dpopTokenAnswer) {
		t.Helper()
		rec := e.tokenRequest(with(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}},
			e.bankAssertion(t, testIssuer)), "", "", proof())
		return rec, decodeDPoPAnswer(t, rec)
	}

	first := signIn()
	start := grant(first.RefreshToken)
	refresh := func() (*httptest.ResponseRecorder, dpopTokenAnswer) { return refreshWith(first.RefreshToken) }

	seen := map[string]bool{first.AccessToken: true}
	for i, wait := range []time.Duration{time.Minute, 30 * time.Minute, 50 * time.Minute} {
		e.clock.advance(wait) // every wait is past the grace window
		rec, a := refresh()
		if rec.Code != http.StatusOK || a.RefreshToken != first.RefreshToken || a.TokenType != "DPoP" || seen[a.AccessToken] {
			t.Fatalf("refresh %d: %d %s, want 200 with a new access token and the same refresh token", i+1, rec.Code, rec.Body)
		}
		seen[a.AccessToken] = true
		g := grant(first.RefreshToken)
		if g.UsedAt != nil || g.RevokedAt != nil {
			t.Fatalf("refresh %d: grant used %v revoked %v, want neither", i+1, g.UsedAt, g.RevokedAt)
		}
		if want := e.clock.now().Add(time.Hour); !g.ExpiresAt.Equal(want) {
			t.Errorf("refresh %d: grant expires %v, want an hour after the refresh (%v)", i+1, g.ExpiresAt, want)
		}
	}
	if got := grant(first.RefreshToken).AbsoluteExpiresAt; !got.Equal(start.AbsoluteExpiresAt) {
		t.Errorf("family deadline moved from %v to %v", start.AbsoluteExpiresAt, got)
	}
	revoked, err := e.store.FamilyRevoked(t.Context(), start.FamilyID)
	if err != nil || revoked {
		t.Fatalf("family revoked after repeated refreshes: %v, %v; want false", revoked, err)
	}

	// A store failure moving the expiry answers 503 with Retry-After and
	// keeps the token: the retry succeeds.
	e.clock.advance(time.Minute) // so that the expiry moves
	e.p.refreshes = extendFailing{e.p.refreshes}
	if rec, _ := refresh(); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("refresh while the store fails: %d %s (Retry-After %q), want 503 with Retry-After", rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	e.p.refreshes = e.p.refreshes.(extendFailing).refreshGrantStore
	if rec, a := refresh(); rec.Code != http.StatusOK || a.RefreshToken != first.RefreshToken {
		t.Errorf("refresh after the store came back: %d %s, want 200 with the same refresh token", rec.Code, rec.Body)
	}

	// A second sign-in's family, revoked, is refused, and the first one
	// is not touched by it.
	second := signIn()
	if err := e.store.RevokeFamily(t.Context(), grant(second.RefreshToken).FamilyID, e.clock.now(), e.clock.now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rec, a := refreshWith(second.RefreshToken); rec.Code != http.StatusBadRequest || a.Error != "invalid_grant" {
		t.Errorf("refresh of a revoked family: %d %s, want 400 invalid_grant", rec.Code, rec.Body)
	}
	if rec, _ := refresh(); rec.Code != http.StatusOK {
		t.Errorf("refresh of the first family after the second was revoked: %d %s, want 200", rec.Code, rec.Body)
	}

	// Unused for longer than the idle limit, it expires.
	e.clock.advance(time.Hour)
	if rec, a := refresh(); rec.Code != http.StatusBadRequest || a.Error != "invalid_grant" {
		t.Errorf("refresh after the idle limit: %d %s, want 400 invalid_grant", rec.Code, rec.Body)
	}
}

// extendFailing fails ExtendRefreshGrant as a store outage would.
type extendFailing struct{ refreshGrantStore }

func (extendFailing) ExtendRefreshGrant(context.Context, string, time.Time, time.Time) error {
	return errors.New("injected: connection reset")
}
