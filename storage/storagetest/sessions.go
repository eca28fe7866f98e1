package storagetest

import (
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
	empty := newSession("s3")
	empty.AMR = []string{}

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
	check(t, "DeleteSession on empty store", s.DeleteSession(t.Context(), "nope"))

	keep := newSession("keep")
	createSession(t, s, newSession("s1"))
	createSession(t, s, keep)
	check(t, "DeleteSession(s1)", s.DeleteSession(t.Context(), "s1"))
	_, err := s.Session(t.Context(), "s1", t0)
	wantErr(t, "Session(s1) after delete", err, storage.ErrNotFound)
	check(t, "DeleteSession(s1) again", s.DeleteSession(t.Context(), "s1"))

	got, err := s.Session(t.Context(), "keep", t0)
	check(t, "Session(keep)", err)
	wantEqual(t, "Session(keep)", *got, keep)

	// The id is free again.
	createSession(t, s, newSession("s1"))
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
	check(t, "DeleteSession(a2)", s.DeleteSession(t.Context(), "a2"))
	got, err = s.UserSessions(t.Context(), "alice", t0)
	check(t, "UserSessions(alice) after DeleteSession", err)
	if len(got) != 2 {
		t.Errorf("UserSessions(alice) after deleting a2: got %d, want 2", len(got))
	}

	n, err := s.DeleteUserSessions(t.Context(), "alice")
	check(t, "DeleteUserSessions(alice)", err)
	if n != 3 {
		t.Errorf("DeleteUserSessions(alice): got %d removed, want 3 (a1, a3 and the expired a0)", n)
	}
	for _, id := range []string{"a0", "a1", "a3"} {
		_, err := s.Session(t.Context(), id, at(-2*time.Hour))
		wantErr(t, "Session("+id+") after DeleteUserSessions", err, storage.ErrNotFound)
	}
	b, err := s.Session(t.Context(), "b1", t0)
	check(t, "Session(b1) after deleting alice's sessions", err)
	wantEqual(t, "Session(b1)", *b, bob)
	n, err = s.DeleteUserSessions(t.Context(), "alice")
	check(t, "DeleteUserSessions(alice) again", err)
	if n != 0 {
		t.Errorf("DeleteUserSessions(alice) again: got %d, want 0", n)
	}
}
