package keys

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// totpStore is a SQLite store whose TOTPCredentials can run a hook after
// it listed the generators: a user setting up a code while a rewrap runs.
type totpStore struct {
	*sqlite.Store
	afterList func(ctx context.Context)
}

func (s *totpStore) TOTPCredentials(ctx context.Context) ([]storage.TOTPCredential, error) {
	list, err := s.Store.TOTPCredentials(ctx)
	if err == nil && s.afterList != nil {
		s.afterList(ctx)
	}
	return list, err
}

// sealedRow is a stored row's KEK id and sealed bytes.
type sealedRow struct {
	kekID  string
	sealed string
}

// sealedRows is every sealed row of a store, by "key ID", "secret NAME" and
// "totp USER".
func sealedRows(t *testing.T, s *sqlite.Store) map[string]sealedRow {
	t.Helper()
	out := map[string]sealedRow{}
	ks, err := s.SigningKeys(t.Context(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		out["key "+k.ID] = sealedRow{k.KEKID, string(k.PrivateSealed)}
	}
	secs, err := s.SecretsByPrefix(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range secs {
		out["secret "+sec.Name] = sealedRow{sec.KEKID, string(sec.Sealed)}
	}
	totps, err := s.TOTPCredentials(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range totps {
		out["totp "+c.UserID] = sealedRow{c.KEKID, string(c.SealedSecret)}
	}
	return out
}

// setTOTP creates the user if need be and gives them a generator whose
// secret is plain sealed by sealer with associated data ad.
func setTOTP(t *testing.T, s *sqlite.Store, userID string, sealer *Sealer, plain, ad []byte) {
	t.Helper()
	if _, err := s.UserByID(t.Context(), userID); errors.Is(err, storage.ErrNotFound) {
		u := storage.User{ID: userID, Username: userID, Email: userID + "@example.com", CreatedAt: time.Now()}
		if err := s.CreateUser(t.Context(), &u); err != nil {
			t.Fatal(err)
		}
	}
	sealed, err := sealer.Seal(plain, ad)
	if err != nil {
		t.Fatal(err)
	}
	c := storage.TOTPCredential{UserID: userID, SealedSecret: sealed, KEKID: sealer.KEKID(), LastStep: 42, CreatedAt: time.Now()}
	if err := s.SetTOTP(t.Context(), &c); err != nil {
		t.Fatal(err)
	}
}

// TestRewrapMovesTOTPSecrets checks that Rewrap moves users' one-time-code
// secrets with the signing keys and secrets: they open under the new KEK
// with the same associated data; one that would not move (under a third
// KEK, or not opening) fails the whole rewrap with nothing changed; and a
// second rewrap moves nothing.
func TestRewrapMovesTOTPSecrets(t *testing.T) {
	ctx := t.Context()
	db := openSQLite(t)
	store := &totpStore{Store: db}
	oldKEK, newKEK, thirdKEK := newKEK(t), newKEK(t), newKEK(t)
	oldSealer, newSealer, thirdSealer := newSealer(t, oldKEK), newSealer(t, newKEK), newSealer(t, thirdKEK)
	m := ensured(t, store, oldKEK, nil)
	if _, err := m.Secret(ctx, "csrf-key"); err != nil {
		t.Fatal(err)
	}
	plain := map[string][]byte{"alice": []byte("alice's secret"), "bob": []byte("bob's secret"), "carol": []byte("carol's secret")}
	setTOTP(t, db, "alice", oldSealer, plain["alice"], storage.TOTPAssociatedData("alice"))
	setTOTP(t, db, "bob", oldSealer, plain["bob"], storage.TOTPAssociatedData("bob"))
	// Set up by an instance already on the new KEK: left alone.
	setTOTP(t, db, "carol", newSealer, plain["carol"], storage.TOTPAssociatedData("carol"))
	if err := db.UseTOTPStep(ctx, "bob", 43, time.Now()); err != nil {
		t.Fatal(err)
	}

	// A generator that cannot move fails the whole rewrap.
	for _, tt := range []struct {
		name   string
		sealer *Sealer
		ad     []byte
		want   string
	}{
		{"under a third KEK", thirdSealer, storage.TOTPAssociatedData("mallory"), "neither"},
		{"copied from another user", oldSealer, storage.TOTPAssociatedData("alice"), `user "mallory"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setTOTP(t, db, "mallory", tt.sealer, []byte("mallory's secret"), tt.ad)
			before := sealedRows(t, db)
			_, err := m.Rewrap(ctx, newSealer)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing was changed") {
				t.Errorf("Rewrap: got %v, want an error naming %s and saying nothing was changed", err, tt.want)
			}
			if after := sealedRows(t, db); !maps.Equal(after, before) {
				t.Errorf("a refused Rewrap changed rows: got %v, want %v", after, before)
			}
			if _, err := db.DeleteTOTP(ctx, "mallory"); err != nil {
				t.Fatal(err)
			}
		})
	}

	// A user who sets up a code while the rewrap runs: the store refuses
	// the write, and nothing changes; run again, it moves the new code.
	before := sealedRows(t, db)
	plain["alice"] = []byte("alice's new secret")
	store.afterList = func(ctx context.Context) {
		setTOTP(t, db, "alice", oldSealer, plain["alice"], storage.TOTPAssociatedData("alice"))
	}
	_, err := m.Rewrap(ctx, newSealer)
	if !errors.Is(err, storage.ErrConflict) {
		t.Errorf("Rewrap while alice sets up a code: got %v, want ErrConflict", err)
	}
	store.afterList = nil
	after := sealedRows(t, db)
	for name, row := range after {
		if name != "totp alice" && row != before[name] {
			t.Errorf("Rewrap refused with ErrConflict changed %s", name)
		}
	}

	rep, err := m.Rewrap(ctx, newSealer)
	if err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if rep.TOTPs != 2 || rep.AlreadyTOTPs != 1 || rep.Keys != len(KeptAlgorithms()) || rep.Secrets != 1 {
		t.Errorf("Rewrap: got %+v, want %d keys, 1 secret, 2 one-time-code secrets moved and 1 already moved", rep, len(KeptAlgorithms()))
	}
	moved := sealedRows(t, db)
	for name, row := range moved {
		if row.kekID != newSealer.KEKID() {
			t.Errorf("after Rewrap %s is under KEK %s, want %s", name, row.kekID, newSealer.KEKID())
		}
	}
	if moved["totp carol"] != after["totp carol"] {
		t.Error("Rewrap resealed carol's secret, which was under the new KEK already")
	}
	for user, want := range plain {
		c, err := db.TOTP(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		got, err := newSealer.Open(c.SealedSecret, storage.TOTPAssociatedData(user))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s's secret under the new KEK: got %q, %v; want %q", user, got, err, want)
		}
		if _, err := newSealer.Open(c.SealedSecret, storage.TOTPAssociatedData("someone else")); err == nil {
			t.Errorf("%s's secret opens with another user's associated data", user)
		}
	}
	if c, err := db.TOTP(ctx, "bob"); err != nil || c.LastStep != 43 || c.LastUsedAt.IsZero() {
		t.Errorf("bob's generator after Rewrap: got %+v, %v; want LastStep 43 and LastUsedAt kept", c, err)
	}

	// Again: nothing moves, nothing changes.
	rep, err = m.Rewrap(ctx, newSealer)
	if err != nil {
		t.Fatalf("Rewrap again: %v", err)
	}
	if rep.Keys+rep.Secrets+rep.TOTPs != 0 || rep.AlreadyTOTPs != 3 || rep.AlreadyKeys != len(KeptAlgorithms()) || rep.AlreadySecrets != 1 {
		t.Errorf("Rewrap again: got %+v, want nothing moved and 3 one-time-code secrets already moved", rep)
	}
	if again := sealedRows(t, db); !maps.Equal(again, moved) {
		t.Errorf("Rewrap again changed rows: got %v, want %v", again, moved)
	}
}
