package provider

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// codeFlowAs runs the code flow for a client_secret_post client and
// redeems the code.
func (e *testEnv) codeFlowAs(t *testing.T, clientID, secret, scope string) tokenResponse {
	t.Helper()
	code, verifier := e.signInTo(t, cookieJar{}, clientID, scope)
	return decodeToken(t, e.exchangeCode(code, verifier, clientID, secret))
}

// refreshAs refreshes token as a client_secret_post client.
func (e *testEnv) refreshAs(clientID, secret, token string) *httptest.ResponseRecorder {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "client_id": {clientID}, "client_secret": {secret}}
	req := httptest.NewRequest(http.MethodPost, testIssuer+tokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req)
}

// storedGrant returns the grant behind a refresh token, in any state.
func (e *testEnv) storedGrant(t *testing.T, token string) *storage.RefreshGrant {
	t.Helper()
	g, err := e.store.RefreshGrantByHash(t.Context(), TokenHash(token))
	if err != nil {
		t.Fatalf("RefreshGrantByHash: %v", err)
	}
	return g
}

// A token of the "idle" client (idle 1h, absolute 24h) left unused past
// its idle limit is refused.
func TestRefreshIdleExpiry(t *testing.T) {
	e, c := newClockEnv(t, 10*time.Second)
	start := c.now()
	tr := e.codeFlowAs(t, "idle", testIdleSecret, "openid offline_access")
	g := e.storedGrant(t, tr.RefreshToken)
	if want := start.Add(time.Hour); !g.ExpiresAt.Equal(want) {
		t.Errorf("grant ExpiresAt at the code exchange: got %s, want now + idle (%s)", g.ExpiresAt, want)
	}
	if want := start.Add(24 * time.Hour); !g.AbsoluteExpiresAt.Equal(want) {
		t.Errorf("grant AbsoluteExpiresAt at the code exchange: got %s, want now + absolute (%s)", g.AbsoluteExpiresAt, want)
	}

	c.advance(time.Hour + time.Second)
	checkTokenResponse(t, e.refreshAs("idle", testIdleSecret, tr.RefreshToken), http.StatusBadRequest, "invalid_grant")

	// The same after a rotation: the new token's idle clock starts at the
	// rotation.
	tr = e.codeFlowAs(t, "idle", testIdleSecret, "openid offline_access")
	c.advance(30 * time.Minute)
	next := decodeToken(t, e.refreshAs("idle", testIdleSecret, tr.RefreshToken))
	c.advance(time.Hour + time.Second)
	checkTokenResponse(t, e.refreshAs("idle", testIdleSecret, next.RefreshToken), http.StatusBadRequest, "invalid_grant")
}

// A token of the "idle" client used every idle−1s keeps working until the
// family's absolute deadline (24h), which no rotation extends; then it is
// refused.
func TestRefreshIdleSlidesUntilAbsolute(t *testing.T) {
	e, c := newClockEnv(t, 10*time.Second)
	start := c.now()
	deadline := start.Add(24 * time.Hour)
	token := e.codeFlowAs(t, "idle", testIdleSecret, "openid offline_access").RefreshToken
	step := time.Hour - time.Second
	rotations := 0
	for c.now().Add(step).Before(deadline) {
		c.advance(step)
		rec := e.refreshAs("idle", testIdleSecret, token)
		if rec.Code != http.StatusOK {
			t.Fatalf("refresh %d at %s after the code exchange: got %d %s, want 200", rotations+1, c.now().Sub(start), rec.Code, rec.Body)
		}
		token = decodeToken(t, rec).RefreshToken
		rotations++
		g := e.storedGrant(t, token)
		want := c.now().Add(time.Hour)
		if want.After(deadline) {
			want = deadline
		}
		if !g.ExpiresAt.Equal(want) || !g.AbsoluteExpiresAt.Equal(deadline) {
			t.Fatalf("rotation %d: got ExpiresAt %s, AbsoluteExpiresAt %s; want %s, %s", rotations, g.ExpiresAt, g.AbsoluteExpiresAt, want, deadline)
		}
	}
	if rotations < 24 {
		t.Fatalf("got %d rotations inside the absolute limit, want 24", rotations)
	}
	// The last token's idle deadline is capped at the absolute one, which
	// is less than an idle period away.
	c.advance(deadline.Sub(c.now()))
	checkTokenResponse(t, e.refreshAs("idle", testIdleSecret, token), http.StatusBadRequest, "invalid_grant")
}

// Per-client grace: with the server's window at 10 s, the "nograce" client
// (refresh_token_grace_period: 0s) has none, so the second use of a token
// revokes its family at once, while "web" (no policy of its own) keeps the
// server's 10 s.
func TestRefreshPerClientGrace(t *testing.T) {
	e, _ := newClockEnv(t, 10*time.Second)

	tr := e.codeFlowAs(t, "nograce", testNoGraceSecret, "openid offline_access")
	next := decodeToken(t, e.refreshAs("nograce", testNoGraceSecret, tr.RefreshToken))
	checkTokenResponse(t, e.refreshAs("nograce", testNoGraceSecret, tr.RefreshToken), http.StatusBadRequest, "invalid_grant")
	checkTokenResponse(t, e.refreshAs("nograce", testNoGraceSecret, next.RefreshToken), http.StatusBadRequest, "invalid_grant")
	if got := e.userinfoStatus(next.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("userinfo with the access token of the revoked family: got %d, want 401", got)
	}
	if g := e.storedGrant(t, tr.RefreshToken); g.Replay != nil {
		t.Errorf("a client without a grace window: the rotation's answer was kept for retries")
	}

	web := e.codeFlow(t, "openid offline_access")
	first := e.refresh(web.RefreshToken)
	checkTokenResponse(t, first, http.StatusOK, "")
	again := e.refresh(web.RefreshToken)
	checkTokenResponse(t, again, http.StatusOK, "")
	if again.Body.String() != first.Body.String() {
		t.Errorf("web retry in the server's grace window: got a different answer")
	}
}

// Per-client grace the other way: with the server's window off, the
// "grace10" client still has its own 10 s, and a use after them is a reuse.
func TestRefreshClientGraceOverridesServerOff(t *testing.T) {
	e, c := newClockEnv(t, -1)

	tr := e.codeFlowAs(t, "grace10", testGraceSecret, "openid offline_access")
	first := e.refreshAs("grace10", testGraceSecret, tr.RefreshToken)
	checkTokenResponse(t, first, http.StatusOK, "")
	c.advance(9 * time.Second)
	again := e.refreshAs("grace10", testGraceSecret, tr.RefreshToken)
	checkTokenResponse(t, again, http.StatusOK, "")
	if again.Body.String() != first.Body.String() {
		t.Errorf("grace10 retry in its window: got a different answer")
	}
	c.advance(2 * time.Second)
	checkTokenResponse(t, e.refreshAs("grace10", testGraceSecret, tr.RefreshToken), http.StatusBadRequest, "invalid_grant")
	checkTokenResponse(t, e.refreshAs("grace10", testGraceSecret, decodeToken(t, first).RefreshToken), http.StatusBadRequest, "invalid_grant")

	// "web" has no window of its own: the server's (off) applies.
	web := e.codeFlow(t, "openid offline_access")
	decodeToken(t, e.refresh(web.RefreshToken))
	checkTokenResponse(t, e.refresh(web.RefreshToken), http.StatusBadRequest, "invalid_grant")
}

// A client without a policy of its own gets the server's: no idle limit
// (a token unused for most of the family's life still works) and the
// absolute limit refresh_token_ttl from the code exchange.
func TestRefreshPolicyDefaults(t *testing.T) {
	e, c := newClockEnv(t, 10*time.Second)
	start := c.now()
	tr := e.codeFlow(t, "openid offline_access")
	g := e.storedGrant(t, tr.RefreshToken)
	deadline := start.Add(30 * 24 * time.Hour)
	if !g.ExpiresAt.Equal(deadline) || !g.AbsoluteExpiresAt.Equal(deadline) {
		t.Errorf("web grant: got ExpiresAt %s, AbsoluteExpiresAt %s; want both %s (the server's 30 days)", g.ExpiresAt, g.AbsoluteExpiresAt, deadline)
	}
	c.advance(29 * 24 * time.Hour)
	next := decodeToken(t, e.refresh(tr.RefreshToken))
	if g := e.storedGrant(t, next.RefreshToken); !g.ExpiresAt.Equal(deadline) || !g.AbsoluteExpiresAt.Equal(deadline) {
		t.Errorf("rotated web grant: got ExpiresAt %s, AbsoluteExpiresAt %s; want both %s", g.ExpiresAt, g.AbsoluteExpiresAt, deadline)
	}
	c.advance(24*time.Hour + time.Second)
	checkTokenResponse(t, e.refresh(next.RefreshToken), http.StatusBadRequest, "invalid_grant")
}

// A grant stored before the absolute deadline was recorded (zero
// AbsoluteExpiresAt) keeps its ExpiresAt as the family's deadline when it
// rotates.
func TestRefreshLegacyGrantKeepsItsExpiry(t *testing.T) {
	e, c := newClockEnv(t, 10*time.Second)
	now := c.now()
	token, err := e.p.newRefreshToken()
	if err != nil {
		t.Fatal(err)
	}
	expires := now.Add(2 * time.Hour)
	if err := e.store.CreateRefreshGrant(t.Context(), &storage.RefreshGrant{
		TokenHash: TokenHash(token), FamilyID: "legacy", ClientID: "idle", UserID: testUserID,
		Scopes: []string{"openid", "offline_access"}, Audience: []string{"idle"},
		AuthTime: now, CreatedAt: now, ExpiresAt: expires,
	}); err != nil {
		t.Fatal(err)
	}
	c.advance(90 * time.Minute)
	next := decodeToken(t, e.refreshAs("idle", testIdleSecret, token))
	if g := e.storedGrant(t, next.RefreshToken); !g.ExpiresAt.Equal(expires) || !g.AbsoluteExpiresAt.Equal(expires) {
		t.Errorf("rotated legacy grant: got ExpiresAt %s, AbsoluteExpiresAt %s; want both %s", g.ExpiresAt, g.AbsoluteExpiresAt, expires)
	}
}

// Refresh tokens are issued only for the offline_access scope, and only to
// clients with the refresh_token grant.
func TestRefreshTokenNeedsOfflineAccess(t *testing.T) {
	e := newTestEnv(t)
	if tr := e.codeFlow(t, "openid profile"); tr.RefreshToken != "" || tr.AccessToken == "" {
		t.Errorf("web without offline_access: got refresh token %q, access token %q; want none and one", tr.RefreshToken, tr.AccessToken)
	}
	// "post" has no refresh_token grant: offline_access is dropped.
	code, verifier := e.signInTo(t, cookieJar{}, "post", "openid offline_access")
	if tr := decodeToken(t, e.exchangeCode(code, verifier, "post", testPostSecret)); tr.RefreshToken != "" || tr.AccessToken == "" {
		t.Errorf("post (no refresh_token grant) with offline_access: got refresh token %q, access token %q; want none and one", tr.RefreshToken, tr.AccessToken)
	}
	if tr := e.codeFlow(t, "openid offline_access"); tr.RefreshToken == "" {
		t.Errorf("web with offline_access: got no refresh token")
	}
}
