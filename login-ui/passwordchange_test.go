package loginui

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestChangePassword: the account page changes the password with the
// current one; other sessions end, refresh tokens are revoked, this
// session stays; the old password stops working. Bad input tried: a wrong
// current password (counted as a failed sign-in), two new passwords that
// differ, one too short, the same as the current, no CSRF token.
func TestChangePassword(t *testing.T) {
	env := newUIEnv(t)
	user := env.addUser(t, "alice", testPassword, false)
	this := env.signedIn(t, user, []string{"pwd"}, testNow.Add(-time.Hour))
	other := env.signedIn(t, user, []string{"pwd"}, testNow.Add(-time.Hour))
	grant := &storage.RefreshGrant{TokenHash: "h1", FamilyID: "fam1", ClientID: "web", UserID: user.ID, Scopes: []string{"openid"},
		CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour), AbsoluteExpiresAt: testNow.Add(24 * time.Hour)}
	if err := env.store.CreateRefreshGrant(t.Context(), grant); err != nil {
		t.Fatal(err)
	}
	const next = "a brand new and long passphrase"
	post := func(form url.Values) *httptestResponse {
		t.Helper()
		if _, ok := form["csrf_token"]; !ok {
			form.Set("csrf_token", env.u.csrfToken("account", this, ""))
		}
		rec := env.do(request(http.MethodPost, "/account/password", form, BrowserCookie, testBrowser, SessionCookie, this))
		return &httptestResponse{rec.Code, rec.Header().Get("Location"), rec.Body.String()}
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"wrong current password", url.Values{"current": {"not my password at all"}, "new": {next}, "again": {next}}, "current password is not right"},
		{"new passwords differ", url.Values{"current": {testPassword}, "new": {next}, "again": {next + "!"}}, "not the same"},
		{"too short", url.Values{"current": {testPassword}, "new": {"short"}, "again": {"short"}}, "at least 15 characters"},
		{"same as current", url.Values{"current": {testPassword}, "new": {testPassword}, "again": {testPassword}}, "same as the current"},
	} {
		if got := post(tc.form); got.status != http.StatusOK || !strings.Contains(got.body, tc.want) {
			t.Errorf("%s: %d, want the page saying %q; body %s", tc.name, got.status, tc.want, got.body)
		}
	}
	if got := post(url.Values{"csrf_token": {""}, "current": {testPassword}, "new": {next}, "again": {next}}); got.status != http.StatusForbidden {
		t.Errorf("no CSRF token: %d, want 403", got.status)
	}
	if n := countEvents(env, EventSignInFailed); n != 1 {
		t.Errorf("%d sign_in_failed events, want 1 (the wrong current password)", n)
	}
	if _, err := env.u.checkPassword(t.Context(), "alice", testPassword); err != nil {
		t.Fatalf("the bad input changed the password: %v", err)
	}

	if got := post(url.Values{"current": {testPassword}, "new": {next}, "again": {next}}); got.status != http.StatusSeeOther || got.location != "/account?done=password" {
		t.Fatalf("change: %d to %q; body %s", got.status, got.location, got.body)
	}
	if _, err := env.u.checkPassword(t.Context(), "alice", testPassword); err == nil {
		t.Error("the old password still works")
	}
	if _, err := env.u.checkPassword(t.Context(), "alice", next); err != nil {
		t.Errorf("the new password: %v", err)
	}
	if _, _, err := env.u.CurrentSession(t.Context(), request(http.MethodGet, "/", nil, SessionCookie, other)); err == nil {
		t.Error("the other session survived the password change")
	}
	s, _, err := env.u.CurrentSession(t.Context(), request(http.MethodGet, "/", nil, SessionCookie, this))
	if err != nil || !s.AuthTime.Equal(testNow) {
		t.Errorf("this session: %+v, %v; want kept and freshly authenticated", s, err)
	}
	if revoked, err := env.store.FamilyRevoked(t.Context(), "fam1"); err != nil || !revoked {
		t.Errorf("refresh family: revoked %v, %v; want revoked", revoked, err)
	}
	if n := countEvents(env, EventPasswordChanged); n != 1 {
		t.Errorf("%d password_changed events, want 1", n)
	}
}

type httptestResponse struct {
	status   int
	location string
	body     string
}
