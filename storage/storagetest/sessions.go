package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var sessionTests = []test{
	{"RoundTrip", testSessionRoundTrip},
	{"Expiry", testSessionExpiry},
	{"Unknown", testSessionUnknown},
	{"CreateConflict", testSessionConflict},
	{"Delete", testDeleteSession},
	{"PerUser", testUserSessions},
	{"MicrosecondPrecision", testMicrosecondPrecision},
	{"Update", testUpdateSession},
	{"UpdateCapped", testUpdateSessionCapped},
	{"UpdateRefused", testUpdateSessionRefused},
	{"ConcurrentDelete", testConcurrentDeleteSession},
	{"ActiveSessions", testActiveSessions},
}

func newSession(id string) storage.Session {
	return storage.Session{
		ID:        id,
		UserID:    "user-" + id,
		AuthTime:  at(-time.Minute),
		AMR:       []string{"pwd", "otp"},
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
		IP:        "2001:db8::1",
		CreatedAt: at(-time.Minute),
		LastSeen:  t0,
		ExpiresAt: at(time.Hour),
		// An absolute deadline to an odd microsecond.
		AbsoluteExpiresAt: at(8*time.Hour + time.Microsecond),
		Remember:          true,
		Clients:           []string{"client-b", "client-a"},
	}
}

func createSession(t *testing.T, s Store, sess storage.Session) {
	t.Helper()
	check(t, "CreateSession("+sess.ID+")", s.CreateSession(t.Context(), &sess))
}

func testSessionRoundTrip(t *testing.T, s Store) {
	full := newSession("s1")
	full.AuthTime, full.ExpiresAt = inZone(full.AuthTime), inZone(full.ExpiresAt)
	sparse := storage.Session{ID: "s2", UserID: "u", ExpiresAt: at(time.Hour)}
	full.AbsoluteExpiresAt = inZone(full.AbsoluteExpiresAt)
	empty := newSession("s3")
	empty.AMR, empty.Clients, empty.Remember = []string{}, []string{}, false

	for _, sess := range []storage.Session{full, sparse, empty} {
		createSession(t, s, sess)
	}
	for _, want := range []storage.Session{full, sparse, empty} {
		got, err := s.Session(t.Context(), want.ID, t0)
		check(t, "Session("+want.ID+")", err)
		wantEqual(t, "Session("+want.ID+")", *got, want)
	}
}

// testMicrosecondPrecision checks that a backend keeps every microsecond of
// a time, on either side of the Unix and Postgres (2000) epochs.
func testMicrosecondPrecision(t *testing.T, s Store) {
	sess := newSession("s1")
	sess.AuthTime = time.Date(1969, time.December, 31, 23, 59, 59, 999999000, time.UTC)
	sess.CreatedAt = time.Date(1999, time.December, 31, 23, 59, 59, 1000, time.UTC)
	sess.LastSeen = time.Date(2031, time.March, 4, 5, 6, 7, 999999000, time.UTC)
	sess.ExpiresAt = at(time.Hour + time.Microsecond)
	createSession(t, s, sess)
	got, err := s.Session(t.Context(), sess.ID, sess.ExpiresAt.Add(-time.Microsecond))
	check(t, "Session one microsecond before expiry", err)
	wantEqual(t, "Session", *got, sess)
	_, err = s.Session(t.Context(), sess.ID, sess.ExpiresAt)
	wantErr(t, "Session at expiry", err, storage.ErrNotFound)
}

func testSessionExpiry(t *testing.T, s Store) {
	sess := newSession("s1")
	createSession(t, s, sess)
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"long before", at(-24 * time.Hour), nil},
		{"just before", sess.ExpiresAt.Add(-time.Microsecond), nil},
		{"at expiry", sess.ExpiresAt, storage.ErrNotFound},
		{"at expiry in another zone", inZone(sess.ExpiresAt), storage.ErrNotFound},
		{"after", sess.ExpiresAt.Add(time.Microsecond), storage.ErrNotFound},
		{"long after", sess.ExpiresAt.Add(365 * 24 * time.Hour), storage.ErrNotFound},
	}
	for _, tt := range tests {
		got, err := s.Session(t.Context(), sess.ID, tt.now)
		wantErr(t, "Session "+tt.name, err, tt.want)
		if err == nil {
			wantEqual(t, "Session "+tt.name, *got, sess)
		}
	}
}

func testSessionUnknown(t *testing.T, s Store) {
	_, err := s.Session(t.Context(), "nope", t0)
	wantErr(t, "Session on empty store", err, storage.ErrNotFound)
	createSession(t, s, newSession("s1"))
	_, err = s.Session(t.Context(), "s2", t0)
	wantErr(t, "Session(s2)", err, storage.ErrNotFound)
}

func testSessionConflict(t *testing.T, s Store) {
	orig := newSession("s1")
	createSession(t, s, orig)
	dup := newSession("s1")
	dup.UserID = "someone-else"
	wantErr(t, "CreateSession with a taken id", s.CreateSession(t.Context(), &dup), storage.ErrConflict)
	got, err := s.Session(t.Context(), "s1", t0)
	check(t, "Session(s1)", err)
	wantEqual(t, "Session(s1) after conflict", *got, orig)
}

func testDeleteSession(t *testing.T, s Store) {
	got, err := s.DeleteSession(t.Context(), "nope")
	check(t, "DeleteSession on empty store", err)
	if got != nil {
		t.Errorf("DeleteSession on empty store: got %+v, want nil", got)
	}

	s1, keep := newSession("s1"), newSession("keep")
	createSession(t, s, s1)
	createSession(t, s, keep)
	got, err = s.DeleteSession(t.Context(), "s1")
	check(t, "DeleteSession(s1)", err)
	if got == nil {
		t.Fatalf("DeleteSession(s1): got nil, want the deleted session")
	}
	wantEqual(t, "DeleteSession(s1)", *got, s1)
	_, err = s.Session(t.Context(), "s1", t0)
	wantErr(t, "Session(s1) after delete", err, storage.ErrNotFound)
	got, err = s.DeleteSession(t.Context(), "s1")
	check(t, "DeleteSession(s1) again", err)
	if got != nil {
		t.Errorf("DeleteSession(s1) again: got %+v, want nil", got)
	}

	keepGot, err := s.Session(t.Context(), "keep", t0)
	check(t, "Session(keep)", err)
	wantEqual(t, "Session(keep)", *keepGot, keep)

	// An expired session is still returned by the delete.
	old := newSession("old")
	old.ExpiresAt = at(-time.Hour)
	createSession(t, s, old)
	got, err = s.DeleteSession(t.Context(), "old")
	check(t, "DeleteSession(old) of an expired session", err)
	if got == nil {
		t.Fatalf("DeleteSession(old) of an expired session: got nil, want it")
	}
	wantEqual(t, "DeleteSession(old)", *got, old)

	// The id is free again.
	createSession(t, s, newSession("s1"))
}

// testConcurrentDeleteSession checks that of concurrent deletes of one
// session exactly one gets it (and so notifies its clients).
func testConcurrentDeleteSession(t *testing.T, s Store) {
	for round := range raceRounds {
		sess := newSession(fmt.Sprintf("s%d", round))
		createSession(t, s, sess)
		got := make([]*storage.Session, racers)
		errs := race(func(i int) error {
			var err error
			got[i], err = s.DeleteSession(t.Context(), sess.ID)
			return err
		})
		what := fmt.Sprintf("concurrent DeleteSession, round %d", round)
		won := -1
		for i, err := range errs {
			switch {
			case err != nil:
				t.Errorf("%s: goroutine %d: %v", what, i, err)
			case got[i] != nil && won >= 0:
				t.Errorf("%s: goroutines %d and %d both got the session", what, won, i)
			case got[i] != nil:
				won = i
			}
		}
		if won < 0 {
			t.Fatalf("%s: no goroutine got the session, want one", what)
		}
		wantEqual(t, what, *got[won], sess)
		if t.Failed() {
			return
		}
	}
}

// updated returns sess with the fields UpdateSession sets taken from u.
func updated(sess, u storage.Session) storage.Session {
	sess.LastSeen, sess.IP, sess.UserAgent, sess.Clients, sess.ExpiresAt = u.LastSeen, u.IP, u.UserAgent, u.Clients, u.ExpiresAt
	return sess
}

func wantSession(t *testing.T, s Store, now time.Time, want storage.Session) {
	t.Helper()
	got, err := s.Session(t.Context(), want.ID, now)
	check(t, "Session("+want.ID+")", err)
	wantEqual(t, "Session("+want.ID+")", *got, want)
}

func testUpdateSession(t *testing.T, s Store) {
	sess := newSession("s1")
	other := newSession("other")
	createSession(t, s, sess)
	createSession(t, s, other)

	now := at(10 * time.Minute)
	u := sess
	u.LastSeen, u.IP, u.UserAgent = now, "192.0.2.7", "curl/8.5.0"
	u.Clients = []string{"client-b", "client-a", "client-c"}
	u.ExpiresAt = inZone(now.Add(time.Hour))
	// The fields fixed at creation are ignored.
	u.UserID, u.AuthTime, u.AMR, u.CreatedAt = "mallory", now, []string{"hwk"}, now
	u.AbsoluteExpiresAt, u.Remember = at(100*time.Hour), false
	check(t, "UpdateSession", s.UpdateSession(t.Context(), &u, now))
	want := updated(sess, u)
	wantSession(t, s, now, want)
	// Live until the new ExpiresAt, which is later than the first one.
	wantSession(t, s, want.ExpiresAt.Add(-time.Microsecond), want)
	_, err := s.Session(t.Context(), "s1", want.ExpiresAt)
	wantErr(t, "Session at the new ExpiresAt", err, storage.ErrNotFound)
	// Still the user's, and found through the index.
	list, err := s.UserSessions(t.Context(), sess.UserID, sess.ExpiresAt.Add(time.Minute))
	check(t, "UserSessions after UpdateSession", err)
	if len(list) != 1 {
		t.Fatalf("UserSessions(%s) past the first ExpiresAt: got %d sessions, want 1", sess.UserID, len(list))
	}
	wantEqual(t, "UserSessions[0]", list[0], want)
	list, err = s.UserSessions(t.Context(), "mallory", now)
	check(t, "UserSessions(mallory)", err)
	if len(list) != 0 {
		t.Errorf("UserSessions(mallory): got %d sessions, want 0", len(list))
	}

	// Clients emptied, ExpiresAt shortened, strings emptied.
	u2 := want
	u2.LastSeen, u2.IP, u2.UserAgent, u2.Clients, u2.ExpiresAt = at(20*time.Minute), "", "", nil, at(30*time.Minute)
	check(t, "UpdateSession shortening", s.UpdateSession(t.Context(), &u2, at(20*time.Minute)))
	want = updated(want, u2)
	wantSession(t, s, at(20*time.Minute), want)
	_, err = s.Session(t.Context(), "s1", at(30*time.Minute))
	wantErr(t, "Session at the shortened ExpiresAt", err, storage.ErrNotFound)

	// The other session is untouched.
	wantSession(t, s, t0, other)
	got, err := s.DeleteSession(t.Context(), "s1")
	check(t, "DeleteSession after updates", err)
	wantEqual(t, "DeleteSession after updates", *got, want)
}

// testUpdateSessionCapped checks that no update moves ExpiresAt past the
// stored absolute deadline, whatever the session given says.
func testUpdateSessionCapped(t *testing.T, s Store) {
	sess := newSession("s1")
	createSession(t, s, sess)
	u := sess
	u.ExpiresAt = at(100 * time.Hour)
	u.AbsoluteExpiresAt = at(200 * time.Hour) // ignored
	check(t, "UpdateSession past the absolute deadline", s.UpdateSession(t.Context(), &u, t0))
	want := sess
	want.ExpiresAt = sess.AbsoluteExpiresAt
	wantSession(t, s, t0, want)
	wantSession(t, s, want.ExpiresAt.Add(-time.Microsecond), want)
	_, err := s.Session(t.Context(), "s1", sess.AbsoluteExpiresAt)
	wantErr(t, "Session at the absolute deadline", err, storage.ErrNotFound)
	err = s.UpdateSession(t.Context(), &u, sess.AbsoluteExpiresAt)
	wantErr(t, "UpdateSession at the absolute deadline", err, storage.ErrNotFound)

	// Without an absolute deadline, the stored ExpiresAt is the deadline:
	// an update shortens it but never extends it.
	plain := newSession("plain")
	plain.AbsoluteExpiresAt = time.Time{}
	createSession(t, s, plain)
	u = plain
	u.ExpiresAt = plain.ExpiresAt.Add(time.Hour)
	check(t, "UpdateSession of a session without absolute deadline", s.UpdateSession(t.Context(), &u, t0))
	wantSession(t, s, t0, plain)
	_, err = s.Session(t.Context(), "plain", plain.ExpiresAt)
	wantErr(t, "Session at its first ExpiresAt", err, storage.ErrNotFound)
	u.ExpiresAt = at(time.Minute)
	check(t, "UpdateSession shortening a session without absolute deadline", s.UpdateSession(t.Context(), &u, t0))
	want = plain
	want.ExpiresAt = at(time.Minute)
	wantSession(t, s, t0, want)
	u.ExpiresAt = plain.ExpiresAt
	check(t, "UpdateSession extending it again", s.UpdateSession(t.Context(), &u, t0))
	wantSession(t, s, t0, want)
}

// testUpdateSessionRefused checks that an update never recreates a
// session: not an absent one, a deleted one or one expired at now.
func testUpdateSessionRefused(t *testing.T, s Store) {
	ghost := newSession("ghost")
	err := s.UpdateSession(t.Context(), &ghost, t0)
	wantErr(t, "UpdateSession of an absent session", err, storage.ErrNotFound)
	_, err = s.Session(t.Context(), "ghost", t0)
	wantErr(t, "Session after UpdateSession of an absent session", err, storage.ErrNotFound)

	gone := newSession("gone")
	createSession(t, s, gone)
	if _, err := s.DeleteSession(t.Context(), "gone"); err != nil {
		t.Fatalf("DeleteSession(gone): %v", err)
	}
	err = s.UpdateSession(t.Context(), &gone, t0)
	wantErr(t, "UpdateSession of a deleted session", err, storage.ErrNotFound)
	_, err = s.Session(t.Context(), "gone", t0)
	wantErr(t, "Session after UpdateSession of a deleted session", err, storage.ErrNotFound)
	list, err := s.UserSessions(t.Context(), gone.UserID, t0)
	check(t, "UserSessions after UpdateSession of a deleted session", err)
	if len(list) != 0 {
		t.Errorf("UserSessions after UpdateSession of a deleted session: got %d sessions, want 0", len(list))
	}

	expired := newSession("expired")
	createSession(t, s, expired)
	u := expired
	u.LastSeen, u.ExpiresAt, u.IP = expired.ExpiresAt, expired.ExpiresAt.Add(time.Hour), "192.0.2.9"
	for _, now := range []time.Time{expired.ExpiresAt, expired.ExpiresAt.Add(time.Second)} {
		err = s.UpdateSession(t.Context(), &u, now)
		wantErr(t, "UpdateSession of a session expired at now", err, storage.ErrNotFound)
	}
	// Nothing changed.
	wantSession(t, s, t0, expired)
	_, err = s.Session(t.Context(), "expired", expired.ExpiresAt)
	wantErr(t, "Session at its expiry after a refused update", err, storage.ErrNotFound)
}

func testUserSessions(t *testing.T, s Store) {
	got, err := s.UserSessions(t.Context(), "alice", t0)
	check(t, "UserSessions on empty store", err)
	if len(got) != 0 {
		t.Fatalf("UserSessions on empty store: got %d sessions, want 0", len(got))
	}
	mk := func(id, user string, created, expires time.Duration) storage.Session {
		sess := newSession(id)
		sess.UserID, sess.CreatedAt, sess.ExpiresAt = user, at(created), at(expires)
		return sess
	}
	a2 := mk("a2", "alice", -time.Minute, time.Hour)
	a1 := mk("a1", "alice", -2*time.Minute, time.Hour)
	a3 := mk("a3", "alice", -time.Minute, 2*time.Hour) // same CreatedAt as a2: ordered by id
	old := mk("a0", "alice", -3*time.Hour, -time.Hour) // expired at t0
	bob := mk("b1", "bob", -time.Minute, time.Hour)
	for _, sess := range []storage.Session{a2, a1, a3, old, bob} {
		createSession(t, s, sess)
	}
	got, err = s.UserSessions(t.Context(), "alice", t0)
	check(t, "UserSessions(alice)", err)
	want := []storage.Session{a1, a2, a3}
	if len(got) != len(want) {
		t.Fatalf("UserSessions(alice): got %d sessions, want %d (live ones only)", len(got), len(want))
	}
	for i := range want {
		wantEqual(t, "UserSessions(alice)["+want[i].ID+"]", got[i], want[i])
	}
	// Later, only a3 is still live.
	got, err = s.UserSessions(t.Context(), "alice", at(90*time.Minute))
	check(t, "UserSessions(alice) later", err)
	if len(got) != 1 || got[0].ID != "a3" {
		t.Errorf("UserSessions(alice) at +90m: got %d sessions, want only a3", len(got))
	}
	if _, err := s.DeleteSession(t.Context(), "a2"); err != nil {
		t.Fatalf("DeleteSession(a2): %v", err)
	}
	got, err = s.UserSessions(t.Context(), "alice", t0)
	check(t, "UserSessions(alice) after DeleteSession", err)
	if len(got) != 2 {
		t.Errorf("UserSessions(alice) after deleting a2: got %d, want 2", len(got))
	}

	removed, err := s.DeleteUserSessions(t.Context(), "alice")
	check(t, "DeleteUserSessions(alice)", err)
	want = []storage.Session{old, a1, a3} // by CreatedAt, the expired one too
	if len(removed) != len(want) {
		t.Fatalf("DeleteUserSessions(alice): got %d removed, want %d (a0 expired, a1, a3)", len(removed), len(want))
	}
	for i := range want {
		wantEqual(t, "DeleteUserSessions(alice)["+want[i].ID+"]", removed[i], want[i])
	}
	for _, id := range []string{"a0", "a1", "a3"} {
		_, err := s.Session(t.Context(), id, at(-2*time.Hour))
		wantErr(t, "Session("+id+") after DeleteUserSessions", err, storage.ErrNotFound)
	}
	b, err := s.Session(t.Context(), "b1", t0)
	check(t, "Session(b1) after deleting alice's sessions", err)
	wantEqual(t, "Session(b1)", *b, bob)
	removed, err = s.DeleteUserSessions(t.Context(), "alice")
	check(t, "DeleteUserSessions(alice) again", err)
	if len(removed) != 0 {
		t.Errorf("DeleteUserSessions(alice) again: got %d, want 0", len(removed))
	}
	removed, err = s.DeleteUserSessions(t.Context(), "nobody")
	check(t, "DeleteUserSessions of an unknown user", err)
	if len(removed) != 0 {
		t.Errorf("DeleteUserSessions of an unknown user: got %d, want 0", len(removed))
	}
}

// testActiveSessions checks the count of live sessions through sign-ins,
// expiry by time, updates (sliding, refused) and deletes.
func testActiveSessions(t *testing.T, s Store) {
	count := func(what string, now time.Time, want int64) {
		t.Helper()
		got, err := s.ActiveSessions(t.Context(), now)
		check(t, "ActiveSessions "+what, err)
		if got != want {
			t.Errorf("ActiveSessions %s: got %d, want %d", what, got, want)
		}
	}
	count("of an empty store", t0, 0)
	a, b, c := newSession("a"), newSession("b"), newSession("c")
	c.ExpiresAt = at(10 * time.Minute)
	for _, sess := range []storage.Session{a, b, c} {
		createSession(t, s, sess)
	}
	count("after three sign-ins", t0, 3)
	count("a microsecond before c expires", c.ExpiresAt.Add(-time.Microsecond), 3)
	count("when c expires", c.ExpiresAt, 2)
	count("when c expires, in another zone", inZone(c.ExpiresAt), 2)
	count("before, again (nothing is dropped early)", t0, 3)

	_, err := s.DeleteSession(t.Context(), "b")
	check(t, "DeleteSession(b)", err)
	count("after b was deleted", t0, 2)
	count("after b was deleted and c expired", c.ExpiresAt, 1)

	// Refused updates count nothing: c expired, b gone.
	u := c
	u.ExpiresAt = at(2 * time.Hour)
	wantErr(t, "UpdateSession(c) after its expiry", s.UpdateSession(t.Context(), &u, at(20*time.Minute)), storage.ErrNotFound)
	u = b
	u.ExpiresAt = at(2 * time.Hour)
	wantErr(t, "UpdateSession(b) after its delete", s.UpdateSession(t.Context(), &u, at(20*time.Minute)), storage.ErrNotFound)
	count("after refused updates", at(20*time.Minute), 1)

	// a slides to 2h, past its first ExpiresAt (1h).
	u = a
	u.LastSeen, u.ExpiresAt = at(30*time.Minute), at(2*time.Hour)
	check(t, "UpdateSession(a)", s.UpdateSession(t.Context(), &u, at(30*time.Minute)))
	count("past a's first ExpiresAt", at(90*time.Minute), 1)
	count("when a's new ExpiresAt comes", at(2*time.Hour), 0)
	// Capped at a's absolute deadline (8h and a microsecond).
	u.LastSeen, u.ExpiresAt = at(time.Hour), at(24*time.Hour)
	check(t, "UpdateSession(a) past its deadline", s.UpdateSession(t.Context(), &u, at(time.Hour)))
	count("just before a's deadline", a.AbsoluteExpiresAt.Add(-time.Microsecond), 1)
	count("at a's deadline", a.AbsoluteExpiresAt, 0)

	// Signing the user out everywhere. (From the refused updates on, now
	// only moves forward: a backend may forget what it found expired.)
	d := newSession("d")
	d.UserID = a.UserID
	createSession(t, s, d)
	count("after d signed in", at(30*time.Minute), 2)
	_, err = s.DeleteUserSessions(t.Context(), a.UserID)
	check(t, "DeleteUserSessions", err)
	count("after the user was signed out everywhere", at(30*time.Minute), 0)
}
