package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var refreshGrantTests = []test{
	{"RoundTrip", testRefreshGrantRoundTrip},
	{"Expiry", testRefreshGrantExpiry},
	{"UnknownOrUsed", testRefreshGrantUnknownOrUsed},
	{"CreateConflict", testRefreshGrantConflict},
	{"Rotate", testRotate},
	{"RotateRefused", testRotateRefused},
	{"RotateOntoTakenHash", testRotateOntoTakenHash},
	{"ConcurrentRotate", testConcurrentRotate},
	{"Extend", testExtend},
	{"ExtendRefused", testExtendRefused},
	{"FamilyFieldsRoundTrip", testFamilyFieldsRoundTrip},
	{"RevokedRefused", testRevokedRefused},
	{"ByHashAnyState", testRefreshGrantByHash},
	{"RotateWithReplay", testRotateWithReplay},
	{"RevokeFamily", testRevokeFamily},
	{"RevokeFamilyTwice", testRevokeFamilyTwice},
	{"RevokeFamilyWithoutGrants", testRevokeFamilyWithoutGrants},
	{"FamilyRevoked", testFamilyRevoked},
	{"ConcurrentRevokeAndRotate", testConcurrentRevokeAndRotate},
	{"RevokeUserFamilies", testRevokeUserFamilies},
	{"RevokeUserFamiliesAllClients", testRevokeUserFamiliesAllClients},
}

// refreshLife is the lifetime the suite gives refresh grants.
const refreshLife = 30 * 24 * time.Hour

func newGrant(hash string) storage.RefreshGrant {
	return storage.RefreshGrant{
		TokenHash: hash,
		FamilyID:  "family-1",
		ClientID:  "client-1",
		UserID:    "user-1",
		Scopes:    []string{"openid", "offline_access", "api:write"},
		Audience:  []string{"client-1", "https://api.example"},
		AuthTime:  at(-time.Hour),
		AMR:       []string{"pwd"},
		CreatedAt: t0,
		ExpiresAt: at(refreshLife),
		// An absolute deadline later than ExpiresAt (an idle deadline),
		// to an odd microsecond.
		AbsoluteExpiresAt: at(2*refreshLife + time.Microsecond),
		SessionID:         "session-1",
		DPoPJKT:           "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I",
	}
}

func createGrant(t *testing.T, s Store, g storage.RefreshGrant) {
	t.Helper()
	check(t, "CreateRefreshGrant("+g.TokenHash+")", s.CreateRefreshGrant(t.Context(), &g))
}

func wantGrant(t *testing.T, s Store, now time.Time, want storage.RefreshGrant) {
	t.Helper()
	got, err := s.RefreshGrant(t.Context(), want.TokenHash, now)
	check(t, "RefreshGrant("+want.TokenHash+")", err)
	wantEqual(t, "RefreshGrant("+want.TokenHash+")", *got, want)
}

func wantNoGrant(t *testing.T, s Store, now time.Time, hash, why string) {
	t.Helper()
	_, err := s.RefreshGrant(t.Context(), hash, now)
	wantErr(t, "RefreshGrant("+hash+") "+why, err, storage.ErrNotFound)
}

func testRefreshGrantRoundTrip(t *testing.T, s Store) {
	full := newGrant("h1")
	full.AuthTime, full.ExpiresAt = inZone(full.AuthTime), inZone(full.ExpiresAt)
	full.AbsoluteExpiresAt = inZone(full.AbsoluteExpiresAt)
	// No AbsoluteExpiresAt (a grant stored before it was recorded) reads
	// back as the zero time, no SessionID as "".
	sparse := storage.RefreshGrant{TokenHash: "h2", FamilyID: "f2", ExpiresAt: at(time.Hour)}
	empty := newGrant("h3")
	empty.Audience, empty.AMR, empty.Scopes = []string{}, nil, []string{"openid"}

	for _, g := range []storage.RefreshGrant{full, sparse, empty} {
		createGrant(t, s, g)
	}
	for _, g := range []storage.RefreshGrant{full, sparse, empty} {
		wantGrant(t, s, t0, g)
	}
}

func testRefreshGrantExpiry(t *testing.T, s Store) {
	g := newGrant("h1")
	createGrant(t, s, g)
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"at creation", t0, nil},
		{"just before expiry", g.ExpiresAt.Add(-time.Microsecond), nil},
		{"at expiry", g.ExpiresAt, storage.ErrNotFound},
		{"at expiry in another zone", inZone(g.ExpiresAt), storage.ErrNotFound},
		{"after expiry", g.ExpiresAt.Add(time.Hour), storage.ErrNotFound},
	}
	for _, tt := range tests {
		got, err := s.RefreshGrant(t.Context(), g.TokenHash, tt.now)
		wantErr(t, "RefreshGrant "+tt.name, err, tt.want)
		if err == nil {
			wantEqual(t, "RefreshGrant "+tt.name, *got, g)
		}
	}
}

func testRefreshGrantUnknownOrUsed(t *testing.T, s Store) {
	wantNoGrant(t, s, t0, "nope", "on empty store")
	createGrant(t, s, newGrant("h1"))
	wantNoGrant(t, s, t0, "h2", "never created")

	used := newGrant("used")
	used.UsedAt = ptr(at(-time.Minute))
	createGrant(t, s, used)
	wantNoGrant(t, s, t0, "used", "created used")
	wantNoGrant(t, s, at(-2*time.Minute), "used", "created used, asked before its use")

	revoked := newGrant("revoked")
	revoked.RevokedAt = ptr(at(-time.Minute))
	createGrant(t, s, revoked)
	wantNoGrant(t, s, t0, "revoked", "created revoked")
	wantNoGrant(t, s, at(-2*time.Minute), "revoked", "created revoked, asked before its revocation")
}

func testRefreshGrantConflict(t *testing.T, s Store) {
	orig := newGrant("h1")
	createGrant(t, s, orig)
	dup := newGrant("h1")
	dup.FamilyID, dup.UserID = "family-2", "user-2"
	wantErr(t, "CreateRefreshGrant with a taken hash", s.CreateRefreshGrant(t.Context(), &dup), storage.ErrConflict)
	wantGrant(t, s, t0, orig)
}

func testRotate(t *testing.T, s Store) {
	createGrant(t, s, newGrant("h1"))
	other := newGrant("other")
	createGrant(t, s, other)

	now := at(time.Hour)
	next := newGrant("h2")
	next.CreatedAt, next.ExpiresAt = now, now.Add(refreshLife)
	check(t, "RotateRefreshGrant(h1 -> h2)", s.RotateRefreshGrant(t.Context(), "h1", &next, nil, time.Time{}, now))
	wantNoGrant(t, s, now, "h1", "after it was rotated")
	wantNoGrant(t, s, t0, "h1", "after it was rotated, asked at an earlier instant")
	wantGrant(t, s, now, next)
	wantGrant(t, s, now, other)

	// The chain goes on from the new token.
	third := newGrant("h3")
	third.CreatedAt, third.ExpiresAt = now.Add(time.Hour), now.Add(time.Hour+refreshLife)
	check(t, "RotateRefreshGrant(h2 -> h3)", s.RotateRefreshGrant(t.Context(), "h2", &third, nil, time.Time{}, now.Add(time.Hour)))
	wantNoGrant(t, s, now.Add(time.Hour), "h2", "after it was rotated")
	wantGrant(t, s, now.Add(time.Hour), third)
}

func testRotateRefused(t *testing.T, s Store) {
	live := newGrant("live")
	createGrant(t, s, live)
	createGrant(t, s, newGrant("rotated"))
	check(t, "RotateRefreshGrant(rotated)", s.RotateRefreshGrant(t.Context(), "rotated", ptr(newGrant("rotated-next")), nil, time.Time{}, t0))
	used := newGrant("used")
	used.UsedAt = ptr(at(-time.Minute))
	createGrant(t, s, used)
	revoked := newGrant("revoked")
	revoked.RevokedAt = ptr(at(-time.Minute))
	createGrant(t, s, revoked)

	tests := []struct {
		name string
		old  string
		now  time.Time
	}{
		{"unknown token", "nope", t0},
		{"token already rotated", "rotated", at(time.Second)},
		{"token created used", "used", t0},
		{"token created revoked", "revoked", t0},
		{"token created revoked, before its revocation", "revoked", at(-2 * time.Minute)},
		{"token at expiry", "live", live.ExpiresAt},
		{"token after expiry", "live", live.ExpiresAt.Add(time.Hour)},
	}
	for i, tt := range tests {
		next := newGrant(fmt.Sprintf("next-%d", i))
		err := s.RotateRefreshGrant(t.Context(), tt.old, &next, nil, time.Time{}, tt.now)
		wantErr(t, "RotateRefreshGrant of "+tt.name, err, storage.ErrNotFound)
		wantNoGrant(t, s, t0, next.TokenHash, "after a refused rotation of "+tt.name)
	}
	// Nothing changed: the expired-at-now token is still live before then.
	wantGrant(t, s, t0, live)
	wantGrant(t, s, t0, newGrant("rotated-next"))
	wantGrantByHash(t, s, revoked)
}

// A grant extended keeps its token and everything else; its new expiry
// holds, later or earlier, and it can be extended again and then rotated.
func testExtend(t *testing.T, s Store) {
	g := newGrant("keep")
	createGrant(t, s, g)
	other := newGrant("other")
	createGrant(t, s, other)

	now := at(time.Hour)
	g.ExpiresAt = now.Add(refreshLife)
	check(t, "ExtendRefreshGrant(keep)", s.ExtendRefreshGrant(t.Context(), "keep", g.ExpiresAt, now))
	wantGrant(t, s, now, g)
	wantGrant(t, s, now, other)
	// Live past its first expiry now.
	wantGrant(t, s, at(refreshLife+time.Minute), g)

	// Extending to an earlier instant is the caller's choice (an absolute
	// deadline reached): it holds too.
	later := now.Add(time.Hour)
	g.ExpiresAt = later.Add(time.Minute)
	check(t, "ExtendRefreshGrant(keep) again", s.ExtendRefreshGrant(t.Context(), "keep", g.ExpiresAt, later))
	wantGrant(t, s, later, g)
	wantNoGrant(t, s, g.ExpiresAt, "keep", "at its shortened expiry")

	next := newGrant("keep-next")
	next.CreatedAt, next.ExpiresAt = later, later.Add(refreshLife)
	check(t, "RotateRefreshGrant(keep -> keep-next)", s.RotateRefreshGrant(t.Context(), "keep", &next, nil, time.Time{}, later))
	wantGrant(t, s, later, next)
}

// Extending a grant that is not live changes nothing: unknown, used,
// revoked, or expired at now.
func testExtendRefused(t *testing.T, s Store) {
	live := newGrant("live")
	createGrant(t, s, live)
	used := newGrant("used")
	used.UsedAt = ptr(at(-time.Minute))
	createGrant(t, s, used)
	revoked := newGrant("revoked")
	revoked.RevokedAt = ptr(at(-time.Minute))
	createGrant(t, s, revoked)
	gone := newGrant("family-gone")
	gone.FamilyID = "family-gone"
	createGrant(t, s, gone)
	check(t, "RevokeFamily(family-gone)", s.RevokeFamily(t.Context(), "family-gone", t0, at(time.Hour)))
	gone.RevokedAt = ptr(t0)

	far := at(10 * refreshLife)
	for _, tt := range []struct {
		name, hash string
		now        time.Time
	}{
		{"unknown token", "nope", t0},
		{"used token", "used", t0},
		{"revoked token", "revoked", t0},
		{"token of a revoked family", "family-gone", at(time.Second)},
		{"token at expiry", "live", live.ExpiresAt},
		{"token after expiry", "live", live.ExpiresAt.Add(time.Hour)},
	} {
		err := s.ExtendRefreshGrant(t.Context(), tt.hash, far, tt.now)
		wantErr(t, "ExtendRefreshGrant of "+tt.name, err, storage.ErrNotFound)
	}
	wantGrant(t, s, t0, live)
	wantGrantByHash(t, s, used)
	wantGrantByHash(t, s, revoked)
	wantGrantByHash(t, s, gone)
}

func testRotateOntoTakenHash(t *testing.T, s Store) {
	old, taken := newGrant("old"), newGrant("taken")
	taken.UserID = "user-2"
	createGrant(t, s, old)
	createGrant(t, s, taken)
	next := newGrant("taken")
	err := s.RotateRefreshGrant(t.Context(), "old", &next, nil, time.Time{}, t0)
	wantErr(t, "RotateRefreshGrant onto a taken hash", err, storage.ErrConflict)
	// Nothing changed: the old token was not marked used.
	wantGrant(t, s, t0, old)
	wantGrant(t, s, t0, taken)
}

func testConcurrentRotate(t *testing.T, s Store) {
	now := at(time.Minute)
	for round := range raceRounds {
		old := fmt.Sprintf("h%d", round)
		createGrant(t, s, newGrant(old))
		nexts := make([]storage.RefreshGrant, racers)
		for i := range nexts {
			nexts[i] = newGrant(fmt.Sprintf("%s-next-%02d", old, i))
			nexts[i].CreatedAt = now
		}
		errs := race(func(i int) error {
			return s.RotateRefreshGrant(t.Context(), old, &nexts[i], nil, time.Time{}, now)
		})
		won := winners(t, fmt.Sprintf("concurrent RotateRefreshGrant, round %d", round), errs)

		wantNoGrant(t, s, now, old, "after concurrent rotation")
		for i, next := range nexts {
			if i == won {
				wantGrant(t, s, now, next)
			} else {
				wantNoGrant(t, s, now, next.TokenHash, "of a losing rotation")
			}
		}
	}
}

// Reuse detection and family revocation (storage.TokenFamilies).

func wantGrantByHash(t *testing.T, s Store, want storage.RefreshGrant) {
	t.Helper()
	got, err := s.RefreshGrantByHash(t.Context(), want.TokenHash)
	check(t, "RefreshGrantByHash("+want.TokenHash+")", err)
	wantEqual(t, "RefreshGrantByHash("+want.TokenHash+")", *got, want)
}

func wantNoGrantByHash(t *testing.T, s Store, hash, why string) {
	t.Helper()
	_, err := s.RefreshGrantByHash(t.Context(), hash)
	wantErr(t, "RefreshGrantByHash("+hash+") "+why, err, storage.ErrNotFound)
}

func wantFamilyRevoked(t *testing.T, s Store, family string, want bool, why string) {
	t.Helper()
	got, err := s.FamilyRevoked(t.Context(), family)
	check(t, "FamilyRevoked("+family+") "+why, err)
	if got != want {
		t.Errorf("FamilyRevoked(%s) %s: got %v, want %v", family, why, got, want)
	}
}

// replay is a sealed token response: opaque bytes, not text.
var replay = []byte("\x00sealed\xff\xfe response")

func testFamilyFieldsRoundTrip(t *testing.T, s Store) {
	// Every field set, through CreateRefreshGrant.
	full := newGrant("full")
	full.UsedAt = ptr(inZone(at(-2 * time.Minute)))
	full.RevokedAt = ptr(inZone(at(-time.Minute)))
	full.Replay = replay
	full.ReplayUntil = inZone(at(time.Minute))
	// A live grant with a replay is still returned by RefreshGrant.
	live := newGrant("live")
	live.Replay = []byte{1}
	live.ReplayUntil = at(time.Second)
	// The new fields unset.
	plain := newGrant("plain")
	for _, g := range []storage.RefreshGrant{full, live, plain} {
		createGrant(t, s, g)
		wantGrantByHash(t, s, g)
	}
	wantGrant(t, s, t0, live)
	wantGrant(t, s, t0, plain)

	// Every field set, through RotateRefreshGrant's insert.
	next := newGrant("next")
	next.UsedAt = ptr(at(time.Minute))
	next.RevokedAt = ptr(at(2 * time.Minute))
	next.Replay = replay
	next.ReplayUntil = at(3 * time.Minute)
	next.SessionID = "session-2"
	check(t, "RotateRefreshGrant(plain -> next)", s.RotateRefreshGrant(t.Context(), "plain", &next, nil, time.Time{}, t0))
	wantGrantByHash(t, s, next)
	plain.UsedAt = ptr(t0)
	wantGrantByHash(t, s, plain)
}

func testRevokedRefused(t *testing.T, s Store) {
	a, b, other := newGrant("a"), newGrant("b"), newGrant("other")
	other.FamilyID = "family-2"
	for _, g := range []storage.RefreshGrant{a, b, other} {
		createGrant(t, s, g)
	}
	now := at(time.Minute)
	check(t, "RevokeFamily(family-1)", s.RevokeFamily(t.Context(), "family-1", now, now.Add(time.Hour)))

	for _, g := range []storage.RefreshGrant{a, b} {
		wantNoGrant(t, s, now, g.TokenHash, "of a revoked family")
		wantNoGrant(t, s, t0, g.TokenHash, "of a revoked family, asked before the revocation")
		for _, when := range []time.Time{t0, now, now.Add(time.Hour)} {
			next := newGrant(g.TokenHash + "-next")
			err := s.RotateRefreshGrant(t.Context(), g.TokenHash, &next, nil, time.Time{}, when)
			wantErr(t, "RotateRefreshGrant of a revoked grant at "+when.Format(time.RFC3339), err, storage.ErrNotFound)
			wantNoGrantByHash(t, s, next.TokenHash, "after a refused rotation of a revoked grant")
		}
		// Nothing changed: still revoked once, not used.
		g.RevokedAt = ptr(now)
		wantGrantByHash(t, s, g)
	}
	// The other family is untouched and still rotates.
	wantGrant(t, s, now, other)
	next := newGrant("other-next")
	next.FamilyID = "family-2"
	check(t, "RotateRefreshGrant of another family", s.RotateRefreshGrant(t.Context(), "other", &next, nil, time.Time{}, now))
	wantGrant(t, s, now, next)
}

func testRefreshGrantByHash(t *testing.T, s Store) {
	wantNoGrantByHash(t, s, "nope", "on an empty store")

	live, rotated, revoked, expired := newGrant("live"), newGrant("rotated"), newGrant("revoked"), newGrant("expired")
	revoked.FamilyID = "family-2"
	expired.ExpiresAt = at(-time.Second)
	for _, g := range []storage.RefreshGrant{live, rotated, revoked, expired} {
		createGrant(t, s, g)
	}
	now := at(time.Minute)
	check(t, "RotateRefreshGrant(rotated)", s.RotateRefreshGrant(t.Context(), "rotated", ptr(newGrant("rotated-next")), nil, time.Time{}, now))
	rotated.UsedAt = ptr(now)
	check(t, "RevokeFamily(family-2)", s.RevokeFamily(t.Context(), "family-2", now, now.Add(time.Hour)))
	revoked.RevokedAt = ptr(now)

	for _, g := range []storage.RefreshGrant{live, rotated, revoked, expired, newGrant("rotated-next")} {
		wantGrantByHash(t, s, g)
	}
	wantNoGrant(t, s, now, "expired", "after expiry")
	wantNoGrantByHash(t, s, "nope", "never created")
}

func testRevokeFamily(t *testing.T, s Store) {
	live, rotated, expired := newGrant("live"), newGrant("rotated"), newGrant("expired")
	expired.ExpiresAt = at(-time.Second)
	withReplay := newGrant("with-replay")
	withReplay.UsedAt, withReplay.Replay, withReplay.ReplayUntil = ptr(at(-time.Second)), replay, at(time.Minute)
	earlier := newGrant("earlier")
	earlier.RevokedAt = ptr(at(-time.Hour))
	other, otherRevoked := newGrant("other"), newGrant("other-revoked")
	other.FamilyID, otherRevoked.FamilyID = "family-2", "family-2"
	otherRevoked.RevokedAt = ptr(at(-time.Hour))
	for _, g := range []storage.RefreshGrant{live, rotated, expired, withReplay, earlier, other, otherRevoked} {
		createGrant(t, s, g)
	}
	next := newGrant("rotated-next")
	check(t, "RotateRefreshGrant(rotated)", s.RotateRefreshGrant(t.Context(), "rotated", &next, nil, time.Time{}, t0))
	rotated.UsedAt = ptr(t0)

	now := inZone(at(time.Minute))
	check(t, "RevokeFamily(family-1)", s.RevokeFamily(t.Context(), "family-1", now, now.Add(time.Hour)))
	// Every grant of the family, whatever its state, is revoked at now; one
	// revoked before keeps its first revocation.
	for _, g := range []storage.RefreshGrant{live, rotated, expired, withReplay, next} {
		g.RevokedAt = ptr(now)
		wantGrantByHash(t, s, g)
		wantNoGrant(t, s, t0, g.TokenHash, "after its family was revoked")
	}
	wantGrantByHash(t, s, earlier)
	// No other family's grant.
	wantGrant(t, s, now, other)
	wantGrantByHash(t, s, otherRevoked)
	wantFamilyRevoked(t, s, "family-1", true, "after RevokeFamily")
	wantFamilyRevoked(t, s, "family-2", false, "after RevokeFamily of another family")
}

func testRevokeFamilyTwice(t *testing.T, s Store) {
	g := newGrant("h1")
	createGrant(t, s, g)
	first := at(time.Minute)
	check(t, "RevokeFamily", s.RevokeFamily(t.Context(), "family-1", first, first.Add(time.Hour)))
	// Again, later, with an earlier and with a later keepUntil.
	check(t, "RevokeFamily again", s.RevokeFamily(t.Context(), "family-1", at(2*time.Minute), first))
	check(t, "RevokeFamily a third time", s.RevokeFamily(t.Context(), "family-1", at(3*time.Minute), first.Add(2*time.Hour)))
	// The grant keeps its first revocation.
	g.RevokedAt = ptr(first)
	wantGrantByHash(t, s, g)
	wantFamilyRevoked(t, s, "family-1", true, "after RevokeFamily three times")
}

func testRevokeFamilyWithoutGrants(t *testing.T, s Store) {
	other := newGrant("other")
	createGrant(t, s, other)
	check(t, "RevokeFamily of a family with no grants", s.RevokeFamily(t.Context(), "ghost", t0, at(time.Hour)))
	wantFamilyRevoked(t, s, "ghost", true, "after RevokeFamily of a family with no grants")
	check(t, "RevokeFamily of a family with no grants, again", s.RevokeFamily(t.Context(), "ghost", t0, at(time.Hour)))
	wantFamilyRevoked(t, s, "ghost", true, "after RevokeFamily twice")
	wantGrant(t, s, t0, other)
	wantFamilyRevoked(t, s, "family-1", false, "of a family with grants, never revoked")
}

func testFamilyRevoked(t *testing.T, s Store) {
	wantFamilyRevoked(t, s, "family-1", false, "on an empty store")
	createGrant(t, s, newGrant("h1"))
	wantFamilyRevoked(t, s, "family-1", false, "with a live grant")
	// A grant created revoked does not make its family revoked: only
	// RevokeFamily does.
	g := newGrant("h2")
	g.FamilyID, g.RevokedAt = "family-2", ptr(t0)
	createGrant(t, s, g)
	wantFamilyRevoked(t, s, "family-2", false, "with a grant created revoked")

	check(t, "RevokeFamily", s.RevokeFamily(t.Context(), "family-1", t0, at(time.Hour)))
	wantFamilyRevoked(t, s, "family-1", true, "after RevokeFamily")
	wantFamilyRevoked(t, s, "family-2", false, "after RevokeFamily of another family")
	wantFamilyRevoked(t, s, "Family-1", false, "differing in case only")
}

// testConcurrentRevokeAndRotate races RevokeFamily against rotations of
// every grant of the family, each rotator following its chain: however they
// interleave, no grant of the family may be left unrevoked, and no rotation
// may be lost half-way.
func testConcurrentRevokeAndRotate(t *testing.T, s Store) {
	const (
		chain    = 4 // rotations each rotator attempts along its chain
		revokers = 5 // every racers/revokers-th goroutine revokes
	)
	now := at(time.Minute)
	for round := range raceRounds {
		family := fmt.Sprintf("family-%d", round)
		hash := func(i, step int) string { return fmt.Sprintf("r%d-g%02d-%d", round, i, step) }
		for i := range racers {
			g := newGrant(hash(i, 0))
			g.FamilyID = family
			createGrant(t, s, g)
		}
		// rotated[i][j] is whether goroutine i's rotation of step j to j+1
		// succeeded.
		rotated := make([][chain]bool, racers)
		errs := race(func(i int) error {
			steps := chain
			revoker := i%(racers/revokers) == 0
			if revoker {
				// Revokers rotate a little first, so that revocations
				// fall among the rotations.
				steps = i / (racers / revokers)
			}
			for j := range steps {
				next := newGrant(hash(i, j+1))
				next.FamilyID, next.CreatedAt = family, now
				err := s.RotateRefreshGrant(t.Context(), hash(i, j), &next, nil, time.Time{}, now)
				if errors.Is(err, storage.ErrNotFound) {
					break
				}
				if err != nil {
					return fmt.Errorf("RotateRefreshGrant(%s): %w", hash(i, j), err)
				}
				rotated[i][j] = true
			}
			if revoker {
				if err := s.RevokeFamily(t.Context(), family, now, now.Add(time.Hour)); err != nil {
					return fmt.Errorf("RevokeFamily: %w", err)
				}
			}
			return nil
		})
		what := fmt.Sprintf("concurrent RevokeFamily and RotateRefreshGrant, round %d", round)
		for i, err := range errs {
			if err != nil {
				t.Errorf("%s: goroutine %d: %v", what, i, err)
			}
		}
		for i := range racers {
			for j := 0; j <= chain; j++ {
				h := hash(i, j)
				exists := j == 0 || rotated[i][j-1]
				g, err := s.RefreshGrantByHash(t.Context(), h)
				switch {
				case !exists:
					wantErr(t, what+": RefreshGrantByHash of a refused rotation's grant "+h, err, storage.ErrNotFound)
					continue
				case err != nil:
					t.Fatalf("%s: RefreshGrantByHash(%s) of an existing grant: %v", what, h, err)
				}
				if g.RevokedAt == nil {
					t.Errorf("%s: grant %s of the revoked family is not revoked", what, h)
				}
				if used := j < chain && rotated[i][j]; (g.UsedAt != nil) != used {
					t.Errorf("%s: grant %s: UsedAt %v, want set %v", what, h, g.UsedAt, used)
				}
				wantNoGrant(t, s, now, h, "of a revoked family")
			}
		}
		wantFamilyRevoked(t, s, family, true, "after "+what)
		if t.Failed() {
			return
		}
	}
}

// userGrants creates, for RevokeUserFamilies, grants in every state and
// returns them by token hash: families f-live (two live grants and a used
// one), f-other-client (another client's), f-used (used only), f-expired,
// f-revoked (revoked only) of user-1, and f-bob of another user.
func userGrants(t *testing.T, s Store) map[string]storage.RefreshGrant {
	t.Helper()
	mk := func(hash, family, client, user string) storage.RefreshGrant {
		g := newGrant(hash)
		g.FamilyID, g.ClientID, g.UserID = family, client, user
		return g
	}
	grants := []storage.RefreshGrant{
		mk("live-1", "f-live", "client-1", "user-1"),
		mk("live-2", "f-live", "client-1", "user-1"),
		mk("live-used", "f-live", "client-1", "user-1"),
		mk("other-client", "f-other-client", "client-2", "user-1"),
		mk("used", "f-used", "client-1", "user-1"),
		mk("expired", "f-expired", "client-1", "user-1"),
		mk("revoked", "f-revoked", "client-1", "user-1"),
		mk("bob", "f-bob", "client-1", "user-2"),
	}
	grants[2].UsedAt = ptr(at(-time.Minute))
	grants[4].UsedAt = ptr(at(-time.Minute))
	grants[5].ExpiresAt = at(time.Minute) // expired at the suite's now
	grants[6].RevokedAt = ptr(at(-time.Minute))
	out := map[string]storage.RefreshGrant{}
	for _, g := range grants {
		createGrant(t, s, g)
		out[g.TokenHash] = g
	}
	return out
}

func revokeUser(t *testing.T, s Store, user, client string, now time.Time, want int) {
	t.Helper()
	what := fmt.Sprintf("RevokeUserFamilies(%q, %q)", user, client)
	n, err := s.RevokeUserFamilies(t.Context(), user, client, now, now.Add(time.Hour))
	check(t, what, err)
	if n != want {
		t.Errorf("%s: got %d families revoked, want %d", what, n, want)
	}
}

// testRevokeUserFamilies revokes one client's families of a user.
func testRevokeUserFamilies(t *testing.T, s Store) {
	revokeUser(t, s, "user-1", "client-1", t0, 0)
	grants := userGrants(t, s)
	now := at(time.Minute)
	revokeUser(t, s, "user-1", "client-1", now, 1) // f-live, once for its two live grants

	for _, h := range []string{"live-1", "live-2", "live-used"} {
		g := grants[h]
		g.RevokedAt = ptr(now)
		wantGrantByHash(t, s, g)
		wantNoGrant(t, s, t0, h, "after its user's families were revoked")
	}
	wantFamilyRevoked(t, s, "f-live", true, "after RevokeUserFamilies")
	// Families without a live grant, of another client or another user are
	// untouched.
	for _, h := range []string{"other-client", "used", "expired", "revoked", "bob"} {
		wantGrantByHash(t, s, grants[h])
	}
	for _, f := range []string{"f-other-client", "f-used", "f-expired", "f-revoked", "f-bob"} {
		wantFamilyRevoked(t, s, f, false, "after RevokeUserFamilies of another family")
	}
	wantGrant(t, s, now, grants["other-client"])
	wantGrant(t, s, now, grants["bob"])

	// Again: nothing live is left for that client.
	revokeUser(t, s, "user-1", "client-1", at(2*time.Minute), 0)
	g := grants["live-1"]
	g.RevokedAt = ptr(now)
	wantGrantByHash(t, s, g)
	revokeUser(t, s, "user-1", "client-3", now, 0)
	revokeUser(t, s, "nobody", "", now, 0)
}

// testRevokeUserFamiliesAllClients revokes the families of every client of
// a user.
func testRevokeUserFamiliesAllClients(t *testing.T, s Store) {
	grants := userGrants(t, s)
	now := at(time.Minute)
	revokeUser(t, s, "user-1", "", now, 2) // f-live and f-other-client
	for _, h := range []string{"live-1", "live-2", "live-used", "other-client"} {
		g := grants[h]
		g.RevokedAt = ptr(now)
		wantGrantByHash(t, s, g)
	}
	for _, f := range []string{"f-live", "f-other-client"} {
		wantFamilyRevoked(t, s, f, true, "after RevokeUserFamilies of every client")
	}
	for _, h := range []string{"used", "expired", "revoked", "bob"} {
		wantGrantByHash(t, s, grants[h])
	}
	for _, f := range []string{"f-used", "f-expired", "f-revoked", "f-bob"} {
		wantFamilyRevoked(t, s, f, false, "after RevokeUserFamilies of another family")
	}
	revokeUser(t, s, "user-1", "", now, 0)

	// A rotation after the revocation is refused.
	next := newGrant("live-1-next")
	err := s.RotateRefreshGrant(t.Context(), "live-1", &next, nil, time.Time{}, now)
	wantErr(t, "RotateRefreshGrant of a grant revoked by RevokeUserFamilies", err, storage.ErrNotFound)
}

// testRotateWithReplay: the rotation and the kept answer land together;
// a refused rotation records no answer either.
func testRotateWithReplay(t *testing.T, s Store) {
	g := newGrant("h1")
	createGrant(t, s, g)
	now := at(time.Minute)
	next := newGrant("h2")
	next.CreatedAt, next.ExpiresAt = now, now.Add(refreshLife)
	until := inZone(now.Add(10 * time.Second))
	check(t, "RotateRefreshGrant(h1 -> h2)",
		s.RotateRefreshGrant(t.Context(), "h1", &next, replay, until, now))
	g.UsedAt, g.Replay, g.ReplayUntil = ptr(now), replay, until
	wantGrantByHash(t, s, g)
	wantGrant(t, s, now, next)

	// A second rotation of h1 is refused and changes nothing, its answer
	// included.
	again := newGrant("h2-again")
	err := s.RotateRefreshGrant(t.Context(), "h1", &again, []byte("other answer"), until.Add(time.Minute), now.Add(time.Second))
	wantErr(t, "RotateRefreshGrant of a used grant", err, storage.ErrNotFound)
	wantNoGrant(t, s, now, "h2-again", "after a refused rotation")
	wantGrantByHash(t, s, g)

	// Without an answer (no grace window) it is RotateRefreshGrant.
	third := newGrant("h3")
	third.CreatedAt, third.ExpiresAt = now, now.Add(refreshLife)
	check(t, "RotateRefreshGrant(h2 -> h3, no answer)",
		s.RotateRefreshGrant(t.Context(), "h2", &third, nil, time.Time{}, now))
	next.UsedAt = ptr(now)
	wantGrantByHash(t, s, next)
}
