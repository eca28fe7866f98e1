package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var assertionTests = []test{
	{"UseOnce", testAssertionUseOnce},
	{"PerClient", testAssertionPerClient},
	{"ExpiredReused", testAssertionExpiredReused},
	{"ConcurrentUse", testAssertionConcurrentUse},
}

func testAssertionUseOnce(t *testing.T, s Store) {
	ctx := t.Context()
	check(t, "first UseAssertionID", s.UseAssertionID(ctx, "c1", "jti-1", at(5*time.Minute), t0))
	wantErr(t, "second UseAssertionID", s.UseAssertionID(ctx, "c1", "jti-1", at(5*time.Minute), at(time.Minute)), storage.ErrConflict)
	// Just before the record expires, it is still live.
	wantErr(t, "UseAssertionID just before expiry",
		s.UseAssertionID(ctx, "c1", "jti-1", at(10*time.Minute), inZone(at(5*time.Minute-time.Microsecond))), storage.ErrConflict)
	check(t, "another jti", s.UseAssertionID(ctx, "c1", "jti-2", at(5*time.Minute), t0))
}

func testAssertionPerClient(t *testing.T, s Store) {
	ctx := t.Context()
	check(t, "c1 uses jti", s.UseAssertionID(ctx, "c1", "same", at(5*time.Minute), t0))
	check(t, "c2 uses the same jti", s.UseAssertionID(ctx, "c2", "same", at(5*time.Minute), t0))
	wantErr(t, "c2 again", s.UseAssertionID(ctx, "c2", "same", at(5*time.Minute), t0), storage.ErrConflict)
}

func testAssertionExpiredReused(t *testing.T, s Store) {
	ctx := t.Context()
	check(t, "first use", s.UseAssertionID(ctx, "c1", "jti", at(time.Minute), t0))
	// At its expiry the record is gone: the jti may be recorded again,
	// and is then live until the new expiry.
	check(t, "use at expiry", s.UseAssertionID(ctx, "c1", "jti", at(3*time.Minute), at(time.Minute)))
	wantErr(t, "use after the new record", s.UseAssertionID(ctx, "c1", "jti", at(4*time.Minute), at(2*time.Minute)), storage.ErrConflict)
}

func testAssertionConcurrentUse(t *testing.T, s Store) {
	ctx := t.Context()
	errs := race(func(int) error { return s.UseAssertionID(ctx, "c1", "raced", at(5*time.Minute), t0) })
	oneWinner(t, "concurrent UseAssertionID", errs, storage.ErrConflict)
}
