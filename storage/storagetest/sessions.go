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

func testSessionExpiry(t *testing.T, s Store) {
	sess := newSession("s1")
	createSession(t, s, sess)
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"long before", at(-24 * time.Hour), nil},
		{"just before", sess.ExpiresAt.Add(-time.Nanosecond), nil},
		{"at expiry", sess.ExpiresAt, storage.ErrNotFound},
		{"at expiry in another zone", inZone(sess.ExpiresAt), storage.ErrNotFound},
		{"after", sess.ExpiresAt.Add(time.Nanosecond), storage.ErrNotFound},
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
