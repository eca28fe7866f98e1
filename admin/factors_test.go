package admin_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// TestResetFactors: the user's one-time code, recovery codes and
// passkeys go, their sessions end, and the reset is recorded with its
// actor; another user's factors stay. Bad input tried: an unknown user.
func TestResetFactors(t *testing.T) {
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "g.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var events []storage.AuditEvent
	ops := admin.New(admin.Config{Store: store, FamilyKeep: time.Hour,
		Record: audit.RecorderFunc(func(_ context.Context, evs ...storage.AuditEvent) error {
			events = append(events, evs...)
			return nil
		})})
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for _, id := range []string{"u1", "u2"} {
		if err := store.CreateUser(ctx, &storage.User{ID: id, Username: id, PasswordHash: "x", CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := store.SetTOTP(ctx, &storage.TOTPCredential{UserID: id, SealedSecret: []byte("s"), KEKID: "k", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := store.SetRecoveryCodes(ctx, id, []storage.RecoveryCode{{UserID: id, ID: "a", Hash: "h"}, {UserID: id, ID: "b", Hash: "h"}}); err != nil {
			t.Fatal(err)
		}
		if err := store.CreatePasskey(ctx, &storage.Passkey{ID: []byte("key-" + id), UserID: id, Name: "Laptop", Credential: []byte("{}"), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := store.CreateSession(ctx, &storage.Session{ID: "s-" + id, UserID: id, AuthTime: now, AMR: []string{"pwd", "otp", "mfa"},
			CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	who := admin.Actor{Kind: audit.ActorUser, ID: "root"}
	res, err := ops.ResetFactors(ctx, who, "u1")
	if err != nil || !res.TOTP || res.RecoveryCodes != 2 || res.Passkeys != 1 || len(res.SignedOut.Sessions) != 1 {
		t.Fatalf("ResetFactors: got %+v, %v; want the code, 2 recovery codes, 1 passkey, 1 session", res, err)
	}
	if _, err := store.TOTP(ctx, "u1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("u1's one-time code: %v, want gone", err)
	}
	if n, _ := store.RecoveryCodesLeft(ctx, "u1"); n != 0 {
		t.Errorf("u1 has %d recovery codes left", n)
	}
	if keys, _ := store.UserPasskeys(ctx, "u1"); len(keys) != 0 {
		t.Errorf("u1 has %d passkeys", len(keys))
	}
	if _, err := store.TOTP(ctx, "u2"); err != nil {
		t.Errorf("u2's one-time code went too: %v", err)
	}
	if s, _ := store.UserSessions(ctx, "u2", now); len(s) != 1 {
		t.Errorf("u2's session ended too")
	}
	var reset []storage.AuditEvent
	for _, ev := range events {
		if ev.Kind == admin.EventFactorsReset {
			reset = append(reset, ev)
		}
	}
	if len(reset) != 1 || reset[0].UserID != "u1" || reset[0].Detail != "totp=1 recovery_codes=2 passkeys=1 by=user:root" {
		t.Errorf("user_factors_reset events: %+v", reset)
	}
	// Again: nothing to remove, nothing recorded.
	if res, err := ops.ResetFactors(ctx, who, "u1"); err != nil || res.TOTP || res.RecoveryCodes != 0 || res.Passkeys != 0 {
		t.Errorf("second reset: %+v, %v", res, err)
	}
	if n := strings.Count(kindsOf(events), admin.EventFactorsReset); n != 1 {
		t.Errorf("%d user_factors_reset events after two resets, want 1", n)
	}
	if _, err := ops.ResetFactors(ctx, who, "nobody"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
}

func kindsOf(events []storage.AuditEvent) string {
	var b strings.Builder
	for _, ev := range events {
		b.WriteString(ev.Kind + " ")
	}
	return b.String()
}
