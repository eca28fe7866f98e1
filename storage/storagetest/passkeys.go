package storagetest

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// passkeyTests check storage.Passkeys. That a user's passkeys go with the
// user is checked by userDeleteTests.
var passkeyTests = []test{
	{"RoundTrip", testPasskeyRoundTrip},
	{"CreateConflict", testCreatePasskeyConflict},
	{"CreateUnknownUser", testCreatePasskeyUnknownUser},
	{"UserPasskeysOrder", testUserPasskeysOrder},
	{"Use", testUsePasskey},
	{"ConcurrentUse", testConcurrentUsePasskey},
	{"Rename", testRenamePasskey},
	{"Delete", testDeletePasskey},
	{"DeleteUserPasskeys", testDeleteUserPasskeys},
}

var webAuthnCeremonyTests = []test{
	{"RoundTrip", testWebAuthnCeremonyRoundTrip},
	{"Unknown", testWebAuthnCeremonyUnknown},
	{"CreateConflict", testWebAuthnCeremonyConflict},
	{"Expiry", testWebAuthnCeremonyExpiry},
	{"Take", testTakeWebAuthnCeremony},
	{"ConcurrentTake", testConcurrentTakeWebAuthnCeremony},
}

// maxCredentialID is the length of the longest credential id WebAuthn
// allows (Level 3, §5.1: at most 1023 bytes).
const maxCredentialID = 1023

// credentialID returns an id of n bytes that starts with tag and then runs
// through the byte values in turn, 0x00 and 0xff among them once n passes
// 256: credential ids are arbitrary bytes, no text.
func credentialID(tag byte, n int) []byte {
	id := make([]byte, n)
	for i := range id {
		id[i] = byte(i)
	}
	if n > 0 {
		id[0] = tag
	}
	return id
}

// idName names a credential id in a failure message: its length and
// first bytes in hex.
func idName(id []byte) string {
	if len(id) > 8 {
		return fmt.Sprintf("%x… (%d bytes)", id[:8], len(id))
	}
	return fmt.Sprintf("%x (%d bytes)", id, len(id))
}

func newPasskey(id []byte, userID string) storage.Passkey {
	return storage.Passkey{
		ID:     id,
		UserID: userID,
		Name:   "Laptop of " + userID,
		// Opaque to the store: not even text.
		Credential: []byte(`{"publicKey":"pQECAyYgASFYIA","flags":{"backupEligible":true}}` + "\x00\xff"),
		SignCount:  41,
		CreatedAt:  t0,
		LastUsedAt: at(-time.Hour),
	}
}

func createPasskey(t *testing.T, s Store, p storage.Passkey) {
	t.Helper()
	check(t, "CreatePasskey("+idName(p.ID)+")", s.CreatePasskey(t.Context(), &p))
}

func wantPasskey(t *testing.T, s Store, want storage.Passkey) {
	t.Helper()
	got, err := s.Passkey(t.Context(), want.ID)
	check(t, "Passkey("+idName(want.ID)+")", err)
	wantEqual(t, "Passkey("+idName(want.ID)+")", *got, want)
}

func wantNoPasskey(t *testing.T, s Store, id []byte) {
	t.Helper()
	_, err := s.Passkey(t.Context(), id)
	wantErr(t, "Passkey("+idName(id)+")", err, storage.ErrNotFound)
}

// wantPasskeys checks the user's list, in order.
func wantPasskeys(t *testing.T, s Store, userID string, want ...storage.Passkey) {
	t.Helper()
	got, err := s.UserPasskeys(t.Context(), userID)
	check(t, "UserPasskeys("+userID+")", err)
	names := func(list []storage.Passkey) []string {
		out := make([]string, len(list))
		for i, p := range list {
			out[i] = idName(p.ID)
		}
		return out
	}
	if len(got) != len(want) {
		t.Fatalf("UserPasskeys(%s): got %d passkeys %q, want %d %q", userID, len(got), names(got), len(want), names(want))
	}
	for i := range want {
		wantEqual(t, fmt.Sprintf("UserPasskeys(%s)[%d]", userID, i), got[i], want[i])
	}
}

func testPasskeyRoundTrip(t *testing.T, s Store) {
	wantNoPasskey(t, s, credentialID(1, 16))
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))

	longest := newPasskey(credentialID(1, maxCredentialID), "u1")
	longest.CreatedAt, longest.LastUsedAt = inZone(longest.CreatedAt), inZone(longest.LastUsedAt)
	longest.SignCount = math.MaxUint32
	never := newPasskey([]byte{0x00}, "u1") // a security key with no counter, never used
	never.SignCount, never.LastUsedAt = 0, time.Time{}
	named := newPasskey([]byte{0xff}, "u2")
	named.Name = `YubiKey "5C" ünïcødé 🔑`
	sparse := storage.Passkey{ID: credentialID(2, 64), UserID: "u2"}
	all := []storage.Passkey{longest, never, named, sparse}
	for _, p := range all {
		createPasskey(t, s, p)
	}
	for _, p := range all {
		wantPasskey(t, s, p)
	}
	// Ids are compared as bytes: a prefix, or an id made longer by a 0x00,
	// is another id.
	for _, id := range [][]byte{
		longest.ID[:maxCredentialID-1], append(slices.Clone(never.ID), 0x00), {0xff, 0x00}, {}, credentialID(2, 63),
	} {
		wantNoPasskey(t, s, id)
	}
}

// testCreatePasskeyConflict checks that a credential id is unique across
// users: a second one is refused, with nothing changed.
func testCreatePasskeyConflict(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	orig := newPasskey(credentialID(1, 32), "u1")
	createPasskey(t, s, orig)
	dup := orig
	dup.Name, dup.Credential, dup.SignCount, dup.LastUsedAt = "Mallory's", []byte("another key"), 7, time.Time{}
	wantErr(t, "CreatePasskey with a taken id", s.CreatePasskey(t.Context(), &dup), storage.ErrConflict)
	dup.UserID = "u2"
	wantErr(t, "CreatePasskey with an id taken by another user", s.CreatePasskey(t.Context(), &dup), storage.ErrConflict)
	wantPasskey(t, s, orig)
	wantPasskeys(t, s, "u1", orig)
	wantPasskeys(t, s, "u2")

	// An id that differs in its last byte only is another credential.
	near := newPasskey(slices.Clone(orig.ID), "u2")
	near.ID[len(near.ID)-1] ^= 0x01
	createPasskey(t, s, near)
	wantPasskey(t, s, near)
	wantPasskey(t, s, orig)
}

func testCreatePasskeyUnknownUser(t *testing.T, s Store) {
	p := newPasskey(credentialID(1, 32), "ghost")
	wantErr(t, "CreatePasskey for a user that does not exist", s.CreatePasskey(t.Context(), &p), storage.ErrNotFound)
	wantNoPasskey(t, s, p.ID)
	wantPasskeys(t, s, "ghost")
	// The refused create kept nothing: the id is free.
	createUser(t, s, newUser("ghost", "casper"))
	createPasskey(t, s, p)
	wantPasskey(t, s, p)
}

// testUserPasskeysOrder checks that UserPasskeys lists the user's
// passkeys only, oldest first, then by id bytewise (a prefix before the
// ids it starts), a zero CreatedAt counting as the oldest.
func testUserPasskeysOrder(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	createUser(t, s, newUser("u3", "carol"))
	pk := func(id []byte, userID string, created time.Time) storage.Passkey {
		p := newPasskey(id, userID)
		p.CreatedAt = created
		return p
	}
	alice := []storage.Passkey{
		pk([]byte{0x05}, "u1", time.Time{}),
		pk([]byte{0xff, 0xff}, "u1", at(-time.Hour)),
		pk([]byte{0x00, 0x01}, "u1", t0),
		pk([]byte{0x01}, "u1", t0),
		pk([]byte{0x01, 0x00}, "u1", inZone(t0)),
		pk([]byte{0x01, 0x00, 0x00}, "u1", t0),
		pk([]byte{0x80}, "u1", t0),
		pk([]byte{0x00}, "u1", at(time.Microsecond)),
		pk(credentialID(0x00, maxCredentialID), "u1", at(time.Hour)),
	}
	bob := []storage.Passkey{
		pk([]byte{0x01, 0x01}, "u2", t0),
		pk([]byte{0x02}, "u2", at(time.Minute)),
	}
	// Created newest first, Bob's in between.
	for i, p := range slices.Backward(alice) {
		createPasskey(t, s, p)
		if i < len(bob) {
			createPasskey(t, s, bob[len(bob)-1-i])
		}
	}
	wantPasskeys(t, s, "u1", alice...)
	wantPasskeys(t, s, "u2", bob...)
	wantPasskeys(t, s, "u3")
	wantPasskeys(t, s, "nobody")
}

func testUsePasskey(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	p, other := newPasskey(credentialID(1, 64), "u1"), newPasskey(credentialID(2, 64), "u2")
	createPasskey(t, s, p)
	createPasskey(t, s, other)
	flagged := []byte(`{"publicKey":"pQECAyYgASFYIA","flags":{"backupEligible":true,"backupState":true}}`)
	for _, tt := range []struct {
		name string
		prev uint32
	}{
		{"a later count", p.SignCount + 1},
		{"an earlier count", p.SignCount - 1},
		{"zero", 0},
		{"the largest count", math.MaxUint32},
	} {
		err := s.UsePasskey(t.Context(), p.ID, tt.prev, p.SignCount+5, flagged, t0)
		wantErr(t, "UsePasskey with prev "+tt.name, err, storage.ErrConflict)
	}
	wantPasskey(t, s, p) // nothing changed

	now := inZone(at(time.Minute))
	check(t, "UsePasskey", s.UsePasskey(t.Context(), p.ID, p.SignCount, p.SignCount+1, flagged, now))
	p.SignCount, p.Credential, p.LastUsedAt = p.SignCount+1, flagged, now
	wantPasskey(t, s, p)
	err := s.UsePasskey(t.Context(), p.ID, p.SignCount-1, p.SignCount, []byte("replayed"), at(2*time.Minute))
	wantErr(t, "UsePasskey with the prev of the use recorded already", err, storage.ErrConflict)
	wantPasskey(t, s, p)
	// The store records the count it is given, up to the largest, and a
	// lower one too: telling a cloned authenticator is the caller's part.
	for i, count := range []uint32{math.MaxUint32, 7} {
		now := at(time.Duration(3+i) * time.Minute)
		check(t, fmt.Sprintf("UsePasskey from %d to %d", p.SignCount, count),
			s.UsePasskey(t.Context(), p.ID, p.SignCount, count, flagged, now))
		p.SignCount, p.LastUsedAt = count, now
		wantPasskey(t, s, p)
	}

	// An authenticator that keeps no counter reports 0 every time: each
	// use is recorded.
	zero := newPasskey(credentialID(3, 16), "u1")
	zero.SignCount, zero.LastUsedAt = 0, time.Time{}
	createPasskey(t, s, zero)
	for _, now := range []time.Time{at(time.Minute), at(2 * time.Minute)} {
		check(t, "UsePasskey of a credential without a counter", s.UsePasskey(t.Context(), zero.ID, 0, 0, zero.Credential, now))
		zero.LastUsedAt = now
		wantPasskey(t, s, zero)
	}
	wantPasskey(t, s, other)

	for _, prev := range []uint32{0, 41} {
		err := s.UsePasskey(t.Context(), credentialID(9, 64), prev, prev+1, flagged, t0)
		wantErr(t, fmt.Sprintf("UsePasskey of an unknown credential with prev %d", prev), err, storage.ErrNotFound)
	}
	wantNoPasskey(t, s, credentialID(9, 64))
}

// testConcurrentUsePasskey checks that of concurrent uses recorded from
// one SignCount exactly one succeeds, and that its credential is the one
// stored: one assertion per counter value, across instances.
func testConcurrentUsePasskey(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	p := newPasskey(credentialID(1, maxCredentialID), "u1")
	p.SignCount = 0
	createPasskey(t, s, p)
	for round := range raceRounds {
		prev, now := p.SignCount, at(time.Duration(round)*time.Minute)
		credential := func(i int) []byte { return fmt.Appendf(nil, "credential of racer %d in round %d", i, round) }
		errs := raceN(mfaRacers, func(i int) error {
			return s.UsePasskey(t.Context(), p.ID, prev, prev+1, credential(i), now)
		})
		won := oneWinner(t, fmt.Sprintf("concurrent UsePasskey, round %d", round), errs, storage.ErrConflict)
		p.SignCount, p.Credential, p.LastUsedAt = prev+1, credential(won), now
		wantPasskey(t, s, p)
	}
}

func testRenamePasskey(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	p, other := newPasskey(credentialID(1, 64), "u1"), newPasskey(credentialID(2, 64), "u2")
	createPasskey(t, s, p)
	createPasskey(t, s, other)

	check(t, "RenamePasskey", s.RenamePasskey(t.Context(), "u1", p.ID, "Work laptop 💻"))
	p.Name = "Work laptop 💻"
	wantPasskey(t, s, p)
	// The name it has already: still the user's credential.
	check(t, "RenamePasskey to the same name", s.RenamePasskey(t.Context(), "u1", p.ID, p.Name))
	wantPasskey(t, s, p)
	for _, tt := range []struct {
		name, user string
		id         []byte
	}{
		{"another user's credential", "u1", other.ID},
		{"a credential by another user", "u2", p.ID},
		{"a credential by a user that does not exist", "ghost", p.ID},
		{"an unknown credential", "u1", credentialID(9, 64)},
	} {
		err := s.RenamePasskey(t.Context(), tt.user, tt.id, "Mallory's")
		wantErr(t, "RenamePasskey of "+tt.name, err, storage.ErrNotFound)
	}
	wantPasskey(t, s, p)
	wantPasskey(t, s, other)
}

func testDeletePasskey(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	a, b := newPasskey(credentialID(1, 64), "u1"), newPasskey(credentialID(2, 64), "u1")
	b.CreatedAt = at(time.Minute)
	other := newPasskey(credentialID(3, 64), "u2")
	for _, p := range []storage.Passkey{a, b, other} {
		createPasskey(t, s, p)
	}
	deleteKey := func(what, userID string, id []byte, want bool) {
		t.Helper()
		deleted, err := s.DeletePasskey(t.Context(), userID, id)
		check(t, "DeletePasskey of "+what, err)
		if deleted != want {
			t.Errorf("DeletePasskey of %s: got %v, want %v", what, deleted, want)
		}
	}
	deleteKey("a credential by another user", "u2", a.ID, false)
	deleteKey("another user's credential", "u1", other.ID, false)
	deleteKey("an unknown credential", "u1", credentialID(9, 64), false)
	wantPasskeys(t, s, "u1", a, b)

	deleteKey("the user's credential", "u1", a.ID, true)
	wantNoPasskey(t, s, a.ID)
	wantPasskeys(t, s, "u1", b)
	deleteKey("the user's credential again", "u1", a.ID, false)
	err := s.UsePasskey(t.Context(), a.ID, a.SignCount, a.SignCount+1, a.Credential, t0)
	wantErr(t, "UsePasskey of a deleted credential", err, storage.ErrNotFound)
	err = s.RenamePasskey(t.Context(), "u1", a.ID, "back")
	wantErr(t, "RenamePasskey of a deleted credential", err, storage.ErrNotFound)
	wantPasskey(t, s, other)

	// Its id is free again, for any user.
	again := newPasskey(a.ID, "u2")
	createPasskey(t, s, again)
	wantPasskeys(t, s, "u2", again, other)
}

func testDeleteUserPasskeys(t *testing.T, s Store) {
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	deleteAll := func(what, userID string, want int) {
		t.Helper()
		n, err := s.DeleteUserPasskeys(t.Context(), userID)
		check(t, "DeleteUserPasskeys of "+what, err)
		if n != want {
			t.Errorf("DeleteUserPasskeys of %s: got %d, want %d", what, n, want)
		}
	}
	deleteAll("a user without any", "u1", 0)
	var alice []storage.Passkey
	for i := range 3 {
		p := newPasskey(credentialID(byte(i), 32+i), "u1")
		alice = append(alice, p)
		createPasskey(t, s, p)
	}
	bob := newPasskey(credentialID(9, 32), "u2")
	createPasskey(t, s, bob)

	deleteAll("a user with three", "u1", 3)
	wantPasskeys(t, s, "u1")
	for _, p := range alice {
		wantNoPasskey(t, s, p.ID)
	}
	deleteAll("the same user again", "u1", 0)
	deleteAll("a user that does not exist", "nobody", 0)
	wantPasskeys(t, s, "u2", bob)
}

func newWebAuthnCeremony(id string) storage.WebAuthnCeremony {
	return storage.WebAuthnCeremony{
		ID:      id,
		Kind:    "factor",
		UserID:  "user-" + id,
		Binding: "pending-" + id,
		Data: []byte(`{"challenge":"mQ9c2IxZr8Pj7w","allowed_credentials":["AP8"],"userVerification":"discouraged"}` +
			"\x00\xff"),
		CreatedAt: t0,
		// An expiry to an odd microsecond.
		ExpiresAt: at(5*time.Minute + time.Microsecond),
	}
}

func createWebAuthnCeremony(t *testing.T, s Store, c storage.WebAuthnCeremony) {
	t.Helper()
	check(t, "CreateWebAuthnCeremony("+c.ID+")", s.CreateWebAuthnCeremony(t.Context(), &c))
}

// takeWebAuthnCeremony takes the ceremony want.ID at now and checks it is
// want.
func takeWebAuthnCeremony(t *testing.T, s Store, now time.Time, want storage.WebAuthnCeremony) {
	t.Helper()
	got, err := s.TakeWebAuthnCeremony(t.Context(), want.ID, now)
	check(t, "TakeWebAuthnCeremony("+want.ID+")", err)
	wantEqual(t, "TakeWebAuthnCeremony("+want.ID+")", *got, want)
}

func testWebAuthnCeremonyRoundTrip(t *testing.T, s Store) {
	full := newWebAuthnCeremony("c1")
	full.Kind = "register"
	full.CreatedAt, full.ExpiresAt = inZone(full.CreatedAt), inZone(full.ExpiresAt)
	passwordless := newWebAuthnCeremony("c2") // the credential will name the user
	passwordless.Kind, passwordless.UserID, passwordless.Binding = "login", "", "browser-binding"
	large := newWebAuthnCeremony("c3") // every byte value, some times over
	large.Data = bytes.Repeat(credentialID(0, 256), 16)
	sparse := storage.WebAuthnCeremony{ID: "c4", ExpiresAt: at(time.Minute)}
	all := []storage.WebAuthnCeremony{full, passwordless, large, sparse}
	for _, c := range all {
		createWebAuthnCeremony(t, s, c)
	}
	for _, c := range all {
		takeWebAuthnCeremony(t, s, t0, c)
	}
}

func testWebAuthnCeremonyUnknown(t *testing.T, s Store) {
	_, err := s.TakeWebAuthnCeremony(t.Context(), "nope", t0)
	wantErr(t, "TakeWebAuthnCeremony on an empty store", err, storage.ErrNotFound)
	c := newWebAuthnCeremony("c1")
	createWebAuthnCeremony(t, s, c)
	for _, id := range []string{"c2", "C1", "c1 ", ""} {
		_, err = s.TakeWebAuthnCeremony(t.Context(), id, t0)
		wantErr(t, fmt.Sprintf("TakeWebAuthnCeremony(%q)", id), err, storage.ErrNotFound)
	}
	takeWebAuthnCeremony(t, s, t0, c)
}

func testWebAuthnCeremonyConflict(t *testing.T, s Store) {
	orig := newWebAuthnCeremony("c1")
	createWebAuthnCeremony(t, s, orig)
	dup := newWebAuthnCeremony("c1")
	dup.UserID, dup.Data, dup.ExpiresAt = "mallory", []byte("another challenge"), at(time.Hour)
	wantErr(t, "CreateWebAuthnCeremony with a taken id", s.CreateWebAuthnCeremony(t.Context(), &dup), storage.ErrConflict)
	takeWebAuthnCeremony(t, s, t0, orig)
}

// testWebAuthnCeremonyExpiry checks that a ceremony is live while now is
// before its ExpiresAt, and that a take refused as expired leaves it as
// it was.
func testWebAuthnCeremonyExpiry(t *testing.T, s Store) {
	early := newWebAuthnCeremony("early")
	createWebAuthnCeremony(t, s, early)
	takeWebAuthnCeremony(t, s, at(-24*time.Hour), early)

	c := newWebAuthnCeremony("c1")
	createWebAuthnCeremony(t, s, c)
	for _, tt := range []struct {
		name string
		now  time.Time
	}{
		{"at expiry", c.ExpiresAt},
		{"at expiry in another zone", inZone(c.ExpiresAt)},
		{"after", c.ExpiresAt.Add(time.Microsecond)},
		{"long after", c.ExpiresAt.Add(365 * 24 * time.Hour)},
	} {
		_, err := s.TakeWebAuthnCeremony(t.Context(), c.ID, tt.now)
		wantErr(t, "TakeWebAuthnCeremony "+tt.name, err, storage.ErrNotFound)
	}
	takeWebAuthnCeremony(t, s, c.ExpiresAt.Add(-time.Microsecond), c)
}

func testTakeWebAuthnCeremony(t *testing.T, s Store) {
	c, keep := newWebAuthnCeremony("c1"), newWebAuthnCeremony("keep")
	createWebAuthnCeremony(t, s, c)
	createWebAuthnCeremony(t, s, keep)
	takeWebAuthnCeremony(t, s, t0, c)
	_, err := s.TakeWebAuthnCeremony(t.Context(), "c1", t0)
	wantErr(t, "TakeWebAuthnCeremony(c1) again", err, storage.ErrNotFound)
	takeWebAuthnCeremony(t, s, t0, keep)
	// The id is free again.
	createWebAuthnCeremony(t, s, newWebAuthnCeremony("c1"))
}

// testConcurrentTakeWebAuthnCeremony checks that of concurrent takes of
// one ceremony exactly one gets it: one challenge, one answer.
func testConcurrentTakeWebAuthnCeremony(t *testing.T, s Store) {
	for round := range raceRounds {
		c := newWebAuthnCeremony(fmt.Sprintf("c%d", round))
		createWebAuthnCeremony(t, s, c)
		got := make([]*storage.WebAuthnCeremony, mfaRacers)
		errs := raceN(mfaRacers, func(i int) error {
			var err error
			got[i], err = s.TakeWebAuthnCeremony(t.Context(), c.ID, t0)
			return err
		})
		what := fmt.Sprintf("concurrent TakeWebAuthnCeremony, round %d", round)
		won := oneWinner(t, what, errs, storage.ErrNotFound)
		wantEqual(t, what, *got[won], c)
	}
}
