package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// countingStore counts the store calls a flow makes.
type countingStore struct {
	*sqlite.Store
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingStore) count(name string) {
	c.mu.Lock()
	c.calls[name]++
	c.mu.Unlock()
}

// take returns the calls counted so far, as "Name×n" sorted, and resets.
func (c *countingStore) take() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	total := 0
	for name, n := range c.calls {
		parts = append(parts, fmt.Sprintf("%s×%d", name, n))
		total += n
	}
	sort.Strings(parts)
	c.calls = map[string]int{}
	return strings.Join(parts, " "), total
}

func (c *countingStore) Client(ctx context.Context, id string) (*storage.Client, error) {
	c.count("Client")
	return c.Store.Client(ctx, id)
}
func (c *countingStore) UserByID(ctx context.Context, id string) (*storage.User, error) {
	c.count("UserByID")
	return c.Store.UserByID(ctx, id)
}
func (c *countingStore) UserByUsername(ctx context.Context, n string) (*storage.User, error) {
	c.count("UserByUsername")
	return c.Store.UserByUsername(ctx, n)
}
func (c *countingStore) CreateSession(ctx context.Context, s *storage.Session) error {
	c.count("CreateSession")
	return c.Store.CreateSession(ctx, s)
}
func (c *countingStore) Session(ctx context.Context, id string, now time.Time) (*storage.Session, error) {
	c.count("Session")
	return c.Store.Session(ctx, id, now)
}
func (c *countingStore) DeleteSession(ctx context.Context, id string) (*storage.Session, error) {
	c.count("DeleteSession")
	return c.Store.DeleteSession(ctx, id)
}
func (c *countingStore) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error {
	c.count("CreateAuthRequest")
	return c.Store.CreateAuthRequest(ctx, r)
}
func (c *countingStore) AuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	c.count("AuthRequest")
	return c.Store.AuthRequest(ctx, id, now)
}
func (c *countingStore) CompleteAuthRequest(ctx context.Context, id string, l storage.Login, now time.Time) error {
	c.count("CompleteAuthRequest")
	return c.Store.CompleteAuthRequest(ctx, id, l, now)
}
func (c *countingStore) SaveCode(ctx context.Context, id, h string, exp, now time.Time) error {
	c.count("SaveCode")
	return c.Store.SaveCode(ctx, id, h, exp, now)
}
func (c *countingStore) AuthRequestByCode(ctx context.Context, h string, now time.Time) (*storage.AuthRequest, error) {
	c.count("AuthRequestByCode")
	return c.Store.AuthRequestByCode(ctx, h, now)
}
func (c *countingStore) ClaimCode(ctx context.Context, h, claim string, now time.Time, lease time.Duration) (*storage.AuthRequest, error) {
	c.count("ClaimCode")
	return c.Store.ClaimCode(ctx, h, claim, now, lease)
}
func (c *countingStore) RedeemCode(ctx context.Context, h, claim string, now time.Time) error {
	c.count("RedeemCode")
	return c.Store.RedeemCode(ctx, h, claim, now)
}
func (c *countingStore) ReleaseCode(ctx context.Context, h, claim string) error {
	c.count("ReleaseCode")
	return c.Store.ReleaseCode(ctx, h, claim)
}
func (c *countingStore) DeleteAuthRequest(ctx context.Context, id string) error {
	c.count("DeleteAuthRequest")
	return c.Store.DeleteAuthRequest(ctx, id)
}
func (c *countingStore) CreateRefreshGrant(ctx context.Context, g *storage.RefreshGrant) error {
	c.count("CreateRefreshGrant")
	return c.Store.CreateRefreshGrant(ctx, g)
}
func (c *countingStore) RefreshGrant(ctx context.Context, h string, now time.Time) (*storage.RefreshGrant, error) {
	c.count("RefreshGrant")
	return c.Store.RefreshGrant(ctx, h, now)
}
func (c *countingStore) RotateRefreshGrant(ctx context.Context, h string, next *storage.RefreshGrant, replay []byte, until, now time.Time) error {
	c.count("RotateRefreshGrant")
	return c.Store.RotateRefreshGrant(ctx, h, next, replay, until, now)
}

func (c *countingStore) RefreshGrantByHash(ctx context.Context, h string) (*storage.RefreshGrant, error) {
	c.count("RefreshGrantByHash")
	return c.Store.RefreshGrantByHash(ctx, h)
}
func (c *countingStore) RevokeFamily(ctx context.Context, fam string, now, keep time.Time) error {
	c.count("RevokeFamily")
	return c.Store.RevokeFamily(ctx, fam, now, keep)
}
func (c *countingStore) FamilyRevoked(ctx context.Context, fam string) (bool, error) {
	c.count("FamilyRevoked")
	return c.Store.FamilyRevoked(ctx, fam)
}

func (c *countingStore) UpdateSession(ctx context.Context, s *storage.Session, now time.Time) error {
	c.count("UpdateSession")
	return c.Store.UpdateSession(ctx, s, now)
}
func (c *countingStore) ReserveLoginAttempt(ctx context.Context, l []storage.ThrottleLimit, now time.Time, window time.Duration) (*storage.LoginAttempt, time.Duration, error) {
	c.count("ReserveLoginAttempt")
	return c.Store.ReserveLoginAttempt(ctx, l, now, window)
}
func (c *countingStore) ReleaseLoginAttempt(ctx context.Context, a *storage.LoginAttempt, forget []string) error {
	c.count("ReleaseLoginAttempt")
	return c.Store.ReleaseLoginAttempt(ctx, a, forget)
}
func (c *countingStore) Consent(ctx context.Context, userID, clientID string) (*storage.Consent, error) {
	c.count("Consent")
	return c.Store.Consent(ctx, userID, clientID)
}
func (c *countingStore) SaveConsent(ctx context.Context, consent *storage.Consent) error {
	c.count("SaveConsent")
	return c.Store.SaveConsent(ctx, consent)
}
func (c *countingStore) EnqueueLogoutNotices(ctx context.Context, n []storage.LogoutNotice) error {
	c.count("EnqueueLogoutNotices")
	return c.Store.EnqueueLogoutNotices(ctx, n)
}

func (c *countingStore) UserGroups(ctx context.Context, userID string) ([]string, error) {
	c.count("UserGroups")
	return c.Store.UserGroups(ctx, userID)
}

func (c *countingStore) TOTP(ctx context.Context, userID string) (*storage.TOTPCredential, error) {
	c.count("TOTP")
	return c.Store.TOTP(ctx, userID)
}
func (c *countingStore) UserPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error) {
	c.count("UserPasskeys")
	return c.Store.UserPasskeys(ctx, userID)
}
func (c *countingStore) CreateWebAuthnCeremony(ctx context.Context, w *storage.WebAuthnCeremony) error {
	c.count("CreateWebAuthnCeremony")
	return c.Store.CreateWebAuthnCeremony(ctx, w)
}
func (c *countingStore) UseTOTPStep(ctx context.Context, userID string, step int64, now time.Time) error {
	c.count("UseTOTPStep")
	return c.Store.UseTOTPStep(ctx, userID, step, now)
}
func (c *countingStore) CreatePendingSignIn(ctx context.Context, p *storage.PendingSignIn) error {
	c.count("CreatePendingSignIn")
	return c.Store.CreatePendingSignIn(ctx, p)
}
func (c *countingStore) PendingSignIn(ctx context.Context, id string, now time.Time) (*storage.PendingSignIn, error) {
	c.count("PendingSignIn")
	return c.Store.PendingSignIn(ctx, id, now)
}
func (c *countingStore) TakePendingSignIn(ctx context.Context, id string, now time.Time) (*storage.PendingSignIn, error) {
	c.count("TakePendingSignIn")
	return c.Store.TakePendingSignIn(ctx, id, now)
}

func (c *countingStore) CreateDeviceAuthorization(ctx context.Context, d *storage.DeviceAuthorization) error {
	c.count("CreateDeviceAuthorization")
	return c.Store.CreateDeviceAuthorization(ctx, d)
}
func (c *countingStore) DeviceAuthorizationByUserCode(ctx context.Context, code string, now time.Time) (*storage.DeviceAuthorization, error) {
	c.count("DeviceAuthorizationByUserCode")
	return c.Store.DeviceAuthorizationByUserCode(ctx, code, now)
}
func (c *countingStore) DecideDeviceAuthorization(ctx context.Context, hash string, d storage.DeviceDecision, now time.Time) error {
	c.count("DecideDeviceAuthorization")
	return c.Store.DecideDeviceAuthorization(ctx, hash, d, now)
}
func (c *countingStore) PollDeviceAuthorization(ctx context.Context, hash string, now time.Time, slowDown time.Duration) (*storage.DeviceAuthorization, bool, error) {
	c.count("PollDeviceAuthorization")
	return c.Store.PollDeviceAuthorization(ctx, hash, now, slowDown)
}
func (c *countingStore) RedeemDeviceAuthorization(ctx context.Context, hash, claim string, now time.Time) error {
	c.count("RedeemDeviceAuthorization")
	return c.Store.RedeemDeviceAuthorization(ctx, hash, claim, now)
}
func (c *countingStore) PushRequest(ctx context.Context, r *storage.PushedRequest) error {
	c.count("PushRequest")
	return c.Store.PushRequest(ctx, r)
}
func (c *countingStore) TakePushedRequest(ctx context.Context, id, clientID string, now time.Time) (*storage.PushedRequest, error) {
	c.count("TakePushedRequest")
	return c.Store.TakePushedRequest(ctx, id, clientID, now)
}
func (c *countingStore) ExtendRefreshGrant(ctx context.Context, hash string, expiresAt, now time.Time) error {
	c.count("ExtendRefreshGrant")
	return c.Store.ExtendRefreshGrant(ctx, hash, expiresAt, now)
}
func (c *countingStore) UseDPoPProof(ctx context.Context, jkt, jti string, expiresAt, now time.Time) error {
	c.count("UseDPoPProof")
	return c.Store.UseDPoPProof(ctx, jkt, jti, expiresAt, now)
}

// TestStoreCallsPerFlow pins how many store calls each flow makes, so that
// a change that adds one is seen (and the figures reach the docs). Client
// lookups are cached, so warm flows make none.
func TestStoreCallsPerFlow(t *testing.T) {
	var cs *countingStore
	e := newTestEnvWith(t, func(s *sqlite.Store) Store {
		cs = &countingStore{Store: s, calls: map[string]int{}}
		return cs
	})
	e.signIn(t, cookieJar{}, "openid") // warm the client cache
	cs.take()

	jar := cookieJar{}
	code, verifier := e.signIn(t, jar, "openid offline_access")
	signIn, signInN := cs.take()
	rec := e.exchangeCode(code, verifier, "web", testWebSecret)
	if rec.Code != http.StatusOK {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	exchange, exchangeN := cs.take()
	code, verifier = e.ssoCode(t, jar)
	sso, ssoN := cs.take()
	if rec := e.exchangeCode(code, verifier, "web", testWebSecret); rec.Code != http.StatusOK {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	cs.take()
	var tr tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}
	req := httptest.NewRequest(http.MethodPost, testIssuer+tokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", testWebSecret)
	if rec := e.do(req); rec.Code != http.StatusOK {
		t.Fatalf("refresh: %d %s", rec.Code, rec.Body)
	}
	refresh, refreshN := cs.take()
	var next tokenResponse
	if err := json.Unmarshal(e.refresh(tr.RefreshToken).Body.Bytes(), &next); err != nil {
		t.Fatal(err)
	}
	cs.take()
	e.userinfoStatus(next.AccessToken)
	userinfo, userinfoN := cs.take()

	// The same sign-in for a user with a one-time code.
	e.enrolTOTP(t)
	cs.take()
	e.signInWithCode(t, cookieJar{}, "openid")
	withCode, withCodeN := cs.take()

	// A client with allowed_groups reads the user's groups once more in
	// single sign-on and in the refresh; the flows above, for clients
	// without, never read them.
	e.restrict(t, "web", "staff")
	e.join(t, "staff")
	e.ssoCode(t, jar) // warm the client cache again
	cs.take()
	code, verifier = e.ssoCode(t, jar)
	ssoGroups, ssoGroupsN := cs.take()
	tr = decodeToken(t, e.exchangeCode(code, verifier, "web", testWebSecret))
	cs.take()
	decodeToken(t, e.refresh(tr.RefreshToken))
	refreshGroups, refreshGroupsN := cs.take()

	// The device grant (a public client "tv"): the authorization, a poll
	// while the user has not decided, and the poll that gets the tokens
	// once approved (the approval itself is the user's sign-in, written
	// here straight to the store).
	clients, err := cs.Store.ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	clients = append(clients, storage.Client{ID: "tv", Name: "TV", TokenEndpointAuthMethod: "none", ApplicationType: "native",
		GrantTypes: []string{clientpolicy.GrantDeviceCode, "refresh_token"}})
	if _, err := cs.Store.SyncClients(t.Context(), clients, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.p.InvalidateClients()
	e.deviceAuthorize(t) // warm the client cache
	cs.take()
	deviceCode, _ := e.deviceAuthorize(t)
	deviceAuth, deviceAuthN := cs.take()
	if rec := e.pollDevice(deviceCode); errorCode(rec) != "authorization_pending" {
		t.Fatalf("device poll before approval: %d %s", rec.Code, rec.Body)
	}
	devicePending, devicePendingN := cs.take()
	if err := cs.Store.DecideDeviceAuthorization(t.Context(), TokenHash(deviceCode), storage.DeviceDecision{
		Approved: true, UserID: testUserID, SessionID: "session", AuthTime: time.Now(), AMR: []string{"pwd"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if rec := e.pollDevice(deviceCode); rec.Code != http.StatusOK {
		t.Fatalf("device poll after approval: %d %s", rec.Code, rec.Body)
	}
	deviceTokens, deviceTokensN := cs.take()

	// A pushed authorization request (PAR), by the confidential client.
	push := url.Values{"response_type": {"code"}, "redirect_uri": {webRedirect}, "scope": {"openid"}, "state": {"st"},
		"code_challenge": {s256("a-verifier-of-forty-three-characters-or-more-00")}, "code_challenge_method": {"S256"}}
	pushed := func() {
		t.Helper()
		req := httptest.NewRequest(http.MethodPost, testIssuer+parPath, strings.NewReader(push.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("web", testWebSecret)
		if rec := e.do(req); rec.Code != http.StatusCreated {
			t.Fatalf("push: %d %s", rec.Code, rec.Body)
		}
	}
	pushed() // warm the client cache
	cs.take()
	pushed()
	pushCalls, pushN := cs.take()

	tests := []struct {
		flow  string
		calls string
		n     int
		want  int
	}{
		// The login UI reads clients through the provider's cache; the
		// login post counts the attempt on the IP and the account before
		// the password is checked (one call) and gives it back after the
		// right password (one call); the login page stores the ceremony
		// of "Sign in with a passkey"; the login post asks whether the user
		// has a second factor (TOTP, then UserPasskeys when there is none).
		{"sign-in with password (authorize, login page, login, callback)", signIn, signInN, 13},
		// The login post stores a pending sign-in instead of the session;
		// the code page reads it, its user and request; the code post
		// reads them again, reserves the attempt, reads the generator,
		// spends the step, takes the pending sign-in, gives the attempt
		// back and completes as the login post does; the code page also
		// reads which factors to offer (TOTP, UserPasskeys).
		{"sign-in with password and one-time code", withCode, withCodeN, 26},
		// ClaimCode (which returns the request), UserByID (still enabled;
		// the ID token's claims), CreateRefreshGrant, RedeemCode.
		{"code exchange", exchange, exchangeN, 4},
		// Session, UserByID, CreateAuthRequest (stored with its code).
		{"SSO authorize (session exists)", sso, ssoN, 3},
		// RefreshGrantByHash (the grant in any state), FamilyRevoked,
		// UserByID (still enabled; the ID token's claims reuse it), and one
		// write: the rotation with the answer kept for the grace window.
		{"refresh", refresh, refreshN, 4},
		{"userinfo", userinfo, userinfoN, 2},
		// ReserveLoginAttempt (a public client's call, counted per IP),
		// CreateDeviceAuthorization (a user code taken is retried, rarely).
		{"device authorization", deviceAuth, deviceAuthN, 2},
		// PollDeviceAuthorization (the interval and slow_down in the same
		// write).
		{"device poll, not decided yet", devicePending, devicePendingN, 1},
		// PollDeviceAuthorization, UserByID, CreateRefreshGrant,
		// RedeemDeviceAuthorization.
		{"device poll, approved", deviceTokens, deviceTokensN, 4},
		// PushRequest (the client is cached).
		{"pushed authorization request", pushCalls, pushN, 1},
		// Session, UserByID, UserGroups, CreateAuthRequest.
		{"SSO authorize for a client with allowed_groups", ssoGroups, ssoGroupsN, 4},
		// The refresh's four and UserGroups (the groups claim reuses it).
		{"refresh for a client with allowed_groups", refreshGroups, refreshGroupsN, 5},
	}
	for _, tt := range tests[:len(tests)-2] {
		if strings.Contains(tt.calls, "UserGroups") {
			t.Errorf("%s: reads the user's groups (%s) for a client without allowed_groups", tt.flow, tt.calls)
		}
	}
	for _, tt := range tests {
		t.Logf("%s: %d store calls: %s", tt.flow, tt.n, tt.calls)
		if tt.n != tt.want {
			t.Errorf("%s: got %d store calls (%s), want %d", tt.flow, tt.n, tt.calls, tt.want)
		}
	}
}
