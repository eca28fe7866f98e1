package provider

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// failingRedeem is the SQLite store whose RedeemDeviceAuthorization fails
// while fail is set, as a store that stops answering.
type failingRedeem struct {
	*sqlite.Store
	fail atomic.Bool
}

func (f *failingRedeem) RedeemDeviceAuthorization(ctx context.Context, hash, claim string, now time.Time) error {
	if f.fail.Load() {
		return errors.New("store unavailable")
	}
	return f.Store.RedeemDeviceAuthorization(ctx, hash, claim, now)
}

// deviceEnv is a provider with a clock the test moves and a public device
// client "tv", over a store whose redemption can fail.
func deviceEnv(t *testing.T) (*testEnv, *failingRedeem, *time.Time) {
	t.Helper()
	now := time.Now()
	var store *failingRedeem
	e := newTestEnvConfig(t, func(s *sqlite.Store) Store { store = &failingRedeem{Store: s}; return store },
		func(c *Config) { c.Now = func() time.Time { return now } })
	clients := append(testClients(), storage.Client{ID: "tv", Name: "TV", TokenEndpointAuthMethod: "none", ApplicationType: "native",
		GrantTypes: []string{clientpolicy.GrantDeviceCode, "refresh_token"}})
	if _, err := e.store.SyncClients(t.Context(), clients, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.p.InvalidateClients()
	return e, store, &now
}

func (e *testEnv) deviceAuthorize(t *testing.T) (deviceCode, userCode string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, deviceAuthorizationPath, strings.NewReader("client_id=tv&scope=openid+offline_access"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := e.do(req)
	var body struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &body) != nil {
		t.Fatalf("device authorization: %d %s", rec.Code, rec.Body)
	}
	return body.DeviceCode, body.UserCode
}

func (e *testEnv) pollDevice(deviceCode string) *httptest.ResponseRecorder {
	form := url.Values{"grant_type": {clientpolicy.GrantDeviceCode}, "client_id": {"tv"}, "device_code": {deviceCode}}
	req := httptest.NewRequest(http.MethodPost, tokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req)
}

func errorCode(rec *httptest.ResponseRecorder) string {
	var body struct{ Error string }
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return body.Error
}

// TestDeviceGrantExpired: a device code polled past its 10 minutes gets
// expired_token, even once approved too late.
func TestDeviceGrantExpired(t *testing.T) {
	e, _, now := deviceEnv(t)
	deviceCode, _ := e.deviceAuthorize(t)
	*now = now.Add(deviceCodeTTL)
	if rec := e.pollDevice(deviceCode); rec.Code != http.StatusBadRequest || errorCode(rec) != "expired_token" {
		t.Errorf("poll at the expiry: %d %s, want 400 expired_token", rec.Code, rec.Body)
	}
	*now = now.Add(deviceKeep - time.Second)
	if rec := e.pollDevice(deviceCode); errorCode(rec) != "expired_token" {
		t.Errorf("poll a while after the expiry: %d %s, want expired_token", rec.Code, rec.Body)
	}
}

// TestDeviceGrantStoreFailureBurnsNothing: a redemption the store fails is
// a 503 with Retry-After, never a 4xx, and the device's next poll gets the
// tokens; after that the code is spent (invalid_grant).
func TestDeviceGrantStoreFailureBurnsNothing(t *testing.T) {
	e, store, now := deviceEnv(t)
	deviceCode, userCode := e.deviceAuthorize(t)
	code, ok := normalUserCode(userCode)
	if !ok {
		t.Fatalf("user code %q does not read back", userCode)
	}
	if err := store.DecideDeviceAuthorization(t.Context(), TokenHash(deviceCode), storage.DeviceDecision{
		Approved: true, UserID: testUserID, SessionID: "session", AuthTime: *now, AMR: []string{"pwd"}}, *now); err != nil {
		t.Fatal(err)
	}
	d, err := store.DeviceAuthorizationByUserCode(t.Context(), code, *now)
	if err != nil || d.Status != storage.DeviceApproved {
		t.Fatalf("approved sign-in: %+v, %v", d, err)
	}
	store.fail.Store(true)
	rec := e.pollDevice(deviceCode)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("poll while the store fails: %d (Retry-After %q) %s, want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	store.fail.Store(false)
	*now = now.Add(10 * time.Second)
	rec = e.pollDevice(deviceCode)
	var tok struct {
		AccessToken  string `json:"access_token"`
		IDToken      string `json:"id_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tok) != nil || tok.IDToken == "" || tok.RefreshToken == "" {
		t.Fatalf("poll once the store answers: %d %s, want the tokens", rec.Code, rec.Body)
	}
	*now = now.Add(10 * time.Second)
	if rec := e.pollDevice(deviceCode); errorCode(rec) != "invalid_grant" {
		t.Errorf("a poll after the tokens were issued: %d %s, want invalid_grant", rec.Code, rec.Body)
	}
}

// TestUserCodes: user codes are 8 letters of the base-20 alphabet; what a
// user types is read ignoring case, dashes and spaces, and anything else
// is refused before any lookup.
func TestUserCodes(t *testing.T) {
	// Bytes from 240 up are drawn again: 0xff and 0xf0 are skipped.
	c, err := newUserCode(strings.NewReader(strings.Repeat("\xff\xf0\x00\x13\x14\xef", 8)))
	if want := "BZBZBZBZ"; err != nil || c != want {
		t.Errorf("newUserCode: got %q, %v; want %q", c, err, want)
	}
	seen := map[byte]int{}
	for range 2000 {
		c, err := newUserCode(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		for i := range len(c) {
			seen[c[i]]++
		}
	}
	if len(seen) != 20 {
		t.Errorf("letters drawn: %d kinds, want all 20", len(seen))
	}
	for typed, want := range map[string]string{
		"BCDF-GHJK": "BCDFGHJK", "bcdfghjk": "BCDFGHJK", " bcdf - ghjk ": "BCDFGHJK", "BcDf\u00a0GhJk": "BCDFGHJK",
		"BCDF-GHJ": "", "BCDF-GHJKL": "", "ABCD-EFGH": "", "BCDF_GHJK": "", "BCDF-GHJ1": "", "": "",
		"ＢCDFGHJK": "", strings.Repeat("B", 65): "",
	} {
		got, ok := normalUserCode(typed)
		if got != want || ok != (want != "") {
			t.Errorf("normalUserCode(%q): got %q, %v; want %q", typed, got, ok, want)
		}
	}
}

// TestDeviceGrantDPoP: a device that polls with a DPoP proof gets tokens
// bound to its key, as in the code grant: the access token carries
// cnf.jkt and token_type DPoP, and the public device client's refresh
// token is refused without a proof by that key (bad input tried: no
// proof, and a proof by another key).
func TestDeviceGrantDPoP(t *testing.T) {
	e, store, now := deviceEnv(t)
	deviceCode, _ := e.deviceAuthorize(t)
	if err := store.DecideDeviceAuthorization(t.Context(), TokenHash(deviceCode), storage.DeviceDecision{
		Approved: true, UserID: testUserID, SessionID: "session", AuthTime: *now, AMR: []string{"pwd"}}, *now); err != nil {
		t.Fatal(err)
	}
	k := newDPoPKey(t)
	form := url.Values{"grant_type": {clientpolicy.GrantDeviceCode}, "client_id": {"tv"}, "device_code": {deviceCode}}
	req := httptest.NewRequest(http.MethodPost, tokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", k.proof(t, "POST", testIssuer+tokenPath, *now, nil))
	rec := e.do(req)
	a := decodeDPoPAnswer(t, rec)
	if rec.Code != http.StatusOK || a.TokenType != "DPoP" || a.RefreshToken == "" {
		t.Fatalf("device poll with a proof: %d %s, want 200 with token_type DPoP and a refresh token", rec.Code, rec.Body)
	}
	if got := jwtCnf(t, a.AccessToken); got != k.jkt {
		t.Errorf("cnf.jkt = %q, want the proof key's thumbprint %q", got, k.jkt)
	}
	refresh := func(proofs ...string) *httptest.ResponseRecorder {
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"tv"}, "refresh_token": {a.RefreshToken}}
		req := httptest.NewRequest(http.MethodPost, tokenPath, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for _, p := range proofs {
			req.Header.Add("DPoP", p)
		}
		return e.do(req)
	}
	if rec := refresh(); errorCode(rec) != "invalid_grant" {
		t.Errorf("refresh of the bound token without a proof: %d %s, want invalid_grant", rec.Code, rec.Body)
	}
	if rec := refresh(newDPoPKey(t).proof(t, "POST", testIssuer+tokenPath, *now, nil)); errorCode(rec) != "invalid_grant" {
		t.Errorf("refresh with another key's proof: %d %s, want invalid_grant", rec.Code, rec.Body)
	}
	if rec := refresh(k.proof(t, "POST", testIssuer+tokenPath, *now, nil)); rec.Code != http.StatusOK {
		t.Errorf("refresh with the key's proof: %d %s, want 200", rec.Code, rec.Body)
	}
}

// TestDeviceAuthorizationThrottle: a public client's device authorizations
// are counted per client IP as pushes are (perip.go), in a budget of their
// own: past perIPFree (refused ones count) they are refused with 429 and
// Retry-After and store nothing; another IP goes on, pushes from the same
// IP are not charged for them, and the counter lapses.
func TestDeviceAuthorizationThrottle(t *testing.T) {
	e, store, now := deviceEnv(t)
	const ip, other = "198.51.100.7", "203.0.113.9"
	authorizeScope := func(from, scope string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, deviceAuthorizationPath, strings.NewReader("client_id=tv&scope="+scope))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = from + ":40000"
		return e.do(req)
	}
	authorize := func(from string) *httptest.ResponseRecorder { return authorizeScope(from, "openid") }
	// A refused call counts: it cost the same checks.
	if rec := authorizeScope(ip, "email"); errorCode(rec) != "invalid_scope" {
		t.Fatalf("device authorization without openid: %d %s, want invalid_scope", rec.Code, rec.Body)
	}
	for i := range perIPFree - 1 {
		if rec := authorize(ip); rec.Code != http.StatusOK {
			t.Fatalf("device authorization %d of %d free ones: %d %s, want 200", i+1, perIPFree, rec.Code, rec.Body)
		}
	}
	rec := authorize(ip)
	if rec.Code != http.StatusTooManyRequests || errorCode(rec) != "invalid_request" || rec.Header().Get("Retry-After") != "1" ||
		strings.Contains(rec.Body.String(), "device_code") {
		t.Fatalf("device authorization past the budget: %d %s (Retry-After %q), want 429 invalid_request, Retry-After 1, no device code",
			rec.Code, rec.Body, rec.Header().Get("Retry-After"))
	}
	f, err := store.LoginFailures(t.Context(), []string{deviceBudget.prefix + ip, parBudget.prefix + ip}, *now)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 2 {
		t.Fatalf("LoginFailures: got %d entries, want 2", len(f))
	}
	if got := f[0].Count; got != perIPFree {
		t.Errorf("device-auth counter: %d, want %d (the refused call counted, the throttled one not)", got, perIPFree)
	}
	if got := f[1].Count; got != 0 {
		t.Errorf("push counter after device authorizations: %d, want 0 (budgets of their own)", got)
	}
	if rec := authorize(other); rec.Code != http.StatusOK {
		t.Errorf("device authorization from another IP: %d %s, want 200", rec.Code, rec.Body)
	}
	*now = now.Add(perIPWindow + perIPMaxDelay)
	if rec := authorize(ip); rec.Code != http.StatusOK {
		t.Errorf("device authorization once the counter lapsed: %d %s, want 200", rec.Code, rec.Body)
	}
}
