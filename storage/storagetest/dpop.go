package storagetest

import (
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var dpopProofTests = []test{
	{"UseOnce", testDPoPUseOnce},
	{"PerKey", testDPoPPerKey},
	{"ExpiredReused", testDPoPExpiredReused},
	{"ConcurrentUse", testDPoPConcurrentUse},
}

const jktA, jktB = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

func testDPoPUseOnce(t *testing.T, s Store) {
	ctx := t.Context()
	check(t, "first UseDPoPProof", s.UseDPoPProof(ctx, jktA, "jti-1", at(time.Minute), t0))
	wantErr(t, "second UseDPoPProof", s.UseDPoPProof(ctx, jktA, "jti-1", at(time.Minute), at(30*time.Second)), storage.ErrConflict)
	wantErr(t, "UseDPoPProof just before expiry",
		s.UseDPoPProof(ctx, jktA, "jti-1", at(2*time.Minute), inZone(at(time.Minute-time.Microsecond))), storage.ErrConflict)
	check(t, "another jti", s.UseDPoPProof(ctx, jktA, "jti-2", at(time.Minute), t0))
}

func testDPoPPerKey(t *testing.T, s Store) {
	ctx := t.Context()
	check(t, "key A uses jti", s.UseDPoPProof(ctx, jktA, "same", at(time.Minute), t0))
	check(t, "key B uses the same jti", s.UseDPoPProof(ctx, jktB, "same", at(time.Minute), t0))
	wantErr(t, "key B again", s.UseDPoPProof(ctx, jktB, "same", at(time.Minute), t0), storage.ErrConflict)
}

func testDPoPExpiredReused(t *testing.T, s Store) {
	ctx := t.Context()
	check(t, "first use", s.UseDPoPProof(ctx, jktA, "jti", at(time.Minute), t0))
	// At its expiry the record is gone: the jti may be recorded again,
	// and is then live until the new expiry.
	check(t, "use at expiry", s.UseDPoPProof(ctx, jktA, "jti", at(3*time.Minute), at(time.Minute)))
	wantErr(t, "use after the new record", s.UseDPoPProof(ctx, jktA, "jti", at(4*time.Minute), at(2*time.Minute)), storage.ErrConflict)
}

func testDPoPConcurrentUse(t *testing.T, s Store) {
	ctx := t.Context()
	errs := race(func(int) error { return s.UseDPoPProof(ctx, jktA, "raced", at(time.Minute), t0) })
	oneWinner(t, "concurrent UseDPoPProof", errs, storage.ErrConflict)
}
