package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// userDeleteTests check storage.UserDeleter: what goes with a user, and
// what stays.
var userDeleteTests = []test{
	{"Unknown", testDeleteUnknownUser},
	{"DeletesWhatIsTheirs", testDeleteUser},
	{"UsernameFree", testDeleteUserFreesUsername},
}

// belongings is what the suite gives a user before deleting one: every
// kind of record that is theirs, in SQL and (session, pending sign-in)
// in the session store.
type belongings struct {
	user      storage.User
	totp      storage.TOTPCredential
	codes     []storage.RecoveryCode
	passkey   storage.Passkey
	consent   storage.Consent
	grants    []storage.RefreshGrant // every grant, live or used, of two families
	live      []string               // the hashes of the live ones
	session   storage.Session
	pending   storage.PendingSignIn
	auditKind []string // the kinds of the user's audit events, newest first
}

// giveBelongings creates the user id, named username, with one of
// everything: a one-time code generator, recovery codes, a passkey, a
// consent, refresh grants in two families (one rotated once, so a used
// grant with a kept answer), a session, a pending sign-in and audit events.
func giveBelongings(t *testing.T, s Store, id, username string, tag byte) belongings {
	t.Helper()
	ctx := t.Context()
	b := belongings{user: newUser(id, username)}
	createUser(t, s, b.user)

	b.totp = newTOTP(id)
	setTOTP(t, s, b.totp)
	b.codes = newRecoveryCodes("code-"+id, 3)
	setRecoveryCodes(t, s, id, b.codes)
	b.passkey = newPasskey(credentialID(tag, 64), id)
	createPasskey(t, s, b.passkey)
	b.consent = storage.Consent{UserID: id, ClientID: "client-1", Scopes: []string{"email", "openid"}, CreatedAt: t0, UpdatedAt: t0}
	saveConsent(t, s, b.consent)

	grant := func(hash, family string) storage.RefreshGrant {
		g := newGrant(hash)
		g.UserID, g.FamilyID = id, family
		return g
	}
	first := grant(id+"-a1", id+"-family-a")
	createGrant(t, s, first)
	next := grant(id+"-a2", id+"-family-a")
	check(t, "RotateRefreshGrant("+first.TokenHash+")", s.RotateRefreshGrant(ctx, first.TokenHash, &next,
		[]byte("sealed answer of "+id), at(time.Minute), t0))
	other := grant(id+"-b1", id+"-family-b")
	other.ClientID = "client-2"
	createGrant(t, s, other)
	b.grants = []storage.RefreshGrant{first, next, other}
	b.live = []string{next.TokenHash, other.TokenHash}

	b.session = newSession("session-of-" + id)
	b.session.UserID = id
	createSession(t, s, b.session)
	b.pending = newPendingSignIn("pending-of-" + id)
	b.pending.UserID = id
	createPendingSignIn(t, s, b.pending)

	appendAudit(t, s,
		auditEvent(id+"-signed-in", at(-time.Hour), id, ""),
		auditEvent(id+"-token-issued", at(-time.Minute), id, "client-1"))
	b.auditKind = []string{id + "-token-issued", id + "-signed-in"}
	return b
}

// wantBelongings checks that everything of b is there, as given.
func wantBelongings(t *testing.T, s Store, b belongings) {
	t.Helper()
	id := b.user.ID
	wantUser(t, s, b.user)
	wantTOTP(t, s, b.totp)
	wantRecoveryCodes(t, s, id, b.codes)
	wantPasskeys(t, s, id, b.passkey)
	wantConsent(t, s, b.consent)
	for _, h := range b.live {
		if _, err := s.RefreshGrant(t.Context(), h, t0); err != nil {
			t.Errorf("RefreshGrant(%s): got error %v, want the live grant", h, err)
		}
	}
	for _, g := range b.grants {
		if _, err := s.RefreshGrantByHash(t.Context(), g.TokenHash); err != nil {
			t.Errorf("RefreshGrantByHash(%s): got error %v, want the grant", g.TokenHash, err)
		}
	}
	wantKept(t, s, b)
}

// wantKept checks what stays when the user of b is deleted: the audit
// trail, the session and the pending sign-in.
func wantKept(t *testing.T, s Store, b belongings) {
	t.Helper()
	wantAudit(t, s, storage.AuditQuery{UserID: b.user.ID}, b.auditKind...)
	wantSession(t, s, t0, b.session)
	wantPendingSignIn(t, s, t0, b.pending)
}

// wantGone checks that the user of b and everything that was theirs in
// SQL is gone.
func wantGone(t *testing.T, s Store, b belongings) {
	t.Helper()
	ctx := t.Context()
	id := b.user.ID
	_, err := s.UserByID(ctx, id)
	wantErr(t, "UserByID("+id+") after DeleteUser", err, storage.ErrNotFound)
	_, err = s.UserByUsername(ctx, b.user.Username)
	wantErr(t, "UserByUsername("+b.user.Username+") after DeleteUser", err, storage.ErrNotFound)

	_, err = s.TOTP(ctx, id)
	wantErr(t, "TOTP("+id+") after DeleteUser", err, storage.ErrNotFound)
	wantRecoveryCodes(t, s, id, nil, b.codes[0].ID)
	wantPasskeys(t, s, id)
	wantNoPasskey(t, s, b.passkey.ID)

	consents, err := s.UserConsents(ctx, id)
	check(t, "UserConsents("+id+")", err)
	if len(consents) != 0 {
		t.Errorf("UserConsents(%s) after DeleteUser: got %d consents, want 0", id, len(consents))
	}
	wantNoConsent(t, s, id, b.consent.ClientID, "after DeleteUser")

	for _, h := range b.live {
		wantNoGrant(t, s, t0, h, "after DeleteUser")
	}
	for _, g := range b.grants {
		wantNoGrantByHash(t, s, g.TokenHash, "after DeleteUser")
	}
}

func deleteUser(t *testing.T, s Store, id string, want bool) {
	t.Helper()
	got, err := s.DeleteUser(t.Context(), id)
	check(t, "DeleteUser("+id+")", err)
	if got != want {
		t.Errorf("DeleteUser(%s): got %t, want %t", id, got, want)
	}
}

func testDeleteUnknownUser(t *testing.T, s Store) {
	deleteUser(t, s, "nope", false)

	bob := giveBelongings(t, s, "bob", "bob", 0xb0)
	deleteUser(t, s, "nope", false)
	// Exact: neither the username nor a prefix of the id is the id.
	deleteUser(t, s, "bo", false)
	deleteUser(t, s, "Bob", false)
	wantBelongings(t, s, bob)
}

func testDeleteUser(t *testing.T, s Store) {
	alice := giveBelongings(t, s, "alice", "alice", 0xa0)
	bob := giveBelongings(t, s, "bob", "bob", 0xb0)

	deleteUser(t, s, "alice", true)
	wantGone(t, s, alice)
	wantKept(t, s, alice)
	wantBelongings(t, s, bob)

	deleteUser(t, s, "alice", false)
	wantBelongings(t, s, bob)
}

func testDeleteUserFreesUsername(t *testing.T, s Store) {
	giveBelongings(t, s, "alice", "alice", 0xa0)
	deleteUser(t, s, "alice", true)

	again := newUser("alice-2", "alice")
	createUser(t, s, again)
	wantUser(t, s, again)
	_, err := s.UserByID(t.Context(), "alice")
	wantErr(t, "UserByID(alice) after DeleteUser", err, storage.ErrNotFound)
	_, err = s.TOTP(t.Context(), again.ID)
	wantErr(t, "TOTP of the new alice", err, storage.ErrNotFound)
	wantPasskeys(t, s, again.ID)
}
