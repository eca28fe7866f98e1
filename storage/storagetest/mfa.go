package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// secondFactorTests check storage.SecondFactors. That a user's factors go
// with the user is checked by userDeleteTests.
var secondFactorTests = []test{
	{"TOTPRoundTrip", testTOTPRoundTrip},
	{"TOTPUnknownUser", testTOTPUnknownUser},
	{"SetTOTPReplaces", testSetTOTPReplaces},
	{"UseTOTPStep", testUseTOTPStep},
	{"DeleteTOTP", testDeleteTOTP},
	{"ConcurrentUseTOTPStep", testConcurrentUseTOTPStep},
	{"RecoveryCodesRoundTrip", testRecoveryCodesRoundTrip},
	{"SetRecoveryCodesReplaces", testSetRecoveryCodesReplaces},
	{"SetRecoveryCodesDuplicate", testSetRecoveryCodesDuplicate},
	{"SetRecoveryCodesUnknownUser", testSetRecoveryCodesUnknownUser},
	{"UseRecoveryCode", testUseRecoveryCode},
	{"DeleteRecoveryCodes", testDeleteRecoveryCodes},
	{"ConcurrentUseRecoveryCode", testConcurrentUseRecoveryCode},
}

var pendingSignInTests = []test{
	{"RoundTrip", testPendingSignInRoundTrip},
	{"Unknown", testPendingSignInUnknown},
	{"CreateConflict", testPendingSignInConflict},
	{"Expiry", testPendingSignInExpiry},
	{"Take", testTakePendingSignIn},
	{"ConcurrentTake", testConcurrentTakePendingSignIn},
}

var sessionAuthTests = []test{
	{"Authenticate", testAuthenticateSession},
	{"Refused", testAuthenticateSessionRefused},
}

// mfaRacers is how many goroutines race for one TOTP step, recovery code
// or pending sign-in: a sign-in form posted again and again, not a crowd.
const mfaRacers = 16

func newTOTP(userID string) storage.TOTPCredential {
	return storage.TOTPCredential{
		UserID:       userID,
		SealedSecret: []byte("sealed\x00secret\xff of " + userID),
		KEKID:        "kek-1",
		LastStep:     65_000_000,
		CreatedAt:    t0,
		LastUsedAt:   at(-time.Minute),
	}
}

func setTOTP(t *testing.T, s Store, c storage.TOTPCredential) {
	t.Helper()
	check(t, "SetTOTP("+c.UserID+")", s.SetTOTP(t.Context(), &c))
}

func wantTOTP(t *testing.T, s Store, want storage.TOTPCredential) {
	t.Helper()
	got, err := s.TOTP(t.Context(), want.UserID)
	check(t, "TOTP("+want.UserID+")", err)
	wantEqual(t, "TOTP("+want.UserID+")", *got, want)
}

func testTOTPRoundTrip(t *testing.T, s Store) {
	_, err := s.TOTP(t.Context(), "u1")
	wantErr(t, "TOTP on an empty store", err, storage.ErrNotFound)
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	createUser(t, s, newUser("u3", "carol"))
	_, err = s.TOTP(t.Context(), "u1")
	wantErr(t, "TOTP of a user without one", err, storage.ErrNotFound)

	full := newTOTP("u1")
	full.CreatedAt, full.LastUsedAt = inZone(full.CreatedAt), inZone(full.LastUsedAt)
	never := newTOTP("u2") // no code accepted yet
	never.LastStep, never.LastUsedAt = 0, time.Time{}
	sparse := storage.TOTPCredential{UserID: "u3"}
	for _, c := range []storage.TOTPCredential{full, never, sparse} {
		setTOTP(t, s, c)
	}
	for _, c := range []storage.TOTPCredential{full, never, sparse} {
		wantTOTP(t, s, c)
	}
}

func testTOTPUnknownUser(t *testing.T, s Store) {
	c := newTOTP("ghost")
	wantErr(t, "SetTOTP for a user that does not exist", s.SetTOTP(t.Context(), &c), storage.ErrNotFound)
	_, err := s.TOTP(t.Context(), "ghost")
	wantErr(t, "TOTP after a refused SetTOTP", err, storage.ErrNotFound)
}

// testSetTOTPReplaces checks that SetTOTP is a reset: every field is the
// new generator's, LastStep too, even below the old one.
func testSetTOTPReplaces(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	old, other := newTOTP("u1"), newTOTP("u2")
	setTOTP(t, s, old)
	setTOTP(t, s, other)
	check(t, "UseTOTPStep", s.UseTOTPStep(t.Context(), "u1", old.LastStep+5, t0))
	reset := storage.TOTPCredential{UserID: "u1", SealedSecret: []byte("another sealed secret"), KEKID: "kek-2",
		LastStep: 12, CreatedAt: at(time.Hour)}
	setTOTP(t, s, reset)
	wantTOTP(t, s, reset)
	wantTOTP(t, s, other)
	// The new generator's LastStep rules: a step the old one had passed is
	// accepted again.
	check(t, "UseTOTPStep after the reset", s.UseTOTPStep(t.Context(), "u1", 13, at(2*time.Hour)))
}

func testUseTOTPStep(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	c, other := newTOTP("u1"), newTOTP("u2")
	setTOTP(t, s, c)
	setTOTP(t, s, other)
	last := c.LastStep
	for _, tt := range []struct {
		name string
		step int64
		want error
	}{
		{"the last step accepted", last, storage.ErrConflict},
		{"an earlier step", last - 1, storage.ErrConflict},
		{"a much earlier step", 0, storage.ErrConflict},
		{"a negative step", -1, storage.ErrConflict},
	} {
		err := s.UseTOTPStep(t.Context(), "u1", tt.step, t0)
		wantErr(t, "UseTOTPStep of "+tt.name, err, tt.want)
	}
	wantTOTP(t, s, c) // nothing changed

	now := inZone(at(30 * time.Second))
	check(t, "UseTOTPStep of the next step", s.UseTOTPStep(t.Context(), "u1", last+1, now))
	c.LastStep, c.LastUsedAt = last+1, now
	wantTOTP(t, s, c)
	err := s.UseTOTPStep(t.Context(), "u1", last+1, at(time.Minute))
	wantErr(t, "UseTOTPStep of the same step again", err, storage.ErrConflict)
	// A later step may skip some.
	check(t, "UseTOTPStep of a step further on", s.UseTOTPStep(t.Context(), "u1", last+10, at(5*time.Minute)))
	c.LastStep, c.LastUsedAt = last+10, at(5*time.Minute)
	wantTOTP(t, s, c)
	err = s.UseTOTPStep(t.Context(), "u1", last+9, at(6*time.Minute))
	wantErr(t, "UseTOTPStep of a step skipped", err, storage.ErrConflict)
	wantTOTP(t, s, c)
	wantTOTP(t, s, other)

	err = s.UseTOTPStep(t.Context(), "nobody", last+100, t0)
	wantErr(t, "UseTOTPStep of an unknown user", err, storage.ErrNotFound)
	createUser(t, s, newUser("u3", "carol"))
	err = s.UseTOTPStep(t.Context(), "u3", last+100, t0)
	wantErr(t, "UseTOTPStep of a user without a generator", err, storage.ErrNotFound)
}

func testDeleteTOTP(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	deleted, err := s.DeleteTOTP(t.Context(), "u1")
	check(t, "DeleteTOTP of a user without one", err)
	if deleted {
		t.Errorf("DeleteTOTP of a user without one: got true, want false")
	}
	c, other := newTOTP("u1"), newTOTP("u2")
	setTOTP(t, s, c)
	setTOTP(t, s, other)
	deleted, err = s.DeleteTOTP(t.Context(), "u1")
	check(t, "DeleteTOTP", err)
	if !deleted {
		t.Errorf("DeleteTOTP: got false, want true")
	}
	_, err = s.TOTP(t.Context(), "u1")
	wantErr(t, "TOTP after DeleteTOTP", err, storage.ErrNotFound)
	err = s.UseTOTPStep(t.Context(), "u1", c.LastStep+1, t0)
	wantErr(t, "UseTOTPStep after DeleteTOTP", err, storage.ErrNotFound)
	deleted, err = s.DeleteTOTP(t.Context(), "u1")
	check(t, "DeleteTOTP again", err)
	if deleted {
		t.Errorf("DeleteTOTP again: got true, want false")
	}
	wantTOTP(t, s, other)
	// A new generator may be set up.
	setTOTP(t, s, c)
	wantTOTP(t, s, c)
}

// testConcurrentUseTOTPStep checks that of concurrent uses of one step
// exactly one is accepted: one code opens one sign-in, on any instance.
func testConcurrentUseTOTPStep(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	c := newTOTP("u1")
	setTOTP(t, s, c)
	for round := range raceRounds {
		step := c.LastStep + 1 + int64(round)
		errs := raceN(mfaRacers, func(i int) error {
			return s.UseTOTPStep(t.Context(), "u1", step, at(time.Duration(i)*time.Second))
		})
		what := fmt.Sprintf("concurrent UseTOTPStep, round %d", round)
		won := oneWinner(t, what, errs, storage.ErrConflict)
		want := c
		want.LastStep, want.LastUsedAt = step, at(time.Duration(won)*time.Second)
		wantTOTP(t, s, want)
	}
}

// newRecoveryCodes returns n codes without a UserID (SetRecoveryCodes
// stores them for the user it is given), ids prefix-0, prefix-1, ...
func newRecoveryCodes(prefix string, n int) []storage.RecoveryCode {
	codes := make([]storage.RecoveryCode, n)
	for i := range codes {
		codes[i] = storage.RecoveryCode{
			ID:        fmt.Sprintf("%s-%d", prefix, i),
			Hash:      fmt.Sprintf("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$%s%d", prefix, i),
			CreatedAt: at(time.Duration(i) * time.Microsecond),
		}
	}
	return codes
}

func setRecoveryCodes(t *testing.T, s Store, userID string, codes []storage.RecoveryCode) {
	t.Helper()
	check(t, "SetRecoveryCodes("+userID+")", s.SetRecoveryCodes(t.Context(), userID, codes))
}

// wantRecoveryCodes checks that the user's unused codes are exactly want
// (stored for userID), and that gone are not among them.
func wantRecoveryCodes(t *testing.T, s Store, userID string, want []storage.RecoveryCode, gone ...string) {
	t.Helper()
	for _, c := range want {
		c.UserID = userID
		got, err := s.RecoveryCode(t.Context(), userID, c.ID)
		check(t, "RecoveryCode("+userID+", "+c.ID+")", err)
		wantEqual(t, "RecoveryCode("+userID+", "+c.ID+")", *got, c)
	}
	for _, id := range gone {
		_, err := s.RecoveryCode(t.Context(), userID, id)
		wantErr(t, "RecoveryCode("+userID+", "+id+")", err, storage.ErrNotFound)
	}
	n, err := s.RecoveryCodesLeft(t.Context(), userID)
	check(t, "RecoveryCodesLeft("+userID+")", err)
	if n != len(want) {
		t.Errorf("RecoveryCodesLeft(%s): got %d, want %d", userID, n, len(want))
	}
}

func testRecoveryCodesRoundTrip(t *testing.T, s Store) {
	n, err := s.RecoveryCodesLeft(t.Context(), "u1")
	check(t, "RecoveryCodesLeft on an empty store", err)
	if n != 0 {
		t.Errorf("RecoveryCodesLeft on an empty store: got %d, want 0", n)
	}
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	wantRecoveryCodes(t, s, "u1", nil, "a-0")

	alice := newRecoveryCodes("a", 10)
	alice[0].CreatedAt = inZone(alice[0].CreatedAt)
	alice[1].UserID = "u2" // ignored: stored for u1
	alice[2].CreatedAt = time.Time{}
	// Bob has a code with an id of Alice's: ids are per user.
	bob := []storage.RecoveryCode{{ID: "a-0", Hash: "bob's hash", CreatedAt: t0}}
	setRecoveryCodes(t, s, "u1", alice)
	setRecoveryCodes(t, s, "u2", bob)
	alice[1].UserID = ""
	wantRecoveryCodes(t, s, "u1", alice, "a-10", "b-0", "")
	wantRecoveryCodes(t, s, "u2", bob, "a-1")
	_, err = s.RecoveryCode(t.Context(), "nobody", "a-0")
	wantErr(t, "RecoveryCode of an unknown user", err, storage.ErrNotFound)
}

// testSetRecoveryCodesReplaces checks that a new set replaces the old one
// entirely: old codes stop working, an id in both sets has the new hash,
// and an empty set leaves none.
func testSetRecoveryCodesReplaces(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	old, other := newRecoveryCodes("old", 5), newRecoveryCodes("other", 2)
	setRecoveryCodes(t, s, "u1", old)
	setRecoveryCodes(t, s, "u2", other)
	check(t, "UseRecoveryCode", s.UseRecoveryCode(t.Context(), "u1", "old-4"))

	next := newRecoveryCodes("new", 3)
	next[2].ID, next[2].Hash = "old-0", "a new hash for an old id"
	setRecoveryCodes(t, s, "u1", next)
	wantRecoveryCodes(t, s, "u1", next, "old-1", "old-2", "old-3", "old-4")
	err := s.UseRecoveryCode(t.Context(), "u1", "old-1")
	wantErr(t, "UseRecoveryCode of a code of the old set", err, storage.ErrNotFound)

	setRecoveryCodes(t, s, "u1", nil)
	wantRecoveryCodes(t, s, "u1", nil, "new-0", "new-1", "old-0")
	wantRecoveryCodes(t, s, "u2", other)
}

// testSetRecoveryCodesDuplicate checks that a set naming an id twice is
// refused with nothing changed: the old set still works.
func testSetRecoveryCodesDuplicate(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	old := newRecoveryCodes("old", 3)
	setRecoveryCodes(t, s, "u1", old)
	dup := newRecoveryCodes("new", 4)
	dup[3].ID = dup[1].ID
	err := s.SetRecoveryCodes(t.Context(), "u1", dup)
	wantErr(t, "SetRecoveryCodes with an id twice", err, storage.ErrDuplicateKey)
	wantRecoveryCodes(t, s, "u1", old, "new-0", "new-1", "new-2")
	// The same hash under two ids is no duplicate.
	same := newRecoveryCodes("new", 2)
	same[1].Hash = same[0].Hash
	setRecoveryCodes(t, s, "u1", same)
	wantRecoveryCodes(t, s, "u1", same, "old-0")
}

func testSetRecoveryCodesUnknownUser(t *testing.T, s Store) {
	for _, codes := range [][]storage.RecoveryCode{newRecoveryCodes("c", 3), nil} {
		err := s.SetRecoveryCodes(t.Context(), "ghost", codes)
		wantErr(t, fmt.Sprintf("SetRecoveryCodes of %d codes for a user that does not exist", len(codes)),
			err, storage.ErrNotFound)
	}
	wantRecoveryCodes(t, s, "ghost", nil, "c-0")
}

func testUseRecoveryCode(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	codes := newRecoveryCodes("c", 3)
	setRecoveryCodes(t, s, "u1", codes)
	setRecoveryCodes(t, s, "u2", codes)

	check(t, "UseRecoveryCode(c-1)", s.UseRecoveryCode(t.Context(), "u1", "c-1"))
	wantRecoveryCodes(t, s, "u1", []storage.RecoveryCode{codes[0], codes[2]}, "c-1")
	err := s.UseRecoveryCode(t.Context(), "u1", "c-1")
	wantErr(t, "UseRecoveryCode(c-1) a second time", err, storage.ErrNotFound)
	for _, tt := range []struct{ user, id string }{{"u1", "c-3"}, {"u1", ""}, {"nobody", "c-0"}} {
		err := s.UseRecoveryCode(t.Context(), tt.user, tt.id)
		wantErr(t, "UseRecoveryCode("+tt.user+", "+tt.id+")", err, storage.ErrNotFound)
	}
	// Bob's code of the same id is his own.
	wantRecoveryCodes(t, s, "u2", codes)
	for _, id := range []string{"c-0", "c-2"} {
		check(t, "UseRecoveryCode("+id+")", s.UseRecoveryCode(t.Context(), "u1", id))
	}
	wantRecoveryCodes(t, s, "u1", nil, "c-0", "c-1", "c-2")
}

func testDeleteRecoveryCodes(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	n, err := s.DeleteRecoveryCodes(t.Context(), "u1")
	check(t, "DeleteRecoveryCodes of a user without any", err)
	if n != 0 {
		t.Errorf("DeleteRecoveryCodes of a user without any: got %d, want 0", n)
	}
	codes := newRecoveryCodes("c", 4)
	setRecoveryCodes(t, s, "u1", codes)
	setRecoveryCodes(t, s, "u2", codes)
	check(t, "UseRecoveryCode", s.UseRecoveryCode(t.Context(), "u1", "c-0"))
	n, err = s.DeleteRecoveryCodes(t.Context(), "u1")
	check(t, "DeleteRecoveryCodes", err)
	if n != 3 {
		t.Errorf("DeleteRecoveryCodes: got %d, want 3 (the unused ones)", n)
	}
	wantRecoveryCodes(t, s, "u1", nil, "c-1", "c-2", "c-3")
	n, err = s.DeleteRecoveryCodes(t.Context(), "u1")
	check(t, "DeleteRecoveryCodes again", err)
	if n != 0 {
		t.Errorf("DeleteRecoveryCodes again: got %d, want 0", n)
	}
	wantRecoveryCodes(t, s, "u2", codes)
}

// testConcurrentUseRecoveryCode checks that of concurrent uses of one code
// exactly one succeeds.
func testConcurrentUseRecoveryCode(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	codes := newRecoveryCodes("c", raceRounds)
	setRecoveryCodes(t, s, "u1", codes)
	for round, c := range codes {
		errs := raceN(mfaRacers, func(int) error {
			return s.UseRecoveryCode(t.Context(), "u1", c.ID)
		})
		oneWinner(t, fmt.Sprintf("concurrent UseRecoveryCode, round %d", round), errs, storage.ErrNotFound)
	}
	wantRecoveryCodes(t, s, "u1", nil)
}

func newPendingSignIn(id string) storage.PendingSignIn {
	return storage.PendingSignIn{
		ID:            id,
		UserID:        "user-" + id,
		BrowserHash:   "b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c",
		AuthRequestID: "request-" + id,
		SessionID:     "session-" + id,
		Remember:      true,
		AMR:           []string{"pwd"},
		AuthTime:      at(-time.Second),
		CreatedAt:     t0,
		// An expiry to an odd microsecond.
		ExpiresAt: at(5*time.Minute + time.Microsecond),
	}
}

func createPendingSignIn(t *testing.T, s Store, p storage.PendingSignIn) {
	t.Helper()
	check(t, "CreatePendingSignIn("+p.ID+")", s.CreatePendingSignIn(t.Context(), &p))
}

func wantPendingSignIn(t *testing.T, s Store, now time.Time, want storage.PendingSignIn) {
	t.Helper()
	got, err := s.PendingSignIn(t.Context(), want.ID, now)
	check(t, "PendingSignIn("+want.ID+")", err)
	wantEqual(t, "PendingSignIn("+want.ID+")", *got, want)
}

func testPendingSignInRoundTrip(t *testing.T, s Store) {
	full := newPendingSignIn("p1")
	full.AuthTime, full.ExpiresAt = inZone(full.AuthTime), inZone(full.ExpiresAt)
	full.AMR = []string{"pwd", "hwk"}
	sparse := storage.PendingSignIn{ID: "p2", UserID: "u", ExpiresAt: at(time.Minute)}
	empty := newPendingSignIn("p3") // an account-page sign-in, no step-up
	empty.AuthRequestID, empty.SessionID, empty.AMR, empty.Remember = "", "", []string{}, false
	all := []storage.PendingSignIn{full, sparse, empty}
	for _, p := range all {
		createPendingSignIn(t, s, p)
	}
	for _, p := range all {
		wantPendingSignIn(t, s, t0, p)
	}
	for _, p := range all {
		got, err := s.TakePendingSignIn(t.Context(), p.ID, t0)
		check(t, "TakePendingSignIn("+p.ID+")", err)
		wantEqual(t, "TakePendingSignIn("+p.ID+")", *got, p)
	}
}

func testPendingSignInUnknown(t *testing.T, s Store) {
	_, err := s.PendingSignIn(t.Context(), "nope", t0)
	wantErr(t, "PendingSignIn on an empty store", err, storage.ErrNotFound)
	_, err = s.TakePendingSignIn(t.Context(), "nope", t0)
	wantErr(t, "TakePendingSignIn on an empty store", err, storage.ErrNotFound)
	createPendingSignIn(t, s, newPendingSignIn("p1"))
	_, err = s.PendingSignIn(t.Context(), "p2", t0)
	wantErr(t, "PendingSignIn(p2)", err, storage.ErrNotFound)
	_, err = s.TakePendingSignIn(t.Context(), "p2", t0)
	wantErr(t, "TakePendingSignIn(p2)", err, storage.ErrNotFound)
	wantPendingSignIn(t, s, t0, newPendingSignIn("p1"))
}

func testPendingSignInConflict(t *testing.T, s Store) {
	orig := newPendingSignIn("p1")
	createPendingSignIn(t, s, orig)
	dup := newPendingSignIn("p1")
	dup.UserID, dup.BrowserHash = "mallory", "another browser"
	wantErr(t, "CreatePendingSignIn with a taken id", s.CreatePendingSignIn(t.Context(), &dup), storage.ErrConflict)
	wantPendingSignIn(t, s, t0, orig)
}

// testPendingSignInExpiry checks that a pending sign-in is live while now
// is before its ExpiresAt, for reads and takes alike, and that a take
// refused as expired leaves it as it was.
func testPendingSignInExpiry(t *testing.T, s Store) {
	p := newPendingSignIn("p1")
	createPendingSignIn(t, s, p)
	for _, tt := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"long before", at(-24 * time.Hour), nil},
		{"just before", p.ExpiresAt.Add(-time.Microsecond), nil},
		{"at expiry", p.ExpiresAt, storage.ErrNotFound},
		{"at expiry in another zone", inZone(p.ExpiresAt), storage.ErrNotFound},
		{"after", p.ExpiresAt.Add(time.Microsecond), storage.ErrNotFound},
		{"long after", p.ExpiresAt.Add(365 * 24 * time.Hour), storage.ErrNotFound},
	} {
		got, err := s.PendingSignIn(t.Context(), p.ID, tt.now)
		wantErr(t, "PendingSignIn "+tt.name, err, tt.want)
		if err == nil {
			wantEqual(t, "PendingSignIn "+tt.name, *got, p)
		}
	}
	for _, now := range []time.Time{p.ExpiresAt, p.ExpiresAt.Add(time.Hour)} {
		_, err := s.TakePendingSignIn(t.Context(), p.ID, now)
		wantErr(t, "TakePendingSignIn at or after expiry", err, storage.ErrNotFound)
	}
	got, err := s.TakePendingSignIn(t.Context(), p.ID, p.ExpiresAt.Add(-time.Microsecond))
	check(t, "TakePendingSignIn just before expiry, after refused takes", err)
	wantEqual(t, "TakePendingSignIn just before expiry", *got, p)
}

func testTakePendingSignIn(t *testing.T, s Store) {
	p, keep := newPendingSignIn("p1"), newPendingSignIn("keep")
	createPendingSignIn(t, s, p)
	createPendingSignIn(t, s, keep)
	got, err := s.TakePendingSignIn(t.Context(), "p1", t0)
	check(t, "TakePendingSignIn(p1)", err)
	wantEqual(t, "TakePendingSignIn(p1)", *got, p)
	_, err = s.PendingSignIn(t.Context(), "p1", t0)
	wantErr(t, "PendingSignIn(p1) after the take", err, storage.ErrNotFound)
	_, err = s.TakePendingSignIn(t.Context(), "p1", t0)
	wantErr(t, "TakePendingSignIn(p1) again", err, storage.ErrNotFound)
	wantPendingSignIn(t, s, t0, keep)
	// The id is free again.
	createPendingSignIn(t, s, newPendingSignIn("p1"))
}

// testConcurrentTakePendingSignIn checks that of concurrent takes of one
// pending sign-in exactly one gets it: one password and second factor, one
// session.
func testConcurrentTakePendingSignIn(t *testing.T, s Store) {
	for round := range raceRounds {
		p := newPendingSignIn(fmt.Sprintf("p%d", round))
		createPendingSignIn(t, s, p)
		got := make([]*storage.PendingSignIn, mfaRacers)
		errs := raceN(mfaRacers, func(i int) error {
			var err error
			got[i], err = s.TakePendingSignIn(t.Context(), p.ID, t0)
			return err
		})
		what := fmt.Sprintf("concurrent TakePendingSignIn, round %d", round)
		won := oneWinner(t, what, errs, storage.ErrNotFound)
		wantEqual(t, what, *got[won], p)
	}
}

// testAuthenticateSession checks that AuthenticateSession changes only
// AuthTime and AMR of a live session, and that a later UpdateSession,
// which ignores those fields, keeps them.
func testAuthenticateSession(t *testing.T, s Store) {
	sess, other := newSession("s1"), newSession("other")
	sess.AMR = []string{"pwd"}
	createSession(t, s, sess)
	createSession(t, s, other)

	now := at(10 * time.Minute)
	check(t, "AuthenticateSession", s.AuthenticateSession(t.Context(), "s1", inZone(now), []string{"pwd", "otp"}, now))
	want := sess
	want.AuthTime, want.AMR = now, []string{"pwd", "otp"}
	wantSession(t, s, now, want)
	wantSession(t, s, sess.ExpiresAt.Add(-time.Microsecond), want)
	_, err := s.Session(t.Context(), "s1", sess.ExpiresAt)
	wantErr(t, "Session at its unchanged ExpiresAt", err, storage.ErrNotFound)
	list, err := s.UserSessions(t.Context(), sess.UserID, now)
	check(t, "UserSessions after AuthenticateSession", err)
	if len(list) != 1 {
		t.Fatalf("UserSessions(%s): got %d sessions, want 1", sess.UserID, len(list))
	}
	wantEqual(t, "UserSessions[0]", list[0], want)
	count, err := s.ActiveSessions(t.Context(), now)
	check(t, "ActiveSessions", err)
	if count != 2 {
		t.Errorf("ActiveSessions after AuthenticateSession: got %d, want 2", count)
	}

	u := want
	u.LastSeen, u.ExpiresAt = at(20*time.Minute), at(2*time.Hour)
	u.AuthTime, u.AMR = t0, []string{"hwk"} // ignored by UpdateSession
	check(t, "UpdateSession after AuthenticateSession", s.UpdateSession(t.Context(), &u, at(20*time.Minute)))
	want.LastSeen, want.ExpiresAt = u.LastSeen, u.ExpiresAt
	wantSession(t, s, at(20*time.Minute), want)

	// Authenticated again, with AMR emptied.
	check(t, "AuthenticateSession with no AMR", s.AuthenticateSession(t.Context(), "s1", at(30*time.Minute), nil, at(30*time.Minute)))
	want.AuthTime, want.AMR = at(30*time.Minute), nil
	wantSession(t, s, at(30*time.Minute), want)
	wantSession(t, s, t0, other)
}

// testAuthenticateSessionRefused checks that AuthenticateSession never
// touches a session that is absent, deleted or expired at now.
func testAuthenticateSessionRefused(t *testing.T, s Store) {
	amr := []string{"pwd", "otp"}
	err := s.AuthenticateSession(t.Context(), "ghost", t0, amr, t0)
	wantErr(t, "AuthenticateSession of an absent session", err, storage.ErrNotFound)
	_, err = s.Session(t.Context(), "ghost", t0)
	wantErr(t, "Session after AuthenticateSession of an absent session", err, storage.ErrNotFound)

	gone := newSession("gone")
	createSession(t, s, gone)
	if _, err := s.DeleteSession(t.Context(), "gone"); err != nil {
		t.Fatalf("DeleteSession(gone): %v", err)
	}
	err = s.AuthenticateSession(t.Context(), "gone", t0, amr, t0)
	wantErr(t, "AuthenticateSession of a deleted session", err, storage.ErrNotFound)
	_, err = s.Session(t.Context(), "gone", t0)
	wantErr(t, "Session after AuthenticateSession of a deleted session", err, storage.ErrNotFound)

	expired := newSession("expired")
	createSession(t, s, expired)
	for _, now := range []time.Time{expired.ExpiresAt, inZone(expired.ExpiresAt), expired.ExpiresAt.Add(time.Second)} {
		err = s.AuthenticateSession(t.Context(), "expired", now, amr, now)
		wantErr(t, "AuthenticateSession of a session expired at now", err, storage.ErrNotFound)
	}
	wantSession(t, s, t0, expired) // nothing changed
}
