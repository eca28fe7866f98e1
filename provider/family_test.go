package provider

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// clock is a settable time source for the provider.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newClockEnv(t *testing.T, grace time.Duration) (*testEnv, *clock) {
	c := &clock{}
	c.ns.Store(time.Now().UnixNano())
	e := newTestEnvConfig(t, func(s *sqlite.Store) Store { return s }, func(cfg *Config) {
		cfg.Now = c.now
		cfg.RefreshGrace = grace
	})
	return e, c
}

func (e *testEnv) refresh(token string) *httptest.ResponseRecorder {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
	req := httptest.NewRequest(http.MethodPost, testIssuer+tokenPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("web", testWebSecret)
	return e.do(req)
}

func (e *testEnv) userinfoStatus(accessToken string) int {
	req := httptest.NewRequest(http.MethodGet, testIssuer+userinfoPath, nil)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	return e.do(req).Code
}

func decodeToken(t *testing.T, rec *httptest.ResponseRecorder) tokenResponse {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("token: got %d %s, want 200", rec.Code, rec.Body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// A retry of a rotated token inside the grace window gets the identical
// answer; 50 parallel uses of one token all get it.
func TestRefreshRetryInGraceGetsIdenticalAnswer(t *testing.T) {
	e, _ := newClockEnv(t, 10*time.Second)
	tr := e.codeFlow(t, "openid offline_access")

	first := e.refresh(tr.RefreshToken)
	checkTokenResponse(t, first, http.StatusOK, "")
	again := e.refresh(tr.RefreshToken)
	checkTokenResponse(t, again, http.StatusOK, "")
	if again.Body.String() != first.Body.String() {
		t.Errorf("retry in the grace window: got a different answer\n%s\nwant\n%s", again.Body, first.Body)
	}

	next := decodeToken(t, first).RefreshToken
	var wg sync.WaitGroup
	bodies := make([]string, 50)
	codes := make([]int, 50)
	for i := range 50 {
		wg.Go(func() {
			rec := e.refresh(next)
			bodies[i], codes[i] = rec.Body.String(), rec.Code
		})
	}
	wg.Wait()
	for i := range 50 {
		if codes[i] != http.StatusOK || bodies[i] != bodies[0] {
			t.Fatalf("parallel refresh %d: got %d %s, want 200 and the same answer as the others", i, codes[i], bodies[i])
		}
	}
	// One family survives: the token all fifty got goes on working.
	checkTokenResponse(t, e.refresh(decodeTokenBody(t, bodies[0]).RefreshToken), http.StatusOK, "")
}

// A rotated token used after the grace window revokes its family: the
// newest refresh token and the access tokens die too.
func TestRefreshReuseAfterGraceRevokesFamily(t *testing.T) {
	e, c := newClockEnv(t, 10*time.Second)
	tr := e.codeFlow(t, "openid offline_access")
	next := decodeToken(t, e.refresh(tr.RefreshToken))
	if got := e.userinfoStatus(next.AccessToken); got != http.StatusOK {
		t.Fatalf("userinfo before the reuse: got %d, want 200", got)
	}

	c.advance(11 * time.Second)
	checkTokenResponse(t, e.refresh(tr.RefreshToken), http.StatusBadRequest, "invalid_grant")
	checkTokenResponse(t, e.refresh(next.RefreshToken), http.StatusBadRequest, "invalid_grant")
	for name, at := range map[string]string{"first": tr.AccessToken, "refreshed": next.AccessToken} {
		if got := e.userinfoStatus(at); got != http.StatusUnauthorized {
			t.Errorf("userinfo with the %s access token of a revoked family: got %d, want 401", name, got)
		}
	}
	// Other families of the same user are untouched.
	other := e.codeFlow(t, "openid offline_access")
	checkTokenResponse(t, e.refresh(other.RefreshToken), http.StatusOK, "")
}

// With the grace window off, the second use of a token is a reuse.
func TestRefreshWithoutGrace(t *testing.T) {
	e, _ := newClockEnv(t, -1)
	tr := e.codeFlow(t, "openid offline_access")
	next := decodeToken(t, e.refresh(tr.RefreshToken))
	checkTokenResponse(t, e.refresh(tr.RefreshToken), http.StatusBadRequest, "invalid_grant")
	checkTokenResponse(t, e.refresh(next.RefreshToken), http.StatusBadRequest, "invalid_grant")
}

// A code redeemed twice: the second fails and the first's tokens die.
func TestCodeReuseRevokesFirstTokens(t *testing.T) {
	e, _ := newClockEnv(t, 10*time.Second)
	code, verifier := e.authorizeCode(t, "openid offline_access")
	first := decodeToken(t, e.exchangeCode(code, verifier, "web", testWebSecret))
	checkTokenResponse(t, e.exchangeCode(code, verifier, "web", testWebSecret), http.StatusBadRequest, "invalid_grant")
	if got := e.userinfoStatus(first.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("userinfo with the first redemption's access token: got %d, want 401", got)
	}
	checkTokenResponse(t, e.refresh(first.RefreshToken), http.StatusBadRequest, "invalid_grant")

	// A wrong verifier is not a reuse: the code still redeems after it.
	code, verifier = e.authorizeCode(t, "openid")
	checkTokenResponse(t, e.exchangeCode(code, strings.Repeat("x", 43), "web", testWebSecret), http.StatusBadRequest, "invalid_grant")
	ok := decodeToken(t, e.exchangeCode(code, verifier, "web", testWebSecret))
	if got := e.userinfoStatus(ok.AccessToken); got != http.StatusOK {
		t.Errorf("userinfo after a wrong-verifier attempt and a good redemption: got %d, want 200", got)
	}
}

func decodeTokenBody(t *testing.T, body string) tokenResponse {
	t.Helper()
	var tr tokenResponse
	if err := json.Unmarshal([]byte(body), &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

// Rotation never extends a family's life: the last token of a chain
// expires when the first one would have.
func TestRefreshDoesNotSlide(t *testing.T) {
	e, c := newClockEnv(t, 10*time.Second)
	tr := e.codeFlow(t, "openid offline_access")
	token := tr.RefreshToken
	for range 3 {
		c.advance(9 * 24 * time.Hour) // each rotation well inside the 30 days
		token = decodeToken(t, e.refresh(token)).RefreshToken
	}
	c.advance(4 * 24 * time.Hour) // day 31 of a 30-day family
	checkTokenResponse(t, e.refresh(token), http.StatusBadRequest, "invalid_grant")
}
