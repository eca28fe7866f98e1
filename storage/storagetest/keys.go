package storagetest

import (
	"fmt"
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
