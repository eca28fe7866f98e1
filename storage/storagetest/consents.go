package storagetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var consentTests = []test{
	{"Unknown", testConsentUnknown},
	{"RoundTrip", testConsentRoundTrip},
	{"Merge", testConsentMerge},
	{"PerUser", testUserConsents},
	{"Delete", testDeleteConsent},
	{"ConcurrentSave", testConcurrentSaveConsent},
}

func saveConsent(t *testing.T, s Store, c storage.Consent) {
	t.Helper()
	check(t, "SaveConsent("+c.UserID+", "+c.ClientID+")", s.SaveConsent(t.Context(), &c))
}

func wantConsent(t *testing.T, s Store, want storage.Consent) {
	t.Helper()
	got, err := s.Consent(t.Context(), want.UserID, want.ClientID)
	what := "Consent(" + want.UserID + ", " + want.ClientID + ")"
	check(t, what, err)
	wantEqual(t, what, *got, want)
}

func wantNoConsent(t *testing.T, s Store, userID, clientID, why string) {
	t.Helper()
	_, err := s.Consent(t.Context(), userID, clientID)
	wantErr(t, "Consent("+userID+", "+clientID+") "+why, err, storage.ErrNotFound)
}

func testConsentUnknown(t *testing.T, s Store) {
	wantNoConsent(t, s, "u1", "c1", "on an empty store")
	list, err := s.UserConsents(t.Context(), "u1")
	check(t, "UserConsents on an empty store", err)
	if len(list) != 0 {
		t.Errorf("UserConsents on an empty store: got %d, want 0", len(list))
	}
	saveConsent(t, s, storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"openid"}, CreatedAt: t0, UpdatedAt: t0})
	wantNoConsent(t, s, "u1", "c2", "of another client")
	wantNoConsent(t, s, "u2", "c1", "of another user")
	wantNoConsent(t, s, "U1", "c1", "differing in case only")
}

func testConsentRoundTrip(t *testing.T, s Store) {
	// Scopes given unsorted, with a duplicate, are stored sorted by bytes
	// and once each.
	c := storage.Consent{
		UserID: "u1", ClientID: "c1",
		Scopes:    []string{"profile", "openid", "email", "profile", "Zeta", "api:read"},
		CreatedAt: inZone(at(-time.Hour)), UpdatedAt: inZone(t0),
	}
	saveConsent(t, s, c)
	want := c
	want.Scopes = []string{"Zeta", "api:read", "email", "openid", "profile"}
	wantConsent(t, s, want)
	// No scopes at all.
	empty := storage.Consent{UserID: "u1", ClientID: "c2", CreatedAt: t0, UpdatedAt: t0}
	saveConsent(t, s, empty)
	wantConsent(t, s, empty)
}

func testConsentMerge(t *testing.T, s Store) {
	first := storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"openid", "profile"}, CreatedAt: t0, UpdatedAt: t0}
	saveConsent(t, s, first)
	t1 := at(time.Hour)
	second := storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"email", "openid"}, CreatedAt: t1, UpdatedAt: t1}
	saveConsent(t, s, second)
	want := storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"email", "openid", "profile"}, CreatedAt: t0, UpdatedAt: t1}
	wantConsent(t, s, want)

	// Saving fewer scopes never takes any away.
	t2 := at(2 * time.Hour)
	saveConsent(t, s, storage.Consent{UserID: "u1", ClientID: "c1", CreatedAt: t2, UpdatedAt: t2})
	want.UpdatedAt = t2
	wantConsent(t, s, want)

	// The same scopes for another client or user are theirs alone.
	other := storage.Consent{UserID: "u2", ClientID: "c1", Scopes: []string{"offline_access"}, CreatedAt: t2, UpdatedAt: t2}
	saveConsent(t, s, other)
	wantConsent(t, s, want)
	wantConsent(t, s, other)
}

func testUserConsents(t *testing.T, s Store) {
	mk := func(user, client string, scope string) storage.Consent {
		return storage.Consent{UserID: user, ClientID: client, Scopes: []string{scope}, CreatedAt: t0, UpdatedAt: t0}
	}
	// Ordered by client id, by bytes: upper case before lower case.
	b, a, upper := mk("alice", "b-client", "openid"), mk("alice", "a-client", "email"), mk("alice", "Z-client", "profile")
	bob := mk("bob", "a-client", "openid")
	for _, c := range []storage.Consent{b, bob, a, upper} {
		saveConsent(t, s, c)
	}
	got, err := s.UserConsents(t.Context(), "alice")
	check(t, "UserConsents(alice)", err)
	want := []storage.Consent{upper, a, b}
	if len(got) != len(want) {
		t.Fatalf("UserConsents(alice): got %d consents, want %d", len(got), len(want))
	}
	for i := range want {
		wantEqual(t, fmt.Sprintf("UserConsents(alice)[%d]", i), got[i], want[i])
	}
	got, err = s.UserConsents(t.Context(), "carol")
	check(t, "UserConsents(carol)", err)
	if len(got) != 0 {
		t.Errorf("UserConsents of a user without consents: got %d, want 0", len(got))
	}
}

func testDeleteConsent(t *testing.T, s Store) {
	check(t, "DeleteConsent on an empty store", s.DeleteConsent(t.Context(), "u1", "c1"))
	c1 := storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"openid", "profile"}, CreatedAt: t0, UpdatedAt: t0}
	c2 := storage.Consent{UserID: "u1", ClientID: "c2", Scopes: []string{"openid"}, CreatedAt: t0, UpdatedAt: t0}
	saveConsent(t, s, c1)
	saveConsent(t, s, c2)
	check(t, "DeleteConsent(u1, c1)", s.DeleteConsent(t.Context(), "u1", "c1"))
	wantNoConsent(t, s, "u1", "c1", "after DeleteConsent")
	wantConsent(t, s, c2)
	check(t, "DeleteConsent(u1, c1) again", s.DeleteConsent(t.Context(), "u1", "c1"))

	// A consent given again after a withdrawal starts afresh: nothing of
	// the withdrawn one is merged back.
	again := storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"email"}, CreatedAt: at(time.Hour), UpdatedAt: at(time.Hour)}
	saveConsent(t, s, again)
	wantConsent(t, s, again)
}

// testConcurrentSaveConsent checks that concurrent saves of one consent
// merge: no scope is lost.
func testConcurrentSaveConsent(t *testing.T, s Store) {
	var want []string
	for i := range racers {
		want = append(want, fmt.Sprintf("scope-%02d", i))
	}
	errs := race(func(i int) error {
		c := storage.Consent{UserID: "u1", ClientID: "c1", Scopes: []string{"openid", want[i]}, CreatedAt: t0, UpdatedAt: t0}
		return s.SaveConsent(t.Context(), &c)
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent SaveConsent: goroutine %d: %v", i, err)
		}
	}
	got, err := s.Consent(t.Context(), "u1", "c1")
	check(t, "Consent after concurrent saves", err)
	want = append(want, "openid")
	slices.Sort(want)
	wantIDs(t, "Consent scopes after concurrent saves", got.Scopes, want)
}
