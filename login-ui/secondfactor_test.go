package loginui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/mfa/mfatest"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// testTOTPSecret is the one-time-code secret the tests enrol (base32).
const testTOTPSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

// rfcCode is the code an authenticator app shows for secret at t
// (mfatest's oracle, independent of pquerna/otp).
func rfcCode(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := mfatest.Code(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolTOTP gives user the test secret as their generator, as the set-up
// page would have stored it.
func (e *uiEnv) enrolTOTP(t testing.TB, userID string) {
	t.Helper()
	sealed, err := e.u.cfg.Sealer.Seal([]byte(testTOTPSecret), totpAD(userID))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetTOTP(t.Context(), &storage.TOTPCredential{UserID: userID, SealedSecret: sealed, KEKID: e.u.cfg.Sealer.KEKID(), CreatedAt: testNow}); err != nil {
		t.Fatalf("SetTOTP: %v", err)
	}
}

// passwordStep posts the right password for auth request id (or the
// account page) and returns the pending sign-in's cookie, checking that
// no session started.
func (e *uiEnv) passwordStep(t *testing.T, id string) string {
	t.Helper()
	rec := e.do(request(http.MethodPost, "/login", e.loginForm(id, "alice", testPassword), BrowserCookie, testBrowser))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login/factor" {
		t.Fatalf("password: got %d to %q, want 303 to /login/factor; body %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	if c := responseCookie(rec, SessionCookie); c != nil {
		t.Fatalf("password alone started a session (%s set)", SessionCookie)
	}
	c := responseCookie(rec, PendingCookie)
	if c == nil || len(c.Value) != 43 || !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" {
		t.Fatalf("pending cookie: got %+v, want a __Host- cookie", c)
	}
	return c.Value
}

// factorForm is a second-factor post of the pending sign-in.
func (e *uiEnv) factorForm(pending, method, code string) url.Values {
	return url.Values{"csrf_token": {e.u.csrfToken("factor", pending, "")}, "method": {method}, "code": {code}}
}

func (e *uiEnv) postFactor(pending, method, code string) *httptest.ResponseRecorder {
	return e.do(request(http.MethodPost, "/login/factor", e.factorForm(pending, method, code), BrowserCookie, testBrowser, PendingCookie, pending))
}

// TestTOTPSignIn: a user with a one-time code is not signed in by the
// password; the code (once) completes the sign-in, with amr and acr
// saying so. Bad input tried: a wrong code, a code two steps old, the same
// code again in a second sign-in, the pending cookie on the account page,
// a form without its CSRF token.
func TestTOTPSignIn(t *testing.T) {
	env := newUIEnv(t)
	user := env.addUser(t, "alice", testPassword, false)
	env.enrolTOTP(t, user.ID)
	env.addAuthRequest(t, "ar1", "web", testBrowser, "")

	pending := env.passwordStep(t, "ar1")
	if rec := env.do(request(http.MethodGet, "/login/factor", nil, BrowserCookie, testBrowser, PendingCookie, pending)); rec.Code != http.StatusOK ||
		!strings.Contains(rec.Body.String(), `autocomplete="one-time-code"`) {
		t.Fatalf("factor page: got %d, want 200 with the code field; body %s", rec.Code, rec.Body)
	}
	// The pending sign-in opens no account page.
	if rec := env.do(request(http.MethodGet, "/account", nil, BrowserCookie, testBrowser, PendingCookie, pending)); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Errorf("account page with only a pending sign-in: got %d to %q, want 303 to /login", rec.Code, rec.Header().Get("Location"))
	}
	// No CSRF token, wrong codes.
	form := env.factorForm(pending, "totp", rfcCode(t, testTOTPSecret, testNow))
	form.Del("csrf_token")
	if rec := env.do(request(http.MethodPost, "/login/factor", form, BrowserCookie, testBrowser, PendingCookie, pending)); rec.Code != http.StatusForbidden {
		t.Errorf("factor without CSRF token: got %d, want 403", rec.Code)
	}
	for _, code := range []string{"000000", rfcCode(t, testTOTPSecret, testNow.Add(-61*time.Second)), "12345", "abcdef"} {
		if code == rfcCode(t, testTOTPSecret, testNow) {
			continue
		}
		rec := env.postFactor(pending, "totp", code)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "not right") || responseCookie(rec, SessionCookie) != nil {
			t.Errorf("code %q: got %d, session %v; want the page again with an error and no session", code, rec.Code, responseCookie(rec, SessionCookie) != nil)
		}
	}
	if n := countEvents(env, EventFactorFailed); n < 3 {
		t.Errorf("%d %s events after 4 wrong codes, want at least 3", n, EventFactorFailed)
	}

	code := rfcCode(t, testTOTPSecret, testNow)
	rec := env.postFactor(pending, "totp", code)
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), testIssuer+"/authorize/callback?id=ar1") {
		t.Fatalf("right code: got %d to %q, want 303 to the callback; body %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	if c := responseCookie(rec, SessionCookie); c == nil {
		t.Fatal("right code: no session cookie")
	}
	if c := responseCookie(rec, PendingCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("right code: pending cookie %+v, want it cleared", c)
	}
	ar, err := env.store.AuthRequest(t.Context(), "ar1", testNow)
	if err != nil || !ar.Done || !slices.Equal(ar.AMR, []string{"pwd", "otp", "mfa"}) || mfa.ACR(ar.AMR) != mfa.ACRMultiFactor {
		t.Fatalf("auth request after the code: %+v, %v; want done with amr [pwd otp mfa]", ar, err)
	}
	// The pending sign-in is spent: posting again finds nothing.
	if rec := env.postFactor(pending, "totp", code); rec.Code != http.StatusBadRequest {
		t.Errorf("the spent pending sign-in again: got %d, want 400", rec.Code)
	}

	// The same code in a new sign-in within its step is a replay.
	env.addAuthRequest(t, "ar2", "web", testBrowser, "")
	pending2 := env.passwordStep(t, "ar2")
	rec = env.postFactor(pending2, "totp", code)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "used already") || responseCookie(rec, SessionCookie) != nil {
		t.Errorf("replayed code: got %d, want the page with 'used already' and no session; body %s", rec.Code, rec.Body)
	}
	// The next step's code works.
	*env.clock = testNow.Add(30 * time.Second)
	if rec := env.postFactor(pending2, "totp", rfcCode(t, testTOTPSecret, *env.clock)); rec.Code != http.StatusSeeOther {
		t.Errorf("the next step's code: got %d, want 303; body %s", rec.Code, rec.Body)
	}
}

func countEvents(env *uiEnv, kind string) int {
	n := 0
	for _, ev := range *env.events {
		if ev.Kind == kind {
			n++
		}
	}
	return n
}

// TestWrongCodesAreThrottled: wrong codes count toward the account's
// limit, and a right password in between does not clear it (only a
// complete sign-in does), so the password cannot be used to reset the
// count while guessing codes.
func TestWrongCodesAreThrottled(t *testing.T) {
	env := newUIEnv(t)
	user := env.addUser(t, "alice", testPassword, false)
	env.enrolTOTP(t, user.ID)
	wrong := "000000"
	if wrong == rfcCode(t, testTOTPSecret, testNow) {
		wrong = "111111"
	}
	throttled := false
	for i := 0; i < 2*accountFreeFailures && !throttled; i++ {
		pending := env.passwordStep(t, "")
		for j := 0; j < 2; j++ {
			rec := env.postFactor(pending, "totp", wrong)
			if rec.Code == http.StatusTooManyRequests {
				throttled = true
				if rec.Header().Get("Retry-After") == "" {
					t.Errorf("429 without Retry-After")
				}
				break
			}
		}
	}
	if !throttled {
		t.Fatalf("%d wrong codes with right passwords between them were never throttled", 4*accountFreeFailures)
	}
}

// TestRecoveryCodeSignsInOnce: a recovery code replaces the one-time code
// once; the second use fails, and the count left goes down.
func TestRecoveryCodeSignsInOnce(t *testing.T) {
	env := newUIEnv(t)
	user := env.addUser(t, "alice", testPassword, false)
	env.enrolTOTP(t, user.ID)
	codes, err := env.u.newRecoveryCodes(t.Context(), user.ID)
	if err != nil || len(codes) != mfa.RecoveryCodeCount {
		t.Fatalf("newRecoveryCodes: %v, %d codes", err, len(codes))
	}
	pending := env.passwordStep(t, "")
	typed := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
	if rec := env.postFactor(pending, "recovery", typed); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account" {
		t.Fatalf("recovery code %q: got %d to %q, want 303 to /account; body %s", typed, rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	if left, _ := env.store.RecoveryCodesLeft(t.Context(), user.ID); left != mfa.RecoveryCodeCount-1 {
		t.Errorf("codes left: %d, want %d", left, mfa.RecoveryCodeCount-1)
	}
	pending = env.passwordStep(t, "")
	for _, bad := range []string{codes[3], "not-a-code", codes[3][:4] + "-0000-0000-0000", ""} {
		rec := env.postFactor(pending, "recovery", bad)
		if rec.Code != http.StatusOK || responseCookie(rec, SessionCookie) != nil {
			t.Errorf("recovery code %q: got %d, session %v; want the page again and no session", bad, rec.Code, responseCookie(rec, SessionCookie) != nil)
		}
	}
	if rec := env.postFactor(pending, "sms", "123456"); rec.Code != http.StatusBadRequest {
		t.Errorf("an unknown method: got %d, want 400", rec.Code)
	}
}

var secretOnPage = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7 ]+)</code>`)
var sealedOnPage = regexp.MustCompile(`name="enrolment" value="([^"]+)"`)

// TestRequiredEnrolmentAtSignIn: with mfa required, a user without a
// second factor sets one up before the sign-in completes, proving it with
// a code computed from the key shown on the page, and sees recovery codes
// before going on. Bad input tried: a wrong code, an enrolment form
// sealed for another pending sign-in.
func TestRequiredEnrolmentAtSignIn(t *testing.T) {
	env := newUIEnvWith(t, func(c *Config) { c.MFA = mfa.Required })
	user := env.addUser(t, "alice", testPassword, false)
	env.addAuthRequest(t, "ar1", "web", testBrowser, "")
	rec := env.do(request(http.MethodPost, "/login", env.loginForm("ar1", "alice", testPassword), BrowserCookie, testBrowser))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login/enrol" || responseCookie(rec, SessionCookie) != nil {
		t.Fatalf("password: got %d to %q, want 303 to /login/enrol and no session", rec.Code, rec.Header().Get("Location"))
	}
	pending := responseCookie(rec, PendingCookie).Value
	page := env.do(request(http.MethodGet, "/login/enrol", nil, BrowserCookie, testBrowser, PendingCookie, pending))
	if page.Code != http.StatusOK || !strings.Contains(page.Header().Get("Content-Security-Policy"), "img-src 'self' data:") ||
		!strings.Contains(page.Body.String(), `src="data:image/png;base64,`) {
		t.Fatalf("enrol page: got %d, CSP %q; want 200 with a data: QR code it allows", page.Code, page.Header().Get("Content-Security-Policy"))
	}
	m, s := secretOnPage.FindStringSubmatch(page.Body.String()), sealedOnPage.FindStringSubmatch(page.Body.String())
	if m == nil || s == nil {
		t.Fatalf("enrol page shows no key or form: %s", page.Body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	post := func(sealed, code string) *httptest.ResponseRecorder {
		form := url.Values{"csrf_token": {env.u.csrfToken("enrol", pending, "")}, "enrolment": {sealed}, "code": {code}}
		return env.do(request(http.MethodPost, "/login/enrol", form, BrowserCookie, testBrowser, PendingCookie, pending))
	}
	wrong := "000000"
	if wrong == rfcCode(t, secret, testNow) {
		wrong = "111111"
	}
	if rec := post(s[1], wrong); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "not right") {
		t.Errorf("wrong code: got %d, want the page again with an error", rec.Code)
	}
	if _, err := env.store.TOTP(t.Context(), user.ID); err == nil {
		t.Fatal("a wrong code stored the key")
	}
	_, _, otherSealed, err := env.u.newEnrolment(user, "another-pending-sign-in")
	if err != nil {
		t.Fatal(err)
	}
	if rec := post(otherSealed, rfcCode(t, secret, testNow)); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login/enrol" {
		t.Errorf("a form sealed for another sign-in: got %d to %q, want 303 to a new /login/enrol", rec.Code, rec.Header().Get("Location"))
	}
	rec = post(s[1], rfcCode(t, secret, testNow))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `id="recovery-codes"`) || responseCookie(rec, SessionCookie) == nil {
		t.Fatalf("right code: got %d, want 200 with the recovery codes and a session; body %s", rec.Code, rec.Body)
	}
	if n := strings.Count(rec.Body.String(), "<li><code>"); n != mfa.RecoveryCodeCount {
		t.Errorf("%d recovery codes shown, want %d", n, mfa.RecoveryCodeCount)
	}
	if !strings.Contains(rec.Body.String(), `href="`+testIssuer+`/authorize/callback?id=ar1"`) {
		t.Errorf("codes page does not go on to the callback: %s", rec.Body)
	}
	ar, err := env.store.AuthRequest(t.Context(), "ar1", testNow)
	if err != nil || !ar.Done || !mfa.MultiFactor(ar.AMR) {
		t.Errorf("auth request: %+v, %v; want done with mfa", ar, err)
	}
	// The code that proved the key is spent.
	c, err := env.store.TOTP(t.Context(), user.ID)
	if err != nil || c.LastStep != mfa.TOTPStep(testNow) {
		t.Errorf("stored key: %+v, %v; want its last step %d", c, err, mfa.TOTPStep(testNow))
	}
}

// signedIn gives alice a session signed in with amr at authTime and
// returns its cookie value.
func (e *uiEnv) signedIn(t *testing.T, user *storage.User, amr []string, authTime time.Time) string {
	t.Helper()
	v, err := e.u.randomToken()
	if err != nil {
		t.Fatal(err)
	}
	s := &storage.Session{ID: Hash(v), UserID: user.ID, AuthTime: authTime, AMR: amr, UserAgent: "Go-http-client/1.1",
		CreatedAt: authTime, LastSeen: authTime, ExpiresAt: testNow.Add(time.Hour), AbsoluteExpiresAt: testNow.Add(24 * time.Hour)}
	if err := e.store.CreateSession(t.Context(), s); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return v
}

// TestAccountTOTPSetupNeedsFreshAuthentication: setting up a one-time code
// from the account page needs a sign-in check within 5 minutes; it then
// ends the user's other sessions and makes this one multi-factor. Bad
// input tried: a stale session, a wrong password at the check, a form
// without its CSRF token.
func TestAccountTOTPSetupNeedsFreshAuthentication(t *testing.T) {
	env := newUIEnv(t)
	user := env.addUser(t, "alice", testPassword, false)
	stale := env.signedIn(t, user, []string{"pwd"}, testNow.Add(-time.Hour))
	other := env.signedIn(t, user, []string{"pwd"}, testNow.Add(-time.Hour))

	rec := env.do(request(http.MethodGet, "/account/totp", nil, BrowserCookie, testBrowser, SessionCookie, stale))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account/verify?next=totp" {
		t.Fatalf("set-up with a stale session: got %d to %q, want 303 to /account/verify?next=totp", rec.Code, rec.Header().Get("Location"))
	}
	verify := func(password, token string) *httptest.ResponseRecorder {
		form := url.Values{"csrf_token": {token}, "next": {"totp"}, "password": {password}}
		return env.do(request(http.MethodPost, "/account/verify", form, BrowserCookie, testBrowser, SessionCookie, stale))
	}
	token := env.u.csrfToken("verify", stale, "")
	if rec := verify(testPassword, "forged"); rec.Code != http.StatusForbidden {
		t.Errorf("check without a valid CSRF token: got %d, want 403", rec.Code)
	}
	if rec := verify("wrong password", token); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "not right") {
		t.Errorf("check with a wrong password: got %d, want the page again", rec.Code)
	}
	if rec := verify(testPassword, token); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/account/totp" {
		t.Fatalf("check: got %d to %q, want 303 to /account/totp; body %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	page := env.do(request(http.MethodGet, "/account/totp", nil, BrowserCookie, testBrowser, SessionCookie, stale))
	m, s := secretOnPage.FindStringSubmatch(page.Body.String()), sealedOnPage.FindStringSubmatch(page.Body.String())
	if page.Code != http.StatusOK || m == nil || s == nil {
		t.Fatalf("set-up page after the check: got %d; body %s", page.Code, page.Body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	form := url.Values{"csrf_token": {env.u.csrfToken("enrol", stale, "")}, "enrolment": {s[1]}, "code": {rfcCode(t, secret, testNow)}}
	rec = env.do(request(http.MethodPost, "/account/totp", form, BrowserCookie, testBrowser, SessionCookie, stale))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `id="recovery-codes"`) {
		t.Fatalf("set-up: got %d, want the recovery codes; body %s", rec.Code, rec.Body)
	}
	if _, _, err := env.u.CurrentSession(t.Context(), request(http.MethodGet, "/", nil, SessionCookie, other)); err == nil {
		t.Error("the user's other session survived setting up the one-time code")
	}
	s2, _, err := env.u.CurrentSession(t.Context(), request(http.MethodGet, "/", nil, SessionCookie, stale))
	if err != nil || !mfa.MultiFactor(s2.AMR) {
		t.Errorf("this session after set-up: %+v, %v; want it kept, multi-factor", s2, err)
	}
	if n := countEvents(env, EventFactorEnrolled); n != 1 {
		t.Errorf("%d %s events, want 1", n, EventFactorEnrolled)
	}
}

// TestRemovingTheFactorWhenRequired: with mfa required the one-time code
// cannot be removed; with mfa optional it can (after a fresh check).
func TestRemovingTheFactorWhenRequired(t *testing.T) {
	for _, mode := range []mfa.Mode{mfa.Required, mfa.Optional} {
		env := newUIEnvWith(t, func(c *Config) { c.MFA = mode })
		user := env.addUser(t, "alice", testPassword, false)
		env.enrolTOTP(t, user.ID)
		fresh := env.signedIn(t, user, []string{"pwd", "otp", "mfa"}, testNow.Add(-time.Minute))
		form := url.Values{"csrf_token": {env.u.csrfToken("account", fresh, "")}}
		rec := env.do(request(http.MethodPost, "/account/totp/remove", form, BrowserCookie, testBrowser, SessionCookie, fresh))
		_, err := env.store.TOTP(t.Context(), user.ID)
		switch mode {
		case mfa.Required:
			if rec.Header().Get("Location") != "/account?done=required" || err != nil {
				t.Errorf("required: got %d to %q, key err %v; want refused and kept", rec.Code, rec.Header().Get("Location"), err)
			}
		default:
			if rec.Header().Get("Location") != "/account?done=totp-removed" || err == nil {
				t.Errorf("optional: got %d to %q, key err %v; want removed", rec.Code, rec.Header().Get("Location"), err)
			}
		}
	}
}

// TestStepUp: a session opened with a password alone, asked for the
// multi-factor class by an application, gives the second factor and is
// kept (same session id), now multi-factor; auth_time moves on.
func TestStepUp(t *testing.T) {
	env := newUIEnv(t)
	user := env.addUser(t, "alice", testPassword, false)
	env.enrolTOTP(t, user.ID)
	session := env.signedIn(t, user, []string{"pwd"}, testNow.Add(-time.Hour))
	err := env.store.CreateAuthRequest(t.Context(), &storage.AuthRequest{
		ID: "ar1", ClientID: "web", RedirectURI: "https://app.example/cb", Scopes: []string{"openid"},
		ResponseType: "code", ResponseMode: "query", ACRValues: []string{mfa.ACRMultiFactor},
		BrowserHash: Hash(testBrowser), CreatedAt: testNow, ExpiresAt: testNow.Add(10 * time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := env.do(request(http.MethodGet, "/login?id=ar1", nil, BrowserCookie, testBrowser, SessionCookie, session))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login/factor" {
		t.Fatalf("login page for a step-up: got %d to %q, want 303 to /login/factor", rec.Code, rec.Header().Get("Location"))
	}
	pending := responseCookie(rec, PendingCookie).Value
	form := env.factorForm(pending, "totp", rfcCode(t, testTOTPSecret, testNow))
	rec = env.do(request(http.MethodPost, "/login/factor", form, BrowserCookie, testBrowser, SessionCookie, session, PendingCookie, pending))
	if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "/authorize/callback?id=ar1") {
		t.Fatalf("step-up code: got %d to %q, want 303 to the callback; body %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	if c := responseCookie(rec, SessionCookie); c != nil {
		t.Errorf("step-up set a new session cookie; want the session kept")
	}
	s, _, err := env.u.CurrentSession(t.Context(), request(http.MethodGet, "/", nil, SessionCookie, session))
	if err != nil || !mfa.MultiFactor(s.AMR) || !s.AuthTime.Equal(testNow) {
		t.Errorf("session after step-up: %+v, %v; want multi-factor, auth_time now", s, err)
	}
	ar, err := env.store.AuthRequest(t.Context(), "ar1", testNow)
	if err != nil || ar.SessionID != s.ID || !mfa.MultiFactor(ar.AMR) {
		t.Errorf("auth request: %+v, %v; want done by the same session, multi-factor", ar, err)
	}
}
