package provider

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// TestLiveChecksBound: what another instance (or the CLI) does to a family
// or a user reaches userinfo and introspection here within liveCheckTTL,
// and what this instance revokes takes effect at once. The store is
// changed directly, as another instance would change it.
func TestLiveChecksBound(t *testing.T) {
	e, c := newClockEnv(t, 10*time.Second)
	tr := e.codeFlow(t, "openid profile offline_access")
	if got := e.userinfoStatus(tr.AccessToken); got != http.StatusOK {
		t.Fatalf("userinfo: got %d, want 200", got)
	}
	active := func(token string) bool {
		m, _ := e.introspect(t, "web", token)
		return m["active"] == true
	}
	if !active(tr.AccessToken) {
		t.Fatal("introspection of a live access token: inactive, want active")
	}
	// refusedAfterTTL checks that token is refused everywhere once
	// liveCheckTTL has passed since what happened.
	refusedAfterTTL := func(token, what string) {
		t.Helper()
		c.advance(liveCheckTTL)
		if got := e.userinfoStatus(token); got != http.StatusUnauthorized {
			t.Errorf("userinfo %v after %s: got %d, want 401", liveCheckTTL, what, got)
		}
		if active(token) {
			t.Errorf("introspection %v after %s: active, want inactive", liveCheckTTL, what)
		}
	}

	// Another instance revokes the family: honoured until the kept answer
	// expires, refused from then on.
	claims, err := e.p.parseAccessToken(tr.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	now := c.now()
	if err := e.store.RevokeFamily(t.Context(), claims.Family, now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	refusedAfterTTL(tr.AccessToken, "another instance revoked the family")

	// Another instance disables the user: the same bound.
	other := e.codeFlow(t, "openid profile")
	if got := e.userinfoStatus(other.AccessToken); got != http.StatusOK {
		t.Fatalf("userinfo of a second family: got %d, want 200", got)
	}
	u, err := e.store.UserByID(t.Context(), testUserID)
	if err != nil {
		t.Fatal(err)
	}
	u.Disabled = true
	if err := e.store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	refusedAfterTTL(other.AccessToken, "the user was disabled")
	u.Disabled = false
	if err := e.store.UpdateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	c.advance(liveCheckTTL)

	// This instance revokes a family (the revocation endpoint): refused at
	// once, without waiting for the kept "not revoked" answer to expire.
	third := e.codeFlow(t, "openid offline_access")
	if got := e.userinfoStatus(third.AccessToken); got != http.StatusOK {
		t.Fatalf("userinfo of a third family: got %d, want 200", got)
	}
	if rec := e.postAs("web", revokePath, url.Values{"token": {third.RefreshToken}}); rec.Code != http.StatusOK {
		t.Fatalf("revoke: got %d %s", rec.Code, rec.Body)
	}
	if got := e.userinfoStatus(third.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("userinfo right after this instance revoked the family: got %d, want 401", got)
	}
}

// TestLiveChecksBounded: the kept answers never outgrow liveCheckEntries.
func TestLiveChecksBounded(t *testing.T) {
	c := &clock{}
	l := newLiveChecks(nil, c.now)
	for i := range liveCheckEntries + 10 {
		keep(l, l.families, strconv.Itoa(i), false)
		if i%1000 == 0 {
			c.advance(liveCheckTTL / 2)
		}
	}
	if n := len(l.families); n > liveCheckEntries {
		t.Errorf("kept %d answers, want at most %d", n, liveCheckEntries)
	}
	if _, ok := lookup(l, l.families, strconv.Itoa(liveCheckEntries+9)); !ok {
		t.Error("the newest answer was dropped")
	}
}
