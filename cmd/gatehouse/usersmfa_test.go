package main

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// addTOTP gives the user a one-time code set up at created and last used
// at used (zero: never), and n recovery codes. The sealed secret is any
// bytes: no command here opens it.
func (f *sessionsFixture) addTOTP(t *testing.T, userID string, created, used time.Time, n int) {
	t.Helper()
	ctx := context.Background()
	c := &storage.TOTPCredential{UserID: userID, SealedSecret: []byte("sealed"), KEKID: "kek-1", LastStep: 1, CreatedAt: created, LastUsedAt: used}
	if err := f.store.SetTOTP(ctx, c); err != nil {
		t.Fatal(err)
	}
	codes := make([]storage.RecoveryCode, n)
	for i := range codes {
		codes[i] = storage.RecoveryCode{ID: string(rune('a'+i)) + "bcd", Hash: "x", CreatedAt: created}
	}
	if err := f.store.SetRecoveryCodes(ctx, userID, codes); err != nil {
		t.Fatal(err)
	}
}

// factors returns whether the user has a one-time code and how many
// recovery codes are left, as stored.
func (f *sessionsFixture) factors(t *testing.T, userID string) (bool, int) {
	t.Helper()
	ctx := context.Background()
	_, err := f.store.TOTP(ctx, userID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	left, lerr := f.store.RecoveryCodesLeft(ctx, userID)
	if lerr != nil {
		t.Fatal(lerr)
	}
	return err == nil, left
}

// auditOf returns the stored audit events of the user of that kind.
func (f *sessionsFixture) auditOf(t *testing.T, userID, kind string) []storage.AuditEvent {
	t.Helper()
	all, err := f.store.AuditEvents(context.Background(), storage.AuditQuery{UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	var got []storage.AuditEvent
	for _, e := range all {
		if e.Kind == kind {
			got = append(got, e)
		}
	}
	return got
}

func TestUsersMFAShow(t *testing.T) {
	f := newSessionsFixture(t)
	ctx := context.Background()
	carol := storage.User{ID: "sub-carol", Username: "carol", PasswordHash: "x", CreatedAt: f.now, UpdatedAt: f.now}
	if err := f.store.CreateUser(ctx, &carol); err != nil {
		t.Fatal(err)
	}
	set, used := f.now.Add(-48*time.Hour), f.now.Add(-time.Hour)
	f.addTOTP(t, f.alice.ID, set, used, 7)
	f.addTOTP(t, carol.ID, set, time.Time{}, 10)
	if err := f.store.CreatePasskey(ctx, &storage.Passkey{ID: []byte{1, 2, 3}, UserID: carol.ID, Name: "YubiKey", Credential: []byte("{}"), CreatedAt: set}); err != nil {
		t.Fatal(err)
	}
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }

	for _, tc := range []struct {
		user string
		want map[string]string
	}{
		{"alice", map[string]string{"user": "alice", "one-time code": "yes", "one-time code set up": stamp(set),
			"one-time code last used": stamp(used), "recovery codes left": "7", "passkeys": "0"}},
		{"Carol", map[string]string{"user": "carol", "one-time code": "yes", "one-time code set up": stamp(set),
			"one-time code last used": "never", "recovery codes left": "10", "passkeys": "1",
			"passkey": "YubiKey (added " + stamp(set) + ", last used never)"}},
		{"bob", map[string]string{"user": "bob", "one-time code": "no", "one-time code set up": "-",
			"one-time code last used": "-", "recovery codes left": "0", "passkeys": "0"}},
	} {
		t.Run(tc.user, func(t *testing.T) {
			out, err := cli(t, f.db, "", "users", "mfa", tc.user)
			if err != nil {
				t.Fatalf("users mfa %s: %q, %v", tc.user, out, err)
			}
			got := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				k, v, ok := strings.Cut(line, ":")
				if !ok {
					t.Fatalf("line %q: want key: value", line)
				}
				got[k] = strings.TrimSpace(v)
			}
			for k, want := range tc.want {
				if got[k] != want {
					t.Errorf("%s: got %q, want %q (output:\n%s)", k, got[k], want, out)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d lines, want %d:\n%s", len(got), len(tc.want), out)
			}
		})
	}

	out, err := cli(t, f.db, "", "users", "list")
	if err != nil {
		t.Fatalf("users list: %q, %v", out, err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if head := strings.Fields(lines[0]); head[len(head)-1] != "MFA" {
		t.Errorf("users list header: got %q, want MFA last", lines[0])
	}
	mfaOf := map[string]string{}
	for _, line := range lines[1:] {
		fields := strings.Fields(line)
		mfaOf[fields[0]] = fields[len(fields)-1]
	}
	if want := map[string]string{"alice": "totp", "bob": "-", "carol": "totp,passkeys"}; !maps.Equal(mfaOf, want) {
		t.Errorf("users list MFA column: got %v, want %v", mfaOf, want)
	}

	// --passkeys removes carol's passkey and keeps her code, and with it
	// the recovery codes that back it up.
	out, err = cli(t, f.db, "", "users", "mfa", "reset", "carol", "--passkeys")
	if err != nil || !strings.Contains(out, "removed 1 passkey of carol") || !strings.Contains(out, "removed 0 recovery codes") {
		t.Fatalf("reset --passkeys: %q, %v; want 1 passkey and no recovery code removed", out, err)
	}
	keys, err := f.store.UserPasskeys(ctx, carol.ID)
	if code, left := f.factors(t, carol.ID); err != nil || len(keys) != 0 || !code || left != 10 {
		t.Errorf("carol after reset --passkeys: passkeys %v (%v), code %v, %d recovery codes; want no passkey, her code and 10 codes", keys, err, code, left)
	}
}

// TestUsersMFAReset checks that a reset removes the one-time code and the
// recovery codes, signs the user out everywhere (sessions, with notices,
// and refresh tokens), records mfa_reset, and leaves other users alone.
func TestUsersMFAReset(t *testing.T) {
	for _, flag := range []string{"--totp", "--all"} {
		t.Run(flag, func(t *testing.T) {
			f := newSessionsFixture(t)
			f.addTOTP(t, f.alice.ID, f.now.Add(-time.Hour), time.Time{}, 3)
			f.addTOTP(t, f.bob.ID, f.now.Add(-time.Hour), time.Time{}, 10)
			f.addRefreshGrant(t, f.alice.ID, "alice-token")
			f.addRefreshGrant(t, f.bob.ID, "bob-token")

			out, err := cli(t, f.db, "", "users", "mfa", "reset", "Alice", flag)
			if err != nil {
				t.Fatalf("users mfa reset alice %s: %q, %v", flag, out, err)
			}
			for _, want := range []string{"removed the one-time code of alice", "removed 3 recovery codes of alice",
				"ended 2 sessions of alice", "queued 1 back-channel logout notice", "revoked 1 refresh token family"} {
				if !strings.Contains(out, want) {
					t.Errorf("got %q, want it to say %q", out, want)
				}
			}
			if code, left := f.factors(t, f.alice.ID); code || left != 0 {
				t.Errorf("alice's factors: got code %v, %d recovery codes; want none", code, left)
			}
			if got := f.liveSessions(t, f.alice.ID); len(got) != 0 {
				t.Errorf("alice's sessions: got %q, want none", got)
			}
			if got, want := f.notices(t), []string{"web " + sessAlice1}; !slices.Equal(got, want) {
				t.Errorf("queued notices: got %q, want %q", got, want)
			}
			if f.refreshGrantLive(t, "alice-token") {
				t.Error("alice's refresh token is still accepted")
			}
			what := strings.TrimPrefix(flag, "--")
			resets := f.auditOf(t, f.alice.ID, auditMFAReset)
			if len(resets) != 1 || resets[0].Actor != "operator" || resets[0].Detail != "reset="+what+" totp=removed passkeys=0 recovery_codes=3" {
				t.Errorf("mfa_reset events: got %+v, want one by operator with detail reset=%s totp=removed passkeys=0 recovery_codes=3", resets, what)
			}
			for _, e := range f.auditOf(t, f.alice.ID, "session_ended") {
				if e.Actor != "operator" || !strings.Contains(e.Detail, "users mfa reset") {
					t.Errorf("session_ended event: got %+v, want one by operator naming users mfa reset", e)
				}
			}
			if code, left := f.factors(t, f.bob.ID); !code || left != 10 {
				t.Errorf("bob's factors: got code %v, %d recovery codes; want his code and 10 codes", code, left)
			}
			if got := f.liveSessions(t, f.bob.ID); len(got) != 1 || !f.refreshGrantLive(t, "bob-token") {
				t.Errorf("bob: got sessions %q and refresh token live %v, want both untouched", got, f.refreshGrantLive(t, "bob-token"))
			}

			// Again: nothing left to remove; it succeeds and says so, so
			// that a run that failed halfway can be finished.
			out, err = cli(t, f.db, "", "users", "mfa", "reset", "alice", flag)
			if err != nil || !strings.Contains(out, "alice had no one-time code") || !strings.Contains(out, "removed 0 recovery codes") || !strings.Contains(out, "ended 0 sessions") {
				t.Errorf("second reset: got %q, %v; want nothing removed, no error", out, err)
			}
			if resets := f.auditOf(t, f.alice.ID, auditMFAReset); len(resets) != 2 || resets[0].Detail != "reset="+what+" totp=none passkeys=0 recovery_codes=0" {
				t.Errorf("mfa_reset events after the second reset: got %+v, want the newest with totp=none passkeys=0 recovery_codes=0", resets)
			}
		})
	}
}

func TestUsersMFABadInput(t *testing.T) {
	f := newSessionsFixture(t)
	f.addTOTP(t, f.alice.ID, f.now.Add(-time.Hour), time.Time{}, 3)
	bad := []struct {
		name string
		args []string
		want string // in the output, with the usage error; or, for usage "", in the error
		use  bool   // the usage error
	}{
		{"two flags", []string{"users", "mfa", "reset", "alice", "--totp", "--all"}, "give exactly one of --totp, --passkeys or --all", true},
		{"totp and passkeys", []string{"users", "mfa", "reset", "alice", "--totp", "--passkeys"}, "give exactly one of", true},
		{"no flag", []string{"users", "mfa", "reset", "alice"}, "give exactly one of --totp, --passkeys or --all", true},
		{"unknown flag", []string{"users", "mfa", "reset", "alice", "--sms"}, "flag provided but not defined: -sms", true},
		{"no user to reset", []string{"users", "mfa", "reset", "--totp"}, "give the user whose second factors to reset", true},
		{"no user to show", []string{"users", "mfa"}, "give one user", true},
		{"two users", []string{"users", "mfa", "reset", "alice", "bob", "--totp"}, "give one user", true},
		{"reset flag when showing", []string{"users", "mfa", "alice", "--totp"}, "are for mfa reset", true},
		{"unknown user to show", []string{"users", "mfa", "nobody"}, `no user "nobody"`, false},
		{"unknown user to reset", []string{"users", "mfa", "reset", "nobody", "--totp"}, `no user "nobody"`, false},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cli(t, f.db, "", tc.args...)
			switch {
			case err == nil:
				t.Fatalf("got %q and no error, want one", out)
			case tc.use && (!errors.Is(err, errUsage) || !strings.Contains(out, tc.want) || !strings.Contains(out, "gatehouse users mfa reset USERNAME")):
				t.Errorf("got %q, %v; want the usage error, saying %q, and the usage", out, err, tc.want)
			case !tc.use && (errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	// Nothing was changed by any of it.
	if code, left := f.factors(t, f.alice.ID); !code || left != 3 {
		t.Errorf("alice's factors: got code %v, %d recovery codes; want both kept", code, left)
	}
	if got := f.liveSessions(t, f.alice.ID); len(got) != 2 {
		t.Errorf("alice's sessions: got %q, want both", got)
	}
	if got := f.notices(t); len(got) != 0 {
		t.Errorf("queued notices: got %q, want none", got)
	}
	if got := f.auditOf(t, f.alice.ID, auditMFAReset); len(got) != 0 {
		t.Errorf("mfa_reset events: got %+v, want none", got)
	}
}
