package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// passwordResetTests check storage.PasswordResets: links read until they
// expire, taken once, deleted with their user; users found by email.
var passwordResetTests = []test{
	{"RoundTrip", testPasswordResetRoundTrip},
	{"CreateConflict", testPasswordResetConflict},
	{"UnknownUser", testPasswordResetUnknownUser},
	{"Expiry", testPasswordResetExpiry},
	{"Take", testTakePasswordReset},
	{"ConcurrentTake", testConcurrentTakePasswordReset},
	{"DeleteUserResets", testDeleteUserPasswordResets},
	{"DeleteUser", testDeleteUserDeletesPasswordResets},
	{"UsersByEmail", testUsersByEmail},
}

func newPasswordReset(id, userID string) storage.PasswordReset {
	return storage.PasswordReset{ID: id, UserID: userID, PasswordStamp: "stamp-" + userID,
		CreatedAt: t0, ExpiresAt: at(15 * time.Minute)}
}

func createPasswordReset(t *testing.T, s Store, p storage.PasswordReset) {
	t.Helper()
	check(t, "CreatePasswordReset("+p.ID+")", s.CreatePasswordReset(t.Context(), &p))
}

func wantPasswordReset(t *testing.T, s Store, now time.Time, want storage.PasswordReset) {
	t.Helper()
	got, err := s.PasswordReset(t.Context(), want.ID, now)
	check(t, "PasswordReset("+want.ID+")", err)
	wantEqual(t, "PasswordReset("+want.ID+")", *got, want)
}

func wantNoPasswordReset(t *testing.T, s Store, id string, now time.Time) {
	t.Helper()
	_, err := s.PasswordReset(t.Context(), id, now)
	wantErr(t, "PasswordReset("+id+")", err, storage.ErrNotFound)
}

func testPasswordResetRoundTrip(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	p := newPasswordReset("r1", "u1")
	p.CreatedAt, p.ExpiresAt = inZone(p.CreatedAt), inZone(p.ExpiresAt)
	createPasswordReset(t, s, p)
	wantPasswordReset(t, s, t0, newPasswordReset("r1", "u1"))
	wantNoPasswordReset(t, s, "r2", t0)
}

func testPasswordResetConflict(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createPasswordReset(t, s, newPasswordReset("r1", "u1"))
	again := newPasswordReset("r1", "u1")
	again.PasswordStamp = "other"
	wantErr(t, "CreatePasswordReset with a taken id", s.CreatePasswordReset(t.Context(), &again), storage.ErrConflict)
	wantPasswordReset(t, s, t0, newPasswordReset("r1", "u1"))
}

func testPasswordResetUnknownUser(t *testing.T, s Store) {
	p := newPasswordReset("r1", "nobody")
	wantErr(t, "CreatePasswordReset for a user that does not exist", s.CreatePasswordReset(t.Context(), &p), storage.ErrNotFound)
	wantNoPasswordReset(t, s, "r1", t0)
}

// testPasswordResetExpiry checks that a link is read until just before its
// ExpiresAt and neither read nor taken from it on.
func testPasswordResetExpiry(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	p := newPasswordReset("r1", "u1")
	createPasswordReset(t, s, p)
	wantPasswordReset(t, s, p.ExpiresAt.Add(-time.Microsecond), p)
	wantNoPasswordReset(t, s, "r1", p.ExpiresAt)
	_, err := s.TakePasswordReset(t.Context(), "r1", p.ExpiresAt)
	wantErr(t, "TakePasswordReset at its ExpiresAt", err, storage.ErrNotFound)
	_, err = s.TakePasswordReset(t.Context(), "r1", p.ExpiresAt.Add(time.Hour))
	wantErr(t, "TakePasswordReset after its ExpiresAt", err, storage.ErrNotFound)
}

func testTakePasswordReset(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	p, other := newPasswordReset("r1", "u1"), newPasswordReset("r2", "u1")
	createPasswordReset(t, s, p)
	createPasswordReset(t, s, other)
	got, err := s.TakePasswordReset(t.Context(), "r1", t0)
	check(t, "TakePasswordReset", err)
	wantEqual(t, "TakePasswordReset", *got, p)
	wantNoPasswordReset(t, s, "r1", t0)
	_, err = s.TakePasswordReset(t.Context(), "r1", t0)
	wantErr(t, "TakePasswordReset again", err, storage.ErrNotFound)
	_, err = s.TakePasswordReset(t.Context(), "unknown", t0)
	wantErr(t, "TakePasswordReset of an unknown id", err, storage.ErrNotFound)
	wantPasswordReset(t, s, t0, other)
}

// testConcurrentTakePasswordReset checks single use: of concurrent takes
// of one link exactly one gets it.
func testConcurrentTakePasswordReset(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	for round := range raceRounds {
		p := newPasswordReset(fmt.Sprintf("r%d", round), "u1")
		createPasswordReset(t, s, p)
		got := make([]*storage.PasswordReset, mfaRacers)
		errs := raceN(mfaRacers, func(i int) error {
			var err error
			got[i], err = s.TakePasswordReset(t.Context(), p.ID, t0)
			return err
		})
		what := fmt.Sprintf("concurrent TakePasswordReset, round %d", round)
		won := oneWinner(t, what, errs, storage.ErrNotFound)
		wantEqual(t, what, *got[won], p)
	}
}

func testDeleteUserPasswordResets(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	createPasswordReset(t, s, newPasswordReset("r1", "u1"))
	createPasswordReset(t, s, newPasswordReset("r2", "u1"))
	createPasswordReset(t, s, newPasswordReset("r3", "u2"))
	n, err := s.DeleteUserPasswordResets(t.Context(), "u1")
	check(t, "DeleteUserPasswordResets(u1)", err)
	if n != 2 {
		t.Errorf("DeleteUserPasswordResets(u1): got %d, want 2", n)
	}
	wantNoPasswordReset(t, s, "r1", t0)
	wantNoPasswordReset(t, s, "r2", t0)
	wantPasswordReset(t, s, t0, newPasswordReset("r3", "u2"))
	n, err = s.DeleteUserPasswordResets(t.Context(), "u1")
	check(t, "DeleteUserPasswordResets(u1) again", err)
	if n != 0 {
		t.Errorf("DeleteUserPasswordResets(u1) again: got %d, want 0", n)
	}
}

func testDeleteUserDeletesPasswordResets(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	createPasswordReset(t, s, newPasswordReset("r1", "u1"))
	createPasswordReset(t, s, newPasswordReset("r2", "u2"))
	deleteUser(t, s, "u1", true)
	wantNoPasswordReset(t, s, "r1", t0)
	wantPasswordReset(t, s, t0, newPasswordReset("r2", "u2"))
	// A user made again under the id has no link.
	createUser(t, s, newUser("u1", "alice"))
	wantNoPasswordReset(t, s, "r1", t0)
}

// testUsersByEmail checks the lookup by email: ASCII case ignored, every
// user with the address (disabled ones too) ordered by username, nothing
// for a near miss or the empty address.
func testUsersByEmail(t *testing.T, s Store) {
	alice := newUser("u1", "alice")
	alice.Email = "Shared@Example.com"
	bob := newUser("u2", "bob")
	bob.Email, bob.Disabled = "shared@example.COM", true
	carol := newUser("u3", "carol")
	noMail := newUser("u4", "dave")
	noMail.Email = ""
	for _, u := range []storage.User{bob, carol, alice, noMail} {
		createUser(t, s, u)
	}
	for _, tc := range []struct {
		email string
		want  []string
	}{
		{"shared@example.com", []string{"alice", "bob"}},
		{"SHARED@EXAMPLE.COM", []string{"alice", "bob"}},
		{"carol@example.com", []string{"carol"}},
		{"carol@example.co", nil},
		{"carol@example.com ", nil},
		{"%@example.com", nil},
		{"", nil},
		{"nobody@example.com", nil},
	} {
		got, err := s.UsersByEmail(t.Context(), tc.email)
		check(t, fmt.Sprintf("UsersByEmail(%q)", tc.email), err)
		var names []string
		for _, u := range got {
			names = append(names, u.Username)
		}
		wantIDs(t, fmt.Sprintf("UsersByEmail(%q)", tc.email), names, tc.want)
	}
	got, err := s.UsersByEmail(t.Context(), "shared@example.com")
	check(t, "UsersByEmail", err)
	if len(got) == 2 {
		wantEqual(t, "UsersByEmail[0]", got[0], alice)
		wantEqual(t, "UsersByEmail[1]", got[1], bob)
	}
}
