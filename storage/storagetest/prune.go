package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// pruneTests check storage.Pruner, on the stores that have it (the SQL
// backends); a store without Prune (sessions and auth requests in Redis,
// which expires them by TTL) skips them.
var pruneTests = []test{
	{"DeletesExpired", testPruneDeletesExpired},
	{"Batch", testPruneBatch},
	{"QueuesLogoutNotices", testPruneQueuesLogoutNotices},
	{"ConcurrentSessions", testPruneConcurrentSessions},
	{"ClearsRefreshReplays", testPruneClearsRefreshReplays},
}

// pruner returns s as a storage.Pruner, or skips t when s has no Prune.
func pruner(t *testing.T, s Store) storage.Pruner {
	t.Helper()
	p, ok := s.(storage.Pruner)
	if !ok {
		t.Skip("the store has no Prune: it expires records by TTL")
	}
	return p
}

// prune calls Prune(now, batch) and fails t on an error or an answer above
// batch.
func prune(t *testing.T, p storage.Pruner, now time.Time, batch int) int {
	t.Helper()
	n, err := p.Prune(t.Context(), now, batch)
	check(t, fmt.Sprintf("Prune(batch %d)", batch), err)
	if n > batch {
		t.Fatalf("Prune(batch %d): got %d rows, want at most %d", batch, n, batch)
	}
	return n
}

// pruneCalls calls Prune(now, batch) until it answers 0 (10 calls at
// most) and returns its answers.
func pruneCalls(t *testing.T, p storage.Pruner, now time.Time, batch int) []int {
	t.Helper()
	var calls []int
	for range 10 {
		n := prune(t, p, now, batch)
		calls = append(calls, n)
		if n == 0 {
			break
		}
	}
	return calls
}

// pruneNow is the instant the prune tests prune at; readBefore, an
// instant before every expiry they set, reads back whatever is still
// stored, expired at pruneNow or not (expiry is decided by the now
// argument only).
var (
	pruneNow   = at(2 * time.Hour)
	readBefore = at(-time.Hour)
)

// pruneKind is one kind of record Prune deletes once expired: create
// stores one expiring at exp, stored reports whether it is still stored.
type pruneKind struct {
	name   string
	create func(t *testing.T, s Store, id string, exp time.Time)
	stored func(t *testing.T, s Store, id string) bool
}

var pruneKinds = []pruneKind{
	{"session", func(t *testing.T, s Store, id string, exp time.Time) {
		check(t, "CreateSession", s.CreateSession(t.Context(), &storage.Session{ID: id, UserID: "u-" + id,
			CreatedAt: t0, LastSeen: t0, ExpiresAt: exp}))
	}, func(t *testing.T, s Store, id string) bool {
		_, err := s.Session(t.Context(), id, readBefore)
		return found(t, "Session", err)
	}},
	{"auth request", func(t *testing.T, s Store, id string, exp time.Time) {
		r := newAuthRequest(id)
		r.ExpiresAt = exp
		createAuthRequest(t, s, r)
	}, func(t *testing.T, s Store, id string) bool {
		_, err := s.AuthRequest(t.Context(), id, readBefore)
		return found(t, "AuthRequest", err)
	}},
	{"code", func(t *testing.T, s Store, id string, exp time.Time) {
		// The code's expiry, earlier than the request's, is the record's.
		r := newAuthRequest(id)
		r.ExpiresAt = pruneNow.Add(time.Hour)
		createAuthRequest(t, s, r)
		check(t, "CompleteAuthRequest", s.CompleteAuthRequest(t.Context(), id, newLogin(), t0))
		check(t, "SaveCode", s.SaveCode(t.Context(), id, "code-"+id, exp, t0))
	}, func(t *testing.T, s Store, id string) bool {
		_, err := s.AuthRequestByCode(t.Context(), "code-"+id, readBefore)
		return found(t, "AuthRequestByCode", err)
	}},
	{"refresh grant", func(t *testing.T, s Store, id string, exp time.Time) {
		check(t, "CreateRefreshGrant", s.CreateRefreshGrant(t.Context(), pruneGrant(id, exp)))
	}, storedGrant},
	{"used refresh grant", func(t *testing.T, s Store, id string, exp time.Time) {
		g := pruneGrant(id, exp)
		g.UsedAt = ptr(t0) // kept until it expires: it tells a reuse from a forgery
		check(t, "CreateRefreshGrant", s.CreateRefreshGrant(t.Context(), g))
	}, storedGrant},
	{"revoked refresh grant", func(t *testing.T, s Store, id string, exp time.Time) {
		g := pruneGrant(id, exp)
		g.RevokedAt = ptr(t0)
		check(t, "CreateRefreshGrant", s.CreateRefreshGrant(t.Context(), g))
	}, storedGrant},
	{"revoked family", func(t *testing.T, s Store, id string, exp time.Time) {
		check(t, "RevokeFamily", s.RevokeFamily(t.Context(), id, t0, exp))
	}, func(t *testing.T, s Store, id string) bool {
		revoked, err := s.FamilyRevoked(t.Context(), id)
		check(t, "FamilyRevoked", err)
		return revoked
	}},
	{"client assertion id", func(t *testing.T, s Store, id string, exp time.Time) {
		check(t, "UseAssertionID", s.UseAssertionID(t.Context(), "client", id, exp, t0))
	}, func(t *testing.T, s Store, id string) bool {
		// A stored id, unexpired at readBefore, is refused; a forgotten one
		// is recorded again.
		err := s.UseAssertionID(t.Context(), "client", id, pruneNow.Add(time.Hour), readBefore)
		if errors.Is(err, storage.ErrConflict) {
			return true
		}
		check(t, "UseAssertionID", err)
		return false
	}},
	{"DPoP proof id", func(t *testing.T, s Store, id string, exp time.Time) {
		check(t, "UseDPoPProof", s.UseDPoPProof(t.Context(), jktA, id, exp, t0))
	}, func(t *testing.T, s Store, id string) bool {
		err := s.UseDPoPProof(t.Context(), jktA, id, pruneNow.Add(time.Hour), readBefore)
		if errors.Is(err, storage.ErrConflict) {
			return true
		}
		check(t, "UseDPoPProof", err)
		return false
	}},
	{"logout notice", func(t *testing.T, s Store, id string, exp time.Time) {
		check(t, "EnqueueLogoutNotices", s.EnqueueLogoutNotices(t.Context(), []storage.LogoutNotice{{ID: id,
			ClientID: "client", UserID: "user", SessionID: "session", CreatedAt: t0, Deadline: exp,
			NextAttempt: readBefore.Add(-time.Hour)}}))
	}, func(t *testing.T, s Store, id string) bool {
		// A lease of 0 leaves the notices due for the next look.
		list, err := s.ClaimLogoutNotices(t.Context(), readBefore, 0, 100)
		check(t, "ClaimLogoutNotices", err)
		return slices.ContainsFunc(list, func(n storage.LogoutNotice) bool { return n.ID == id })
	}},
	{"pending sign-in", func(t *testing.T, s Store, id string, exp time.Time) {
		p := newPendingSignIn(id)
		p.ExpiresAt = exp
		createPendingSignIn(t, s, p)
	}, func(t *testing.T, s Store, id string) bool {
		_, err := s.PendingSignIn(t.Context(), id, readBefore)
		return found(t, "PendingSignIn", err)
	}},
	{"webauthn ceremony", func(t *testing.T, s Store, id string, exp time.Time) {
		c := newWebAuthnCeremony(id)
		c.ExpiresAt = exp
		createWebAuthnCeremony(t, s, c)
	}, func(t *testing.T, s Store, id string) bool {
		// There is no other read: the look takes it.
		_, err := s.TakeWebAuthnCeremony(t.Context(), id, readBefore)
		return found(t, "TakeWebAuthnCeremony", err)
	}},
	{"password reset", func(t *testing.T, s Store, id string, exp time.Time) {
		createUser(t, s, newUser("u-"+id, "user-"+id))
		p := newPasswordReset(id, "u-"+id)
		p.ExpiresAt = exp
		createPasswordReset(t, s, p)
	}, func(t *testing.T, s Store, id string) bool {
		_, err := s.PasswordReset(t.Context(), id, readBefore)
		return found(t, "PasswordReset", err)
	}},
	{"pushed request", func(t *testing.T, s Store, id string, exp time.Time) {
		r := newPushedRequest(id, "c1")
		r.CreatedAt, r.ExpiresAt = readBefore.Add(-time.Minute), exp
		pushRequest(t, s, r)
	}, func(t *testing.T, s Store, id string) bool {
		_, err := s.TakePushedRequest(t.Context(), id, "c1", readBefore)
		return found(t, "TakePushedRequest", err)
	}},
	{"device authorization", func(t *testing.T, s Store, id string, exp time.Time) {
		// Kept until KeepUntil, past its expiry.
		d := newDevice(id, "code-"+id)
		d.ExpiresAt, d.KeepUntil = readBefore.Add(time.Minute), exp
		createDevice(t, s, d)
	}, func(t *testing.T, s Store, id string) bool {
		_, _, err := s.PollDeviceAuthorization(t.Context(), "dc-"+id, readBefore, 0)
		return found(t, "PollDeviceAuthorization", err)
	}},
	{"login failure counter", func(t *testing.T, s Store, id string, exp time.Time) {
		reserve(t, s, exp.Add(-window), open(id))
	}, func(t *testing.T, s Store, id string) bool {
		got, err := s.LoginFailures(t.Context(), []string{id}, readBefore)
		check(t, "LoginFailures", err)
		return got[0].Count > 0
	}},
}

// found reports whether a read that answers ErrNotFound for a missing
// record found it, failing t on any other error.
func found(t *testing.T, what string, err error) bool {
	t.Helper()
	if errors.Is(err, storage.ErrNotFound) {
		return false
	}
	check(t, what, err)
	return true
}

func storedGrant(t *testing.T, s Store, id string) bool {
	_, err := s.RefreshGrantByHash(t.Context(), id)
	return found(t, "RefreshGrantByHash", err)
}

func pruneGrant(hash string, exp time.Time) *storage.RefreshGrant {
	return &storage.RefreshGrant{TokenHash: hash, FamilyID: "family-" + hash, ClientID: "client", UserID: "user",
		CreatedAt: t0, ExpiresAt: exp, AbsoluteExpiresAt: exp}
}

// pruneExpiries are the expiries, relative to pruneNow, the tests give:
// a record whose expiry is at or before now is expired.
var pruneExpiries = []struct {
	d       time.Duration
	expired bool
}{{-time.Hour, true}, {-time.Microsecond, true}, {0, true}, {time.Microsecond, false}, {time.Hour, false}}

// testPruneDeletesExpired checks that Prune deletes every kind of record
// once expired at now, exactly at now included, and keeps every live one:
// a used or revoked refresh grant too, until it expires.
func testPruneDeletesExpired(t *testing.T, s Store) {
	p := pruner(t, s)
	want := 0
	for _, k := range pruneKinds {
		for i, e := range pruneExpiries {
			k.create(t, s, fmt.Sprintf("%s-%d", k.name, i), pruneNow.Add(e.d))
			if e.expired {
				want++
			}
		}
	}
	if n := prune(t, p, pruneNow, 1000); n != want {
		t.Errorf("Prune: got %d rows, want %d (the expired ones)", n, want)
	}
	for _, k := range pruneKinds {
		for i, e := range pruneExpiries {
			id := fmt.Sprintf("%s-%d", k.name, i)
			if got := k.stored(t, s, id); got == e.expired {
				t.Errorf("%s expiring at now%+v: after Prune stored %v, want %v", k.name, e.d, got, !e.expired)
			}
		}
	}
	if n := prune(t, p, pruneNow, 1000); n != 0 {
		t.Errorf("Prune again: got %d rows, want 0", n)
	}
}

// testPruneBatch checks that Prune deletes at most batch rows a call, all
// of them across calls, and refuses a batch below 1.
func testPruneBatch(t *testing.T, s Store) {
	p := pruner(t, s)
	for _, k := range pruneKinds[:3] {
		for i := range 3 {
			k.create(t, s, fmt.Sprintf("%s-%d", k.name, i), pruneNow.Add(-time.Minute))
		}
	}
	calls := pruneCalls(t, p, pruneNow, 4)
	if want := []int{4, 4, 1, 0}; !slices.Equal(calls, want) {
		t.Errorf("rows per Prune call with batch 4: got %v, want %v", calls, want)
	}
	for _, batch := range []int{0, -1} {
		if _, err := p.Prune(t.Context(), pruneNow, batch); err == nil {
			t.Errorf("Prune with batch %d: got no error, want one", batch)
		}
	}
}

// testPruneQueuesLogoutNotices checks that an expired session is reported:
// Prune queues, for each session it deletes, one back-channel logout
// notice per client of the session that exists, is enabled and registered
// a backchannel_logout_uri, due at once and dropped after
// storage.LogoutNoticeTTL, and does not count the notices.
func testPruneQueuesLogoutNotices(t *testing.T, s Store) {
	p := pruner(t, s)
	bc := newClient("bc")
	bc.BackchannelLogoutURI = "https://bc.example/logout"
	plain, off := newClient("plain"), newClient("off")
	plain.BackchannelLogoutURI = ""
	off.BackchannelLogoutURI = "https://off.example/logout"
	syncClients(t, s, t0, bc, plain, off)
	syncClients(t, s, t0, bc, plain) // off is disabled
	for _, sess := range []storage.Session{
		{ID: "ended", UserID: "u1", ExpiresAt: pruneNow.Add(-time.Minute), Clients: []string{"bc", "plain", "gone"}},
		{ID: "at-now", UserID: "u2", ExpiresAt: pruneNow, Clients: []string{"plain", "bc"}},
		{ID: "disabled", UserID: "u3", ExpiresAt: pruneNow.Add(-time.Minute), Clients: []string{"off"}},
		{ID: "no-clients", UserID: "u4", ExpiresAt: pruneNow.Add(-time.Minute)},
		{ID: "live", UserID: "u5", ExpiresAt: pruneNow.Add(time.Microsecond), Clients: []string{"bc"}},
	} {
		sess.CreatedAt, sess.LastSeen = t0, t0
		check(t, "CreateSession("+sess.ID+")", s.CreateSession(t.Context(), &sess))
	}
	calls := pruneCalls(t, p, pruneNow, 1)
	if want := []int{1, 1, 1, 1, 0}; !slices.Equal(calls, want) {
		t.Errorf("rows per Prune call with batch 1: got %v, want %v (the notices are not counted)", calls, want)
	}
	got, err := s.ClaimLogoutNotices(t.Context(), pruneNow, time.Second, 100)
	check(t, "ClaimLogoutNotices", err)
	slices.SortFunc(got, func(a, b storage.LogoutNotice) int { return strings.Compare(a.SessionID, b.SessionID) })
	want := []storage.LogoutNotice{
		{ClientID: "bc", UserID: "u2", SessionID: "at-now"},
		{ClientID: "bc", UserID: "u1", SessionID: "ended"},
	}
	if len(got) != len(want) {
		t.Fatalf("notices after Prune: got %d (%+v), want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i].ID == "" || (i > 0 && got[i].ID == got[0].ID) {
			t.Errorf("notice %d: id %q, want a fresh id of its own", i, got[i].ID)
		}
		want[i].ID = got[i].ID
		want[i].CreatedAt, want[i].Deadline = pruneNow, pruneNow.Add(storage.LogoutNoticeTTL)
		want[i].NextAttempt = pruneNow.Add(time.Second) // as claimed
		wantEqual(t, "notice for "+want[i].SessionID, got[i], want[i])
	}
	if _, err := s.Session(t.Context(), "live", pruneNow); err != nil {
		t.Errorf("the live session after Prune: %v, want it kept", err)
	}
}

// testPruneConcurrentSessions checks that of concurrent Prunes each
// expired session is deleted and reported once: one notice per session.
func testPruneConcurrentSessions(t *testing.T, s Store) {
	p := pruner(t, s)
	bc := newClient("bc")
	bc.BackchannelLogoutURI = "https://bc.example/logout"
	syncClients(t, s, t0, bc)
	const sessions = 20
	for i := range sessions {
		check(t, "CreateSession", s.CreateSession(t.Context(), &storage.Session{ID: fmt.Sprintf("s%02d", i),
			UserID: "u", CreatedAt: t0, LastSeen: t0, ExpiresAt: pruneNow.Add(-time.Minute), Clients: []string{"bc"}}))
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		deleted int
		errs    []error
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := p.Prune(t.Context(), pruneNow, 3)
				mu.Lock()
				deleted += n
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
				if err != nil || n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Prune: %v", err)
	}
	if deleted != sessions {
		t.Errorf("concurrent Prunes deleted %d sessions in all, want %d", deleted, sessions)
	}
	got, err := s.ClaimLogoutNotices(t.Context(), pruneNow, time.Second, 100)
	check(t, "ClaimLogoutNotices", err)
	reported := map[string]int{}
	for _, n := range got {
		reported[n.SessionID]++
	}
	if len(got) != sessions || len(reported) != sessions {
		t.Errorf("notices after concurrent Prunes: got %d for %d sessions, want one for each of %d", len(got), len(reported), sessions)
	}
}

// testPruneClearsRefreshReplays checks that Prune drops the kept answer of
// a rotated refresh token once its grace window has passed (counting it),
// and keeps everything reuse detection needs: the grant, its hash and its
// use.
func testPruneClearsRefreshReplays(t *testing.T, s Store) {
	p := pruner(t, s)
	ctx := t.Context()
	now := t0
	old := &storage.RefreshGrant{TokenHash: "replay-old", FamilyID: "fam-r", ClientID: "c", UserID: "u",
		CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)}
	check(t, "CreateRefreshGrant", s.CreateRefreshGrant(ctx, old))
	next := *old
	next.TokenHash = "replay-next"
	check(t, "RotateRefreshGrant", s.RotateRefreshGrant(ctx, old.TokenHash, &next, []byte("sealed answer"), now.Add(10*time.Second), now))
	// Within the window the answer is kept.
	prune(t, p, now.Add(9*time.Second), 100)
	g, err := s.RefreshGrantByHash(ctx, old.TokenHash)
	if err != nil || string(g.Replay) != "sealed answer" {
		t.Fatalf("inside the grace window: %+v %v, want the kept answer", g, err)
	}
	// After it, the answer goes; the used grant stays.
	if n := prune(t, p, now.Add(11*time.Second), 100); n != 1 {
		t.Fatalf("prune after the window: got %d rows, want 1 row changed", n)
	}
	g, err = s.RefreshGrantByHash(ctx, old.TokenHash)
	if err != nil || g.Replay != nil || !g.ReplayUntil.IsZero() || g.UsedAt == nil || g.FamilyID != "fam-r" {
		t.Fatalf("after the window: %+v %v, want the used grant without its answer", g, err)
	}
	if n := prune(t, p, now.Add(12*time.Second), 100); n != 0 {
		t.Errorf("second prune: got %d rows, want nothing to do", n)
	}
}
