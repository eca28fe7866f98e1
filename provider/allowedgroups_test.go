package provider

import (
	"context"
	"errors"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/mfa/mfatest"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// restrict gives the client clientID the allowed groups groups (creating
// them) and empties the provider's client cache, as a clients.yaml reload
// does.
func (e *testEnv) restrict(t *testing.T, clientID string, groups ...string) {
	t.Helper()
	clients := testClients()
	for i := range clients {
		if clients[i].ID == clientID {
			clients[i].AllowedGroups = groups
		}
	}
	if _, err := e.store.SyncClients(t.Context(), clients, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if err := e.store.CreateGroup(t.Context(), &storage.Group{Name: g, CreatedAt: time.Now()}); err != nil && !errors.Is(err, storage.ErrConflict) {
			t.Fatal(err)
		}
	}
	e.p.InvalidateClients()
}

func (e *testEnv) join(t *testing.T, group string) {
	t.Helper()
	if err := e.store.AddGroupMember(t.Context(), group, testUserID); err != nil {
		t.Fatal(err)
	}
}

func (e *testEnv) leave(t *testing.T, group string) {
	t.Helper()
	if _, err := e.store.RemoveGroupMember(t.Context(), group, testUserID); err != nil {
		t.Fatal(err)
	}
}

var backLink = regexp.MustCompile(`<a class="button" href="([^"]+)">Back to ([^<]+)</a>`)

// wantRefusalPage checks the page of a user the client does not admit: 403,
// the account and the application named, and a link back to the redirect
// URI carrying access_denied with state and iss (and no code).
func wantRefusalPage(t *testing.T, rec *httptest.ResponseRecorder, app string) {
	t.Helper()
	body := rec.Body.String()
	if rec.Code != http.StatusForbidden {
		t.Fatalf("refusal: status %d, want 403; body %s", rec.Code, body)
	}
	for _, want := range []string{"You may not use " + app, "signed in as <strong>" + testUsername + "</strong>", "access_denied"} {
		if !strings.Contains(body, want) {
			t.Errorf("refusal page: want it to contain %q; body %s", want, body)
		}
	}
	m := backLink.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("refusal page: no link back to the application; body %s", body)
	}
	back := mustParseURL(t, html.UnescapeString(m[1]))
	q := back.Query()
	if got := back.Scheme + "://" + back.Host + back.Path; got != webRedirect || q.Get("error") != "access_denied" ||
		q.Get("state") != "st" || q.Get("iss") != testIssuer || q.Has("code") {
		t.Errorf("refusal page's link back: %s, want %s with error=access_denied, state=st, iss=%s and no code", back, webRedirect, testIssuer)
	}
	if rec.Header().Get("Location") != "" || rec.Result().Cookies() != nil && slices.ContainsFunc(rec.Result().Cookies(), func(c *http.Cookie) bool { return c.MaxAge < 0 }) {
		t.Errorf("refusal: redirects or clears a cookie: Location %q, cookies %v", rec.Header().Get("Location"), rec.Result().Cookies())
	}
}

// A user in none of a client's allowed_groups is refused after signing in
// with a password: the callback shows the refusal page instead of
// answering with a code, deletes the request, audits the refusal, and
// leaves the user signed in (single sign-on to an unrestricted client
// works, the restricted one never joined the session). A member of one of
// the groups signs in as before. The faults tried: a code issued to a
// non-member, the request left to be completed later, the session ended
// or joined by the refused app, a refusal not audited.
func TestAllowedGroupsRefusePasswordSignIn(t *testing.T) {
	log := &eventLog{}
	e := newTestEnvConfig(t, func(s *sqlite.Store) Store { return s }, func(c *Config) { c.Audit = log })
	e.restrict(t, "web", "staff", "admins")
	if err := e.store.CreateGroup(t.Context(), &storage.Group{Name: "guests", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.join(t, "guests") // a member of another group only

	jar := cookieJar{}
	id, rec, _ := e.passwordSignIn(t, jar, "web")
	wantRefusalPage(t, rec, "Web App")
	if _, err := e.store.AuthRequest(t.Context(), id, time.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("refused request: AuthRequest = %v, want ErrNotFound (deleted)", err)
	}
	if got := e.sessionClients(t, jar); got != "" {
		t.Errorf("refused sign-in: session apps %q, want none (the app never got a code)", got)
	}
	log.mu.Lock()
	var denied *storage.AuditEvent
	for i := range log.events {
		if log.events[i].Kind == EventAccessDenied {
			denied = &log.events[i]
		}
	}
	log.mu.Unlock()
	if denied == nil || denied.ClientID != "web" || denied.UserID != testUserID || denied.Detail != "reason=not_in_allowed_groups" ||
		denied.IP == "" || len(denied.SessionID) != 8 {
		t.Errorf("audit: got %+v, want access_denied for web and %s, reason=not_in_allowed_groups, with IP and sid prefix", denied, testUserID)
	}
	// The callback again: the request is gone.
	if again := e.follow(t, jar, callbackPath+"?id="+url.QueryEscape(id)); again.Code != http.StatusBadRequest || again.Header().Get("Location") != "" {
		t.Errorf("callback of the refused request again: %d to %q, want 400 and no redirect", again.Code, again.Header().Get("Location"))
	}

	// Still signed in: an unrestricted client gets its code at once.
	if rec, _ := e.authorizeAs(t, jar, "post", nil); mustParseURL(t, rec.Header().Get("Location")).Query().Get("code") == "" {
		t.Errorf("SSO to an unrestricted client after a refusal: %d to %q, want a code", rec.Code, rec.Header().Get("Location"))
	}

	// A member of one of the groups gets the code.
	e.join(t, "admins")
	code, verifier := e.signInTo(t, cookieJar{}, "web", "openid")
	if rec := e.exchangeCode(code, verifier, "web", testWebSecret); rec.Code != http.StatusOK {
		t.Errorf("code of a member: token %d %s, want 200", rec.Code, rec.Body)
	}
}

// Single sign-on with an existing session is refused the same way, and
// nothing is stored for it: a page, or access_denied at once under
// prompt=none, or a form posting access_denied for response_mode=form_post.
func TestAllowedGroupsRefuseSingleSignOn(t *testing.T) {
	e := newTestEnv(t)
	jar := cookieJar{}
	e.signInTo(t, jar, "post", "openid") // signed in through an unrestricted client
	e.restrict(t, "web", "staff")

	rec, _ := e.authorizeAs(t, jar, "web", nil)
	wantRefusalPage(t, rec, "Web App")
	if got := e.sessionClients(t, jar); got != "post" {
		t.Errorf("SSO refused: session apps %q, want post only", got)
	}

	rec, _ = e.authorizeAs(t, jar, "web", url.Values{"prompt": {"none"}})
	back := mustParseURL(t, rec.Header().Get("Location"))
	if rec.Code != http.StatusFound || back.Query().Get("error") != "access_denied" || back.Query().Get("state") != "st" ||
		back.Query().Get("iss") != testIssuer || back.Query().Has("code") {
		t.Errorf("prompt=none refused: %d to %q, want 302 with error=access_denied, state and iss", rec.Code, back)
	}

	rec, _ = e.authorizeAs(t, jar, "web", url.Values{"response_mode": {"form_post"}})
	body := rec.Body.String()
	if rec.Code != http.StatusForbidden || !strings.Contains(body, `<form method="post" action="`+webRedirect+`">`) ||
		!strings.Contains(body, `name="error" value="access_denied"`) || !strings.Contains(body, `name="state" value="st"`) ||
		!strings.Contains(body, `name="iss" value="`+testIssuer+`"`) || strings.Contains(body, `name="code"`) || strings.Contains(body, "<script") {
		t.Errorf("form_post refused: %d, want 403 with a form posting access_denied, state and iss (no script); body %s", rec.Code, body)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action https://app.example") {
		t.Errorf("form_post refusal CSP %q, want form-action limited to the redirect URI's origin", csp)
	}

	// A member: the code at once.
	e.join(t, "staff")
	if rec, _ := e.authorizeAs(t, jar, "web", nil); mustParseURL(t, rec.Header().Get("Location")).Query().Get("code") == "" {
		t.Errorf("SSO of a member: %d to %q, want a code", rec.Code, rec.Header().Get("Location"))
	}
}

// The consent page's allow checks again: a user removed from the group
// after the callback sent them to the consent page is refused, and no
// consent is stored.
func TestAllowedGroupsRefuseConsentAllow(t *testing.T) {
	e := newTestEnv(t)
	e.restrict(t, "third", "staff")
	e.join(t, "staff")
	jar := cookieJar{}
	id, rec, _ := e.passwordSignIn(t, jar, "third")
	if rec.Header().Get("Location") != consentURL(id) {
		t.Fatalf("callback of a member: %d to %q, want the consent page", rec.Code, rec.Header().Get("Location"))
	}
	form, _ := e.consentForm(t, jar, rec.Header().Get("Location"))
	e.leave(t, "staff")
	form.Set("decision", "allow")
	rec = e.postFrom(jar, consentPath, form)
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "You may not use Third-party &lt;App&gt;") {
		t.Fatalf("allow by a user no longer in the group: %d, want the 403 refusal page; body %s", rec.Code, rec.Body)
	}
	if _, err := e.store.Consent(t.Context(), testUserID, "third"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("refused allow: Consent = %v, want ErrNotFound (nothing stored)", err)
	}
	if _, err := e.store.AuthRequest(t.Context(), id, time.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("refused allow: AuthRequest = %v, want ErrNotFound (deleted)", err)
	}
}

// groupsFailingStore is the real store whose group reads fail while
// failing is set.
type groupsFailingStore struct {
	*sqlite.Store
	failing *atomic.Bool
}

func (f groupsFailingStore) UserGroups(ctx context.Context, userID string) ([]string, error) {
	if f.failing.Load() {
		return nil, errors.New("injected: database unavailable")
	}
	return f.Store.UserGroups(ctx, userID)
}

// A failed read of the user's groups is a 503 with Retry-After at every
// check (the callback, single sign-on, the refresh grant), never a
// refusal: no access_denied reaches the client and the refresh token
// works once the store is back.
func TestAllowedGroupsStoreErrorIsNotRefusal(t *testing.T) {
	failing := new(atomic.Bool)
	e := newTestEnvWith(t, func(s *sqlite.Store) Store { return groupsFailingStore{s, failing} })
	e.restrict(t, "web", "staff")
	e.join(t, "staff")
	tr := e.codeFlow(t, "openid offline_access")

	// The login post asks whether the app joins the new session: a
	// restricted app reads the groups there first.
	loginPost := func(jar cookieJar, clientID string) *httptest.ResponseRecorder {
		rec, _ := e.authorizeAs(t, jar, clientID, nil)
		loginLoc := rec.Header().Get("Location")
		m := csrfField.FindStringSubmatch(e.follow(t, jar, loginLoc).Body.String())
		if m == nil {
			t.Fatalf("login page of %s: no form", clientID)
		}
		id := mustParseURL(t, loginLoc).Query().Get("id")
		return e.postFrom(jar, "/login", url.Values{"id": {id}, "csrf_token": {m[1]}, "username": {testUsername}, "password": {testPassword}})
	}
	signedIn := cookieJar{}
	callback := loginPost(signedIn, "web").Header().Get("Location")

	failing.Store(true)
	jar := cookieJar{}
	if _, rec, _ := e.passwordSignIn(t, jar, "post"); rec.Code != http.StatusFound { // unrestricted: no group read
		t.Fatalf("unrestricted sign-in with group reads failing: %d, want 302 (no read)", rec.Code)
	}
	for name, rec := range map[string]*httptest.ResponseRecorder{
		"single sign-on": func() *httptest.ResponseRecorder { r, _ := e.authorizeAs(t, jar, "web", nil); return r }(),
		"login post":     loginPost(cookieJar{}, "web"),
		"callback":       e.follow(t, signedIn, callback),
	} {
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
			strings.Contains(rec.Body.String(), "access_denied") || strings.Contains(rec.Body.String(), "injected") {
			t.Errorf("%s with group reads failing: %d (Retry-After %q), want 503 with Retry-After, no access_denied, no internal text; body %s",
				name, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}
	rec := e.refresh(tr.RefreshToken)
	checkTokenResponse(t, rec, http.StatusServiceUnavailable, "server_error")
	failing.Store(false)
	// The callback's request was not refused: it answers with the code now.
	if rec := e.follow(t, signedIn, callback); mustParseURL(t, rec.Header().Get("Location")).Query().Get("code") == "" {
		t.Errorf("callback once the store is back: %d to %q, want the code", rec.Code, rec.Header().Get("Location"))
	}
	if rec := e.refresh(tr.RefreshToken); rec.Code != http.StatusOK {
		t.Errorf("refresh once the store is back: %d %s, want 200", rec.Code, rec.Body)
	}
}

// The refresh_token grant refuses a user no longer in any of the client's
// allowed groups with invalid_grant and hands out nothing; the refusal is
// audited. The family is refused, not revoked: back in the group, the same
// token works. The fault tried: a refresh that kept issuing tokens to a
// user removed from the group.
func TestAllowedGroupsRefuseRefresh(t *testing.T) {
	log := &eventLog{}
	e := newTestEnvConfig(t, func(s *sqlite.Store) Store { return s }, func(c *Config) { c.Audit = log })
	e.restrict(t, "web", "staff")
	e.join(t, "staff")
	tr := e.codeFlow(t, "openid offline_access groups")
	next := decodeToken(t, e.refresh(tr.RefreshToken))
	if got := idTokenClaims(t, next.IDToken)["groups"]; !slices.Equal(anyStrings(got), []string{"staff"}) {
		t.Errorf("refreshed ID token of a member: groups %v, want [staff]", got)
	}

	e.leave(t, "staff")
	log.take()
	rec := e.refresh(next.RefreshToken)
	checkTokenResponse(t, rec, http.StatusBadRequest, "invalid_grant")
	if strings.Contains(rec.Body.String(), "access_token") || strings.Contains(rec.Body.String(), "refresh_token\"") {
		t.Errorf("refused refresh hands out tokens: %s", rec.Body)
	}
	if got := log.take(); !slices.Equal(got, []string{EventAccessDenied}) {
		t.Errorf("refused refresh: events %q, want [access_denied]", got)
	}
	if g := e.storedGrant(t, next.RefreshToken); g.UsedAt != nil || g.RevokedAt != nil {
		t.Errorf("refused refresh: grant used %v, revoked %v; want neither (refused, not rotated)", g.UsedAt, g.RevokedAt)
	}

	e.join(t, "staff")
	if rec := e.refresh(next.RefreshToken); rec.Code != http.StatusOK {
		t.Errorf("refresh back in the group: %d %s, want 200", rec.Code, rec.Body)
	}
}

// TestAllowedGroupsRefuseCodeExchange: a user removed from the client's
// allowed_groups between the sign-in and the code exchange gets no tokens
// (invalid_grant, audited), and the refusal burns nothing: back in the
// group within the code's life, the same code redeems.
func TestAllowedGroupsRefuseCodeExchange(t *testing.T) {
	log := &eventLog{}
	e := newTestEnvConfig(t, func(s *sqlite.Store) Store { return s }, func(c *Config) { c.Audit = log })
	e.restrict(t, "web", "staff")
	e.join(t, "staff")
	code, verifier := e.signIn(t, cookieJar{}, "openid groups")

	e.leave(t, "staff")
	log.take()
	rec := e.exchangeCode(code, verifier, "web", testWebSecret)
	checkTokenResponse(t, rec, http.StatusBadRequest, "invalid_grant")
	if strings.Contains(rec.Body.String(), "access_token") {
		t.Errorf("refused code exchange hands out tokens: %s", rec.Body)
	}
	if got := log.take(); !slices.Equal(got, []string{EventAccessDenied}) {
		t.Errorf("refused code exchange: events %q, want [access_denied]", got)
	}

	e.join(t, "staff")
	tr := decodeToken(t, e.exchangeCode(code, verifier, "web", testWebSecret))
	if got := idTokenClaims(t, tr.IDToken)["groups"]; !slices.Equal(anyStrings(got), []string{"staff"}) {
		t.Errorf("ID token of the member: groups %v, want [staff]", got)
	}
}

func anyStrings(v any) []string {
	raw, _ := v.([]any)
	var out []string
	for _, s := range raw {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}

// A sign-in with a second factor ends at the same callback and is refused
// the same way: the one-time code is accepted (the user is signed in), the
// app gets no code.
func TestAllowedGroupsRefuseSecondFactorSignIn(t *testing.T) {
	e := newTestEnv(t)
	e.enrolTOTP(t)
	e.restrict(t, "web", "staff")
	jar := cookieJar{}
	rec, _ := e.authorizeAs(t, jar, "web", nil)
	loginLoc := rec.Header().Get("Location")
	m := csrfField.FindStringSubmatch(e.follow(t, jar, loginLoc).Body.String())
	if m == nil {
		t.Fatal("login page: no form")
	}
	id := mustParseURL(t, loginLoc).Query().Get("id")
	rec = e.postFrom(jar, "/login", url.Values{"id": {id}, "csrf_token": {m[1]}, "username": {testUsername}, "password": {testPassword}})
	if rec.Header().Get("Location") != "/login/factor" {
		t.Fatalf("login: %d to %q, want the code page", rec.Code, rec.Header().Get("Location"))
	}
	if m = csrfField.FindStringSubmatch(e.follow(t, jar, "/login/factor").Body.String()); m == nil {
		t.Fatal("code page: no form")
	}
	code, err := mfatest.Code(testTOTPSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec = e.postFrom(jar, "/login/factor", url.Values{"csrf_token": {m[1]}, "method": {"totp"}, "code": {code}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("code post: %d, want 303 to the callback; body %s", rec.Code, rec.Body)
	}
	wantRefusalPage(t, e.follow(t, jar, rec.Header().Get("Location")), "Web App")
	if rec, _ := e.authorizeAs(t, jar, "post", nil); mustParseURL(t, rec.Header().Get("Location")).Query().Get("code") == "" {
		t.Errorf("SSO to an unrestricted client after the refusal: %d to %q, want a code (still signed in)", rec.Code, rec.Header().Get("Location"))
	}
}
