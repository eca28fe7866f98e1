package storagetest

import (
	"errors"
	"sync"
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
	const n = 50
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		ok, confl int
		other     []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.UseAssertionID(ctx, "c1", "raced", at(5*time.Minute), t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, storage.ErrConflict):
				confl++
			default:
				other = append(other, err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || confl != n-1 || len(other) > 0 {
		t.Fatalf("%d concurrent UseAssertionID: %d succeeded, %d conflicts, other errors %v; want 1, %d, none", n, ok, confl, other, n-1)
	}
}
