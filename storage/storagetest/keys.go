package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var signingKeyTests = []test{
	{"RoundTrip", testSigningKeyRoundTrip},
	{"CreateConflict", testSigningKeyConflict},
	{"ListedUntilDeleteAt", testSigningKeysByDeleteAt},
}

var secretTests = []test{
	{"Unknown", testSecretUnknown},
	{"CreateAndGet", testCreateSecret},
	{"CreateKeepsFirst", testCreateSecretKeepsFirst},
	{"ConcurrentCreate", testConcurrentCreateSecret},
}

func newSigningKey(id string, created time.Time) storage.SigningKey {
	return storage.SigningKey{
		ID:            id,
		Algorithm:     "ES256",
		PublicJWK:     []byte(`{"kty":"EC","crv":"P-256","kid":"` + id + `","alg":"ES256","use":"sig","x":"x","y":"y"}`),
		PrivateSealed: []byte{0x00, 0x01, 0xfe, 0xff, 0x00, 'k', 'e', 'y'},
		KEKID:         "kek-1",
		CreatedAt:     created,
		PublishAt:     created,
		ActivateAt:    created.Add(time.Hour),
	}
}

func listKeys(t *testing.T, s Store, now time.Time) []storage.SigningKey {
	t.Helper()
	keys, err := s.SigningKeys(t.Context(), now)
	check(t, "SigningKeys", err)
	return keys
}

func wantKeys(t *testing.T, what string, got, want []storage.SigningKey) {
	t.Helper()
	ids := func(keys []storage.SigningKey) []string {
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = k.ID
		}
		return out
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got keys %q, want %q", what, ids(got), ids(want))
	}
	for i := range want {
		wantEqual(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
	}
}

func testSigningKeyRoundTrip(t *testing.T, s Store) {
	if got := listKeys(t, s, t0); len(got) != 0 {
		t.Fatalf("SigningKeys on empty store: got %d keys, want 0", len(got))
	}
	// A key with no retirement scheduled, one with its whole life
	// scheduled, and one with the bare minimum.
	unscheduled := newSigningKey("k1", at(-3*time.Hour))
	scheduled := newSigningKey("k2", inZone(at(-2*time.Hour)))
	scheduled.Algorithm = "RS256"
	scheduled.RetireAt, scheduled.DeleteAt = inZone(at(24*time.Hour)), at(48*time.Hour)
	bare := storage.SigningKey{ID: "k3", CreatedAt: at(-time.Hour)}
	want := []storage.SigningKey{unscheduled, scheduled, bare}
	for _, k := range want {
		check(t, "CreateSigningKey("+k.ID+")", s.CreateSigningKey(t.Context(), &k))
	}
	wantKeys(t, "SigningKeys", listKeys(t, s, t0), want)
}

func testSigningKeyConflict(t *testing.T, s Store) {
	orig := newSigningKey("k1", t0)
	check(t, "CreateSigningKey", s.CreateSigningKey(t.Context(), &orig))
	dup := newSigningKey("k1", at(time.Hour))
	dup.Algorithm = "EdDSA"
	wantErr(t, "CreateSigningKey with a taken id", s.CreateSigningKey(t.Context(), &dup), storage.ErrConflict)
	wantKeys(t, "SigningKeys", listKeys(t, s, t0), []storage.SigningKey{orig})
}

func testSigningKeysByDeleteAt(t *testing.T, s Store) {
	// Created out of order, so that the store has to sort by CreatedAt.
	deleted := newSigningKey("deleted", at(-72*time.Hour))
	deleted.RetireAt, deleted.DeleteAt = at(-48*time.Hour), at(-time.Hour)
	retiring := newSigningKey("retiring", at(-48*time.Hour))
	retiring.RetireAt, retiring.DeleteAt = at(-time.Hour), at(time.Hour)
	active := newSigningKey("active", at(-24*time.Hour))
	pending := newSigningKey("pending", at(-time.Minute))
	pending.PublishAt, pending.ActivateAt = at(time.Hour), at(2*time.Hour)
	for _, k := range []storage.SigningKey{pending, retiring, deleted, active} {
		check(t, "CreateSigningKey("+k.ID+")", s.CreateSigningKey(t.Context(), &k))
	}

	tests := []struct {
		name string
		now  time.Time
		want []storage.SigningKey
	}{
		{"before any deletion", at(-73 * time.Hour), []storage.SigningKey{deleted, retiring, active, pending}},
		{"just before first deletion", deleted.DeleteAt.Add(-time.Microsecond), []storage.SigningKey{deleted, retiring, active, pending}},
		{"at first deletion", deleted.DeleteAt, []storage.SigningKey{retiring, active, pending}},
		{"now", t0, []storage.SigningKey{retiring, active, pending}},
		{"at second deletion", inZone(retiring.DeleteAt), []storage.SigningKey{active, pending}},
		{"far future", at(10 * 365 * 24 * time.Hour), []storage.SigningKey{active, pending}},
	}
	for _, tt := range tests {
		wantKeys(t, "SigningKeys "+tt.name, listKeys(t, s, tt.now), tt.want)
	}
}

func newSecret(name string, value byte) storage.Secret {
	return storage.Secret{
		Name:      name,
		Sealed:    []byte{value, 0x00, 0xff, value},
		KEKID:     fmt.Sprintf("kek-%d", value),
		CreatedAt: at(time.Duration(value) * time.Second),
	}
}

func testSecretUnknown(t *testing.T, s Store) {
	_, err := s.Secret(t.Context(), "nope")
	wantErr(t, "Secret on empty store", err, storage.ErrNotFound)
	first := newSecret("a", 1)
	_, err = s.CreateSecret(t.Context(), &first)
	check(t, "CreateSecret", err)
	_, err = s.Secret(t.Context(), "b")
	wantErr(t, "Secret(b)", err, storage.ErrNotFound)
}

func testCreateSecret(t *testing.T, s Store) {
	a, b := newSecret("a", 1), newSecret("b", 2)
	a.CreatedAt = inZone(a.CreatedAt)
	for _, want := range []storage.Secret{a, b} {
		got, err := s.CreateSecret(t.Context(), &want)
		check(t, "CreateSecret("+want.Name+")", err)
		wantEqual(t, "CreateSecret("+want.Name+")", *got, want)
	}
	for _, want := range []storage.Secret{a, b} {
		got, err := s.Secret(t.Context(), want.Name)
		check(t, "Secret("+want.Name+")", err)
		wantEqual(t, "Secret("+want.Name+")", *got, want)
	}
}

func testCreateSecretKeepsFirst(t *testing.T, s Store) {
	first, second := newSecret("op-crypto", 1), newSecret("op-crypto", 2)
	got, err := s.CreateSecret(t.Context(), &first)
	check(t, "first CreateSecret", err)
	wantEqual(t, "first CreateSecret", *got, first)
	got, err = s.CreateSecret(t.Context(), &second)
	check(t, "second CreateSecret", err)
	wantEqual(t, "second CreateSecret", *got, first)
	got, err = s.Secret(t.Context(), "op-crypto")
	check(t, "Secret", err)
	wantEqual(t, "Secret", *got, first)
}

func testConcurrentCreateSecret(t *testing.T, s Store) {
	for round := range raceRounds {
		name := fmt.Sprintf("secret-%d", round)
		got := make([]*storage.Secret, racers)
		errs := race(func(i int) error {
			sec := newSecret(name, byte(i+1))
			var err error
			got[i], err = s.CreateSecret(t.Context(), &sec)
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("CreateSecret(%s) in goroutine %d: %v", name, i, err)
			}
		}
		stored, err := s.Secret(t.Context(), name)
		check(t, "Secret("+name+")", err)
		// The stored secret is one of those given, and every caller got it.
		if len(stored.Sealed) == 0 || stored.Sealed[0] < 1 || int(stored.Sealed[0]) > racers {
			t.Fatalf("Secret(%s): got Sealed %x, want one of the values given", name, stored.Sealed)
		}
		wantEqual(t, "Secret("+name+")", *stored, newSecret(name, stored.Sealed[0]))
		for i := range got {
			wantEqual(t, fmt.Sprintf("CreateSecret(%s) in goroutine %d", name, i), *got[i], *stored)
		}
	}
}

var keyRotationTests = []test{
	{"UpdateSigningKey", testUpdateSigningKey},
	{"UpdateUnknownSigningKey", testUpdateUnknownSigningKey},
	{"DeleteSigningKeys", testDeleteSigningKeys},
	{"LockRunsAndReleases", testRotationLockRelease},
	{"LockConcurrent", testRotationLockConcurrent},
	{"SecretsByPrefix", testSecretsByPrefix},
	{"DeleteSecret", testDeleteSecret},
	{"TOTPCredentials", testTOTPCredentials},
	{"Rewrap", testRewrap},
	{"RewrapConflict", testRewrapConflict},
}

func createSecrets(t *testing.T, s Store, secrets ...storage.Secret) {
	t.Helper()
	for _, sec := range secrets {
		_, err := s.CreateSecret(t.Context(), &sec)
		check(t, "CreateSecret("+sec.Name+")", err)
	}
}

func wantSecrets(t *testing.T, what string, got, want []storage.Secret) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d secrets %v, want %d", what, len(got), got, len(want))
	}
	for i := range want {
		wantEqual(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
	}
}

func testSecretsByPrefix(t *testing.T, s Store) {
	got, err := s.SecretsByPrefix(t.Context(), "")
	check(t, "SecretsByPrefix on an empty store", err)
	wantSecrets(t, "SecretsByPrefix on an empty store", got, nil)

	mk := func(name string, created time.Time) storage.Secret {
		return storage.Secret{Name: name, Sealed: []byte("sealed\x00" + name), KEKID: "kek-1", CreatedAt: created}
	}
	// Created out of order; two at the same instant are ordered by name.
	c3 := mk("code-3", at(time.Hour))
	c1 := mk("code", at(-time.Hour))
	c2b := mk("code-2b", t0)
	c2a := mk("code-2a", inZone(t0))
	other := mk("csrf", at(-2*time.Hour))
	pct := mk("co%e", at(-3*time.Hour)) // a LIKE wildcard is not one here
	createSecrets(t, s, c3, c1, c2b, c2a, other, pct)

	got, err = s.SecretsByPrefix(t.Context(), "code")
	check(t, "SecretsByPrefix(code)", err)
	wantSecrets(t, "SecretsByPrefix(code)", got, []storage.Secret{c1, c2a, c2b, c3})
	got, err = s.SecretsByPrefix(t.Context(), "co_e")
	check(t, "SecretsByPrefix(co_e)", err)
	wantSecrets(t, "SecretsByPrefix(co_e)", got, nil)
	got, err = s.SecretsByPrefix(t.Context(), "")
	check(t, "SecretsByPrefix()", err)
	wantSecrets(t, "SecretsByPrefix()", got, []storage.Secret{pct, other, c1, c2a, c2b, c3})
}

func testDeleteSecret(t *testing.T, s Store) {
	keep := storage.Secret{Name: "keep", Sealed: []byte("k"), KEKID: "kek-1", CreatedAt: t0}
	gone := storage.Secret{Name: "gone", Sealed: []byte("g"), KEKID: "kek-1", CreatedAt: t0}
	createSecrets(t, s, keep, gone)
	check(t, "DeleteSecret", s.DeleteSecret(t.Context(), "gone"))
	_, err := s.Secret(t.Context(), "gone")
	wantErr(t, "Secret after DeleteSecret", err, storage.ErrNotFound)
	wantErr(t, "DeleteSecret again", s.DeleteSecret(t.Context(), "gone"), storage.ErrNotFound)
	got, err := s.Secret(t.Context(), "keep")
	check(t, "Secret(keep)", err)
	wantEqual(t, "Secret(keep)", *got, keep)
}

func wantTOTPs(t *testing.T, what string, got, want []storage.TOTPCredential) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d generators %v, want %d", what, len(got), got, len(want))
	}
	for i := range want {
		wantEqual(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
	}
}

func testTOTPCredentials(t *testing.T, s Store) {
	got, err := s.TOTPCredentials(t.Context())
	check(t, "TOTPCredentials on an empty store", err)
	wantTOTPs(t, "TOTPCredentials on an empty store", got, nil)

	// Set up out of order, under two KEKs, one without a code accepted yet.
	for _, u := range []storage.User{newUser("u2", "bob"), newUser("u1", "alice"), newUser("u3", "carol"), newUser("u4", "dave")} {
		createUser(t, s, u)
	}
	c1, c2, c3 := newTOTP("u1"), newTOTP("u2"), newTOTP("u3")
	c2.KEKID = "kek-2"
	c3.LastStep, c3.LastUsedAt = 0, time.Time{}
	for _, c := range []storage.TOTPCredential{c3, c1, c2} {
		setTOTP(t, s, c)
	}
	got, err = s.TOTPCredentials(t.Context())
	check(t, "TOTPCredentials", err)
	wantTOTPs(t, "TOTPCredentials", got, []storage.TOTPCredential{c1, c2, c3})
}

func testRewrap(t *testing.T, s Store) {
	k1 := newSigningKey("k1", at(-2*time.Hour))
	k2 := newSigningKey("k2", at(-time.Hour))
	k2.RetireAt, k2.DeleteAt = at(time.Hour), at(2*time.Hour)
	for _, k := range []storage.SigningKey{k1, k2} {
		check(t, "CreateSigningKey("+k.ID+")", s.CreateSigningKey(t.Context(), &k))
	}
	sec := storage.Secret{Name: "csrf", Sealed: []byte("old"), KEKID: "kek-1", CreatedAt: t0}
	createSecrets(t, s, sec)
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	createUser(t, s, newUser("u3", "carol"))
	totp1, totp2, totp3 := newTOTP("u1"), newTOTP("u2"), newTOTP("u3")
	totp3.KEKID = "kek-2" // moved before, left out
	for _, c := range []storage.TOTPCredential{totp1, totp2, totp3} {
		setTOTP(t, s, c)
	}

	// Only the sealed part and the KEK id change, whatever else is given.
	n1, n2, nsec := k1, k2, sec
	n1.PrivateSealed, n1.KEKID = []byte("new\x00one"), "kek-2"
	n2.PrivateSealed, n2.KEKID = []byte("new two"), "kek-2"
	nsec.Sealed, nsec.KEKID = []byte("new secret"), "kek-2"
	g1, g2, gsec := n1, n2, nsec
	g1.Algorithm, g1.ActivateAt = "RS256", at(9*time.Hour)
	gsec.CreatedAt = at(9 * time.Hour)
	// A code accepted between the read and the rewrap is kept: the
	// generator's LastStep and LastUsedAt are not the rewrap's to set.
	check(t, "UseTOTPStep", s.UseTOTPStep(t.Context(), "u2", totp2.LastStep+1, t0))
	ntotp1, ntotp2 := totp1, totp2
	ntotp1.SealedSecret, ntotp1.KEKID = []byte("new\x00totp one"), "kek-2"
	ntotp2.SealedSecret, ntotp2.KEKID = []byte("new totp two"), "kek-2"
	ntotp2.LastStep, ntotp2.LastUsedAt = totp2.LastStep+1, t0
	totps := []storage.RewrappedTOTP{
		{UserID: "u1", OldSealed: totp1.SealedSecret, SealedSecret: ntotp1.SealedSecret, KEKID: "kek-2"},
		{UserID: "u2", OldSealed: totp2.SealedSecret, SealedSecret: ntotp2.SealedSecret, KEKID: "kek-2"},
	}
	check(t, "Rewrap", s.Rewrap(t.Context(), "kek-1", []storage.SigningKey{g1, g2}, []storage.Secret{gsec}, totps))
	wantKeys(t, "SigningKeys after Rewrap", listKeys(t, s, t0), []storage.SigningKey{n1, n2})
	got, err := s.Secret(t.Context(), "csrf")
	check(t, "Secret after Rewrap", err)
	wantEqual(t, "Secret after Rewrap", *got, nsec)
	gotTOTPs, err := s.TOTPCredentials(t.Context())
	check(t, "TOTPCredentials after Rewrap", err)
	wantTOTPs(t, "TOTPCredentials after Rewrap", gotTOTPs, []storage.TOTPCredential{ntotp1, ntotp2, totp3})

	// Nothing to do is fine.
	check(t, "Rewrap of nothing", s.Rewrap(t.Context(), "kek-1", nil, nil, nil))
}

func testRewrapConflict(t *testing.T, s Store) {
	k1 := newSigningKey("k1", at(-2*time.Hour))
	moved := newSigningKey("moved", at(-time.Hour))
	moved.KEKID = "kek-2"
	for _, k := range []storage.SigningKey{k1, moved} {
		check(t, "CreateSigningKey("+k.ID+")", s.CreateSigningKey(t.Context(), &k))
	}
	sec := storage.Secret{Name: "csrf", Sealed: []byte("old"), KEKID: "kek-1", CreatedAt: t0}
	createSecrets(t, s, sec)
	createUser(t, s, newUser("u1", "alice"))
	createUser(t, s, newUser("u2", "bob"))
	createUser(t, s, newUser("u3", "carol"))
	totp1, movedTOTP := newTOTP("u1"), newTOTP("u2")
	movedTOTP.KEKID = "kek-2"
	// u3 set up a new code, still under kek-1, after the rewrap read it.
	read3 := newTOTP("u3")
	reset3 := read3
	reset3.SealedSecret, reset3.CreatedAt = []byte("sealed anew"), at(time.Minute)
	for _, c := range []storage.TOTPCredential{totp1, movedTOTP, reset3} {
		setTOTP(t, s, c)
	}

	n1, nsec := k1, sec
	n1.PrivateSealed, n1.KEKID = []byte("new"), "kek-2"
	nsec.Sealed, nsec.KEKID = []byte("new"), "kek-2"
	rewrapped := func(c storage.TOTPCredential) storage.RewrappedTOTP {
		return storage.RewrappedTOTP{UserID: c.UserID, OldSealed: c.SealedSecret, SealedSecret: []byte("new"), KEKID: "kek-2"}
	}
	ntotp1 := rewrapped(totp1)
	cases := []struct {
		name    string
		keys    []storage.SigningKey
		secrets []storage.Secret
		totps   []storage.RewrappedTOTP
	}{
		{"a key no longer under the old KEK", []storage.SigningKey{n1, moved}, []storage.Secret{nsec}, []storage.RewrappedTOTP{ntotp1}},
		{"an unknown key", []storage.SigningKey{n1, newSigningKey("nope", t0)}, []storage.Secret{nsec}, []storage.RewrappedTOTP{ntotp1}},
		{"an unknown secret", []storage.SigningKey{n1}, []storage.Secret{nsec, {Name: "nope", KEKID: "kek-2"}}, []storage.RewrappedTOTP{ntotp1}},
		{"a TOTP secret no longer under the old KEK", []storage.SigningKey{n1}, []storage.Secret{nsec}, []storage.RewrappedTOTP{ntotp1, rewrapped(movedTOTP)}},
		{"a TOTP secret set up anew since it was read", []storage.SigningKey{n1}, []storage.Secret{nsec}, []storage.RewrappedTOTP{ntotp1, rewrapped(read3)}},
		{"a user without a TOTP secret", []storage.SigningKey{n1}, []storage.Secret{nsec}, []storage.RewrappedTOTP{ntotp1, rewrapped(newTOTP("ghost"))}},
	}
	for _, c := range cases {
		wantErr(t, "Rewrap with "+c.name, s.Rewrap(t.Context(), "kek-1", c.keys, c.secrets, c.totps), storage.ErrConflict)
		// Nothing was written.
		wantKeys(t, "SigningKeys after a refused Rewrap", listKeys(t, s, t0), []storage.SigningKey{k1, moved})
		got, err := s.Secret(t.Context(), "csrf")
		check(t, "Secret after a refused Rewrap", err)
		wantEqual(t, "Secret after a refused Rewrap", *got, sec)
		gotTOTPs, err := s.TOTPCredentials(t.Context())
		check(t, "TOTPCredentials after a refused Rewrap", err)
		wantTOTPs(t, "TOTPCredentials after a refused Rewrap", gotTOTPs, []storage.TOTPCredential{totp1, movedTOTP, reset3})
	}
}

func testUpdateSigningKey(t *testing.T, s Store) {
	orig := newSigningKey("k1", at(-time.Hour))
	other := newSigningKey("k2", at(-time.Minute))
	for _, k := range []storage.SigningKey{orig, other} {
		check(t, "CreateSigningKey("+k.ID+")", s.CreateSigningKey(t.Context(), &k))
	}
	upd := orig
	upd.PrivateSealed, upd.KEKID = []byte("resealed\x00"), "kek-2"
	upd.PublishAt, upd.ActivateAt = at(-30*time.Minute), inZone(at(-20*time.Minute))
	upd.RetireAt, upd.DeleteAt = at(time.Hour), inZone(at(2*time.Hour))
	// Identity fields given are ignored.
	changed := upd
	changed.Algorithm, changed.PublicJWK, changed.CreatedAt = "RS256", []byte(`{}`), at(time.Hour)
	check(t, "UpdateSigningKey", s.UpdateSigningKey(t.Context(), &changed))
	wantKeys(t, "SigningKeys after update", listKeys(t, s, t0), []storage.SigningKey{upd, other})

	// Clearing the schedule again stores zero times.
	upd.RetireAt, upd.DeleteAt = time.Time{}, time.Time{}
	check(t, "UpdateSigningKey clearing the schedule", s.UpdateSigningKey(t.Context(), &upd))
	wantKeys(t, "SigningKeys after clearing", listKeys(t, s, t0), []storage.SigningKey{upd, other})
}

func testUpdateUnknownSigningKey(t *testing.T, s Store) {
	k := newSigningKey("nope", t0)
	wantErr(t, "UpdateSigningKey on an empty store", s.UpdateSigningKey(t.Context(), &k), storage.ErrNotFound)
	if got := listKeys(t, s, t0); len(got) != 0 {
		t.Fatalf("SigningKeys after a failed update: got %d keys, want 0", len(got))
	}
	// A key past its DeleteAt is still found until deleted.
	gone := newSigningKey("gone", at(-2*time.Hour))
	gone.RetireAt, gone.DeleteAt = at(-time.Hour), at(-time.Minute)
	check(t, "CreateSigningKey", s.CreateSigningKey(t.Context(), &gone))
	gone.DeleteAt = at(time.Hour)
	check(t, "UpdateSigningKey on a key past DeleteAt", s.UpdateSigningKey(t.Context(), &gone))
	wantKeys(t, "SigningKeys after bringing a key back", listKeys(t, s, t0), []storage.SigningKey{gone})
}

func testDeleteSigningKeys(t *testing.T, s Store) {
	old := newSigningKey("old", at(-72*time.Hour))
	old.RetireAt, old.DeleteAt = at(-48*time.Hour), at(-time.Hour)
	edge := newSigningKey("edge", at(-48*time.Hour))
	edge.RetireAt, edge.DeleteAt = at(-time.Hour), t0
	later := newSigningKey("later", at(-24*time.Hour))
	later.RetireAt, later.DeleteAt = t0, at(time.Microsecond)
	forever := newSigningKey("forever", at(-time.Hour))
	for _, k := range []storage.SigningKey{old, edge, later, forever} {
		check(t, "CreateSigningKey("+k.ID+")", s.CreateSigningKey(t.Context(), &k))
	}
	n, err := s.DeleteSigningKeys(t.Context(), inZone(t0))
	check(t, "DeleteSigningKeys", err)
	if n != 2 {
		t.Errorf("DeleteSigningKeys: got %d deleted, want 2", n)
	}
	// Deleted for good: even an earlier now does not list them.
	wantKeys(t, "SigningKeys after delete", listKeys(t, s, at(-100*time.Hour)), []storage.SigningKey{later, forever})
	old.DeleteAt = at(time.Hour)
	wantErr(t, "UpdateSigningKey on a deleted key", s.UpdateSigningKey(t.Context(), &old), storage.ErrNotFound)
	n, err = s.DeleteSigningKeys(t.Context(), t0)
	check(t, "second DeleteSigningKeys", err)
	if n != 0 {
		t.Errorf("second DeleteSigningKeys: got %d deleted, want 0", n)
	}
}

func testRotationLockRelease(t *testing.T, s Store) {
	errFn := errors.New("fn failed")
	for i, want := range []error{nil, errFn, nil} {
		calls := 0
		ran, err := s.WithRotationLock(t.Context(), func(ctx context.Context) error {
			calls++
			if ctx.Err() != nil {
				t.Errorf("call %d: fn's context is already done: %v", i, ctx.Err())
			}
			// The holder's own store calls do not wait for the lock.
			k := newSigningKey(fmt.Sprintf("k%d", i), t0)
			if err := s.CreateSigningKey(ctx, &k); err != nil {
				return err
			}
			return want
		})
		if !ran || calls != 1 {
			t.Fatalf("call %d: got ran %v and %d calls of fn, want true and 1 (the lock was not released?)", i, ran, calls)
		}
		wantErr(t, fmt.Sprintf("call %d", i), err, want)
	}
	if got := listKeys(t, s, t0); len(got) != 3 {
		t.Errorf("SigningKeys: got %d keys, want the 3 that fn created", len(got))
	}
}

func testRotationLockConcurrent(t *testing.T, s Store) {
	for round := range raceRounds {
		// The holder keeps the lock until every other caller has returned,
		// so exactly one may run whatever the timing.
		var returned atomic.Int32
		done := make(chan struct{})
		ran := make([]bool, racers)
		errs := race(func(i int) error {
			var err error
			ran[i], err = s.WithRotationLock(t.Context(), func(ctx context.Context) error {
				select {
				case <-done:
					return nil
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(30 * time.Second):
					return errors.New("the other callers did not return: did several hold the lock?")
				}
			})
			if returned.Add(1) == racers-1 {
				close(done)
			}
			return err
		})
		holders := 0
		for i := range racers {
			if errs[i] != nil {
				t.Fatalf("round %d: WithRotationLock in goroutine %d: %v", round, i, errs[i])
			}
			if ran[i] {
				holders++
			}
		}
		if holders != 1 {
			t.Fatalf("round %d: got %d callers that ran fn, want exactly 1", round, holders)
		}
	}
}
