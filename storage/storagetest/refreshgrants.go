package storagetest

import (
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
	check(t, "RotateRefreshGrant(h1 -> h2)", s.RotateRefreshGrant(t.Context(), "h1", &next, now))
	wantNoGrant(t, s, now, "h1", "after it was rotated")
	wantNoGrant(t, s, t0, "h1", "after it was rotated, asked at an earlier instant")
	wantGrant(t, s, now, next)
	wantGrant(t, s, now, other)

	// The chain goes on from the new token.
	third := newGrant("h3")
	third.CreatedAt, third.ExpiresAt = now.Add(time.Hour), now.Add(time.Hour+refreshLife)
	check(t, "RotateRefreshGrant(h2 -> h3)", s.RotateRefreshGrant(t.Context(), "h2", &third, now.Add(time.Hour)))
	wantNoGrant(t, s, now.Add(time.Hour), "h2", "after it was rotated")
	wantGrant(t, s, now.Add(time.Hour), third)
}

func testRotateRefused(t *testing.T, s Store) {
	live := newGrant("live")
	createGrant(t, s, live)
	createGrant(t, s, newGrant("rotated"))
	check(t, "RotateRefreshGrant(rotated)", s.RotateRefreshGrant(t.Context(), "rotated", ptr(newGrant("rotated-next")), t0))
	used := newGrant("used")
	used.UsedAt = ptr(at(-time.Minute))
	createGrant(t, s, used)

	tests := []struct {
		name string
		old  string
		now  time.Time
	}{
		{"unknown token", "nope", t0},
		{"token already rotated", "rotated", at(time.Second)},
		{"token created used", "used", t0},
		{"token at expiry", "live", live.ExpiresAt},
		{"token after expiry", "live", live.ExpiresAt.Add(time.Hour)},
	}
	for i, tt := range tests {
		next := newGrant(fmt.Sprintf("next-%d", i))
		err := s.RotateRefreshGrant(t.Context(), tt.old, &next, tt.now)
		wantErr(t, "RotateRefreshGrant of "+tt.name, err, storage.ErrNotFound)
		wantNoGrant(t, s, t0, next.TokenHash, "after a refused rotation of "+tt.name)
	}
	// Nothing changed: the expired-at-now token is still live before then.
	wantGrant(t, s, t0, live)
	wantGrant(t, s, t0, newGrant("rotated-next"))
}

func testRotateOntoTakenHash(t *testing.T, s Store) {
	old, taken := newGrant("old"), newGrant("taken")
	taken.UserID = "user-2"
	createGrant(t, s, old)
	createGrant(t, s, taken)
	next := newGrant("taken")
	err := s.RotateRefreshGrant(t.Context(), "old", &next, t0)
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
			return s.RotateRefreshGrant(t.Context(), old, &nexts[i], now)
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
