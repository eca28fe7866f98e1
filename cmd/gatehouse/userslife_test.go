package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestUsersShowUpdateEnable: show prints a user; update changes email,
// name and the verified flag (a new email counts as unverified unless said
// otherwise), each recorded; enable undoes disable. Bad input tried: no
// flag to update, an update flag on show, not a boolean, not an email
// address, two users.
func TestUsersShowUpdateEnable(t *testing.T) {
	f := newSessionsFixture(t)
	ctx := context.Background()
	get := func() *storage.User {
		t.Helper()
		u, err := f.store.UserByID(ctx, f.alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	out, err := cli(t, f.db, "", "users", "update", "alice", "--email", "alice@example.com", "--name", "Alice Liddell", "--email-verified", "true")
	if err != nil || !strings.Contains(out, "updated alice: email, name, email_verified=true") {
		t.Fatalf("update: %q, %v", out, err)
	}
	if u := get(); u.Email != "alice@example.com" || u.Name != "Alice Liddell" || !u.EmailVerified {
		t.Errorf("after update: %+v", u)
	}
	out, err = cli(t, f.db, "", "users", "update", "ALICE", "--email", "alice@example.org")
	if u := get(); err != nil || u.Email != "alice@example.org" || u.EmailVerified {
		t.Errorf("a new email: %q, %v, %+v; want it stored unverified", out, err, u)
	}
	out, err = cli(t, f.db, "", "users", "show", "alice")
	for _, want := range []string{"user:", "alice", "sub-alice", "alice@example.org", "email verified: false", "Alice Liddell", "status:", "active", "second factors: -"} {
		if err != nil || !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(want), " ")) {
			t.Errorf("show: %q, %v; want %q in it", out, err, want)
		}
	}
	if got := f.auditOf(t, f.alice.ID, auditUserUpdated); len(got) != 2 || got[0].Detail != "email" || got[1].Detail != "email name email_verified=true" {
		t.Errorf("user_updated events: %+v", got)
	}
	if _, err := cli(t, f.db, "", "users", "disable", "alice"); err != nil {
		t.Fatal(err)
	}
	if out, err := cli(t, f.db, "", "users", "enable", "alice"); err != nil || get().Disabled || !strings.Contains(out, "enabled: alice") {
		t.Errorf("enable: %q, %v, disabled %v", out, err, get().Disabled)
	}
	if got := f.auditOf(t, f.alice.ID, auditUserEnabled); len(got) != 1 {
		t.Errorf("user_enabled events: %+v", got)
	}
	before := *get()
	for _, args := range [][]string{
		{"users", "update", "alice"},
		{"users", "show", "alice", "--name", "x"},
		{"users", "update", "alice", "--email-verified", "yes please"},
		{"users", "update", "alice", "--email", "not an address"},
		{"users", "update", "alice", "bob", "--name", "x"},
		{"users", "delete"},
	} {
		if out, err := cli(t, f.db, "", args...); err == nil {
			t.Errorf("%v: %q and no error, want one", args, out)
		}
	}
	if after := *get(); after.Email != before.Email || after.Name != before.Name || after.EmailVerified != before.EmailVerified {
		t.Errorf("bad input changed alice: %+v, was %+v", after, before)
	}
}

// TestUsersDelete: delete signs the user out everywhere (apps told,
// refresh tokens revoked) and removes them with their factors; the audit
// trail keeps their events and the username can be taken again. The other
// user is untouched.
func TestUsersDelete(t *testing.T) {
	f := newSessionsFixture(t)
	ctx := context.Background()
	f.addTOTP(t, f.alice.ID, f.now, time.Time{}, 10)
	f.addRefreshGrant(t, f.alice.ID, "alice-token")
	f.addRefreshGrant(t, f.bob.ID, "bob-token")
	out, err := cli(t, f.db, "", "users", "delete", "alice")
	if err != nil || !strings.Contains(out, "deleted user alice (sub sub-alice)") || !strings.Contains(out, "ended 2 sessions") {
		t.Fatalf("delete: %q, %v", out, err)
	}
	if _, err := f.store.UserByUsername(ctx, "alice"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("alice after delete: %v, want ErrNotFound", err)
	}
	if got := f.liveSessions(t, f.alice.ID); len(got) != 0 {
		t.Errorf("alice's sessions: %q, want none", got)
	}
	if got := f.notices(t); len(got) != 1 {
		t.Errorf("queued logout notices: %q, want one (web)", got)
	}
	if f.refreshGrantLive(t, "alice-token") {
		t.Error("alice's refresh token still works")
	}
	if code, left := f.factors(t, f.alice.ID); code || left != 0 {
		t.Errorf("alice's factors: code %v, %d recovery codes; want none", code, left)
	}
	if got := f.auditOf(t, f.alice.ID, auditUserDeleted); len(got) != 1 || got[0].Actor != "operator" {
		t.Errorf("user_deleted events: %+v, want one by operator", got)
	}
	if got := f.auditOf(t, f.alice.ID, "session_ended"); len(got) != 2 {
		t.Errorf("the trail lost alice's events: %d session_ended, want 2", len(got))
	}
	if got := f.liveSessions(t, f.bob.ID); len(got) != 1 || !f.refreshGrantLive(t, "bob-token") {
		t.Errorf("bob: sessions %q, token live %v; want both untouched", got, f.refreshGrantLive(t, "bob-token"))
	}
	if _, err := cli(t, f.db, "correct horse battery staple\n", "users", "add", "alice", "--password-stdin"); err != nil {
		t.Errorf("the username again: %v, want it free", err)
	}
	if _, err := cli(t, f.db, "", "users", "delete", "nobody"); err == nil || !strings.Contains(err.Error(), `no user "nobody"`) {
		t.Errorf("an unknown user: %v", err)
	}
}
