package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var logoutNoticeTests = []test{
	{"EnqueueAndClaim", testEnqueueAndClaim},
	{"ClaimLimit", testClaimLimit},
	{"EnqueueConflict", testEnqueueConflict},
	{"Retry", testRetryLogoutNotice},
	{"Delete", testDeleteLogoutNotice},
	{"ConcurrentClaim", testConcurrentClaim},
}

func newNotice(id string, next time.Time) storage.LogoutNotice {
	return storage.LogoutNotice{
		ID:          id,
		ClientID:    "client-" + id,
		UserID:      "user-1",
		SessionID:   "session-1",
		CreatedAt:   at(-time.Hour),
		Deadline:    at(time.Hour),
		NextAttempt: next,
	}
}

func enqueue(t *testing.T, s Store, notices ...storage.LogoutNotice) {
	t.Helper()
	check(t, "EnqueueLogoutNotices", s.EnqueueLogoutNotices(t.Context(), notices))
}

// claim claims and checks the notices claimed against want, in order, each
// with NextAttempt moved to now+lease.
func claim(t *testing.T, s Store, now time.Time, lease time.Duration, n int, want ...storage.LogoutNotice) {
	t.Helper()
	got, err := s.ClaimLogoutNotices(t.Context(), now, lease, n)
	what := fmt.Sprintf("ClaimLogoutNotices(%s, %v, %d)", now.Format(time.RFC3339Nano), lease, n)
	check(t, what, err)
	ids := func(list []storage.LogoutNotice) []string {
		var out []string
		for _, n := range list {
			out = append(out, n.ID)
		}
		return out
	}
	if len(got) != len(want) {
		t.Fatalf("%s: got %q, want %q", what, ids(got), ids(want))
	}
	for i := range want {
		w := want[i]
		w.NextAttempt = now.Add(lease)
		wantEqual(t, what+"["+w.ID+"]", got[i], w)
	}
}

func testEnqueueAndClaim(t *testing.T, s Store) {
	claim(t, s, t0, time.Minute, 10)
	check(t, "EnqueueLogoutNotices of none", s.EnqueueLogoutNotices(t.Context(), nil))

	older, old := newNotice("older", at(-2*time.Minute)), newNotice("old", inZone(at(-time.Minute)))
	zero := newNotice("zero", time.Time{}) // due at once
	exact := newNotice("exact", t0)        // due exactly now
	later := newNotice("later", at(time.Minute))
	lapsed := newNotice("lapsed", at(-time.Hour))
	lapsed.Deadline = at(-time.Second) // due, but past its deadline
	deadlineNow := newNotice("deadline-now", at(-time.Hour))
	deadlineNow.Deadline = t0 // past its deadline at now
	full := newNotice("full", at(-3*time.Minute))
	full.Attempts, full.LastError = 2, "Post \"https://rp.example/bcl\": 503 Service Unavailable"
	full.Deadline = inZone(full.Deadline)
	enqueue(t, s, later, old, lapsed, zero, exact, deadlineNow, older, full)

	// Due ones, oldest NextAttempt first (zero first); returned with
	// NextAttempt moved to the end of the lease.
	claim(t, s, t0, time.Minute, 10, zero, full, older, old, exact)
	// Leased: no one else gets them until the lease ends.
	claim(t, s, t0, time.Minute, 10)
	claim(t, s, at(time.Minute-time.Microsecond), time.Minute, 10)
	// At the lease's end they are due again, with "later".
	now := at(time.Minute)
	claim(t, s, now, 30*time.Second, 10, exact, full, later, old, older, zero)
	// Past the deadline nothing is claimed.
	claim(t, s, at(time.Hour), time.Minute, 10)
}

func testClaimLimit(t *testing.T, s Store) {
	var all []storage.LogoutNotice
	for i := range 5 {
		all = append(all, newNotice(fmt.Sprintf("n%d", i), at(time.Duration(i-10)*time.Second)))
	}
	enqueue(t, s, all...)
	claim(t, s, t0, time.Minute, 0)
	claim(t, s, t0, time.Minute, -1)
	claim(t, s, t0, time.Minute, 2, all[0], all[1])
	claim(t, s, t0, time.Minute, 2, all[2], all[3])
	claim(t, s, t0, time.Minute, 2, all[4])
	claim(t, s, t0, time.Minute, 2)
}

func testEnqueueConflict(t *testing.T, s Store) {
	a, b := newNotice("a", t0), newNotice("b", t0)
	enqueue(t, s, a, b)
	c, dup := newNotice("c", t0), newNotice("a", at(-time.Hour))
	dup.ClientID = "someone-else"
	err := s.EnqueueLogoutNotices(t.Context(), []storage.LogoutNotice{c, dup})
	wantErr(t, "EnqueueLogoutNotices with a taken id", err, storage.ErrConflict)
	// Nothing of the refused batch was queued; "a" is unchanged.
	claim(t, s, t0, time.Minute, 10, a, b)
	// Ids given twice in one batch conflict too.
	err = s.EnqueueLogoutNotices(t.Context(), []storage.LogoutNotice{newNotice("d", t0), newNotice("d", t0)})
	wantErr(t, "EnqueueLogoutNotices with one id twice", err, storage.ErrConflict)
	claim(t, s, at(time.Minute), time.Minute, 10, a, b)
}

func testRetryLogoutNotice(t *testing.T, s Store) {
	err := s.RetryLogoutNotice(t.Context(), "nope", 1, at(time.Minute), "timeout")
	wantErr(t, "RetryLogoutNotice on an empty store", err, storage.ErrNotFound)

	n, other := newNotice("n1", t0), newNotice("other", at(10*time.Minute))
	enqueue(t, s, n, other)
	claim(t, s, t0, time.Minute, 10, n)
	next := inZone(at(5 * time.Minute))
	check(t, "RetryLogoutNotice", s.RetryLogoutNotice(t.Context(), "n1", 3, next, "HTTP 500"))
	// Not due before next, even though the lease has ended.
	claim(t, s, at(5*time.Minute-time.Microsecond), time.Minute, 10)
	n.Attempts, n.LastError = 3, "HTTP 500"
	claim(t, s, next, time.Minute, 10, n)
	// A retry can clear the error.
	check(t, "RetryLogoutNotice clearing the error", s.RetryLogoutNotice(t.Context(), "n1", 4, at(10*time.Minute), ""))
	n.Attempts, n.LastError = 4, ""
	claim(t, s, at(10*time.Minute), time.Minute, 10, n, other)
}

func testDeleteLogoutNotice(t *testing.T, s Store) {
	check(t, "DeleteLogoutNotice on an empty store", s.DeleteLogoutNotice(t.Context(), "nope"))
	a, b := newNotice("a", t0), newNotice("b", t0)
	enqueue(t, s, a, b)
	check(t, "DeleteLogoutNotice(a)", s.DeleteLogoutNotice(t.Context(), "a"))
	check(t, "DeleteLogoutNotice(a) again", s.DeleteLogoutNotice(t.Context(), "a"))
	err := s.RetryLogoutNotice(t.Context(), "a", 1, t0, "x")
	wantErr(t, "RetryLogoutNotice of a deleted notice", err, storage.ErrNotFound)
	claim(t, s, t0, time.Minute, 10, b)
	// The id is free again.
	enqueue(t, s, newNotice("a", t0))
}

// testConcurrentClaim has several claimers drain one queue: every notice
// is claimed once, by one of them.
func testConcurrentClaim(t *testing.T, s Store) {
	const (
		claimers = 8
		total    = 200
		batch    = 7
	)
	var all []storage.LogoutNotice
	for i := range total {
		all = append(all, newNotice(fmt.Sprintf("n%03d", i), at(-time.Duration(i%13)*time.Second)))
	}
	enqueue(t, s, all...)

	var (
		mu     sync.Mutex
		owner  = map[string]int{}
		errs   []error
		wg     sync.WaitGroup
		starts = make(chan struct{})
	)
	for c := range claimers {
		wg.Go(func() {
			<-starts
			for {
				got, err := s.ClaimLogoutNotices(t.Context(), t0, time.Hour, batch)
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Errorf("claimer %d: %w", c, err))
				}
				for _, n := range got {
					if prev, ok := owner[n.ID]; ok {
						errs = append(errs, fmt.Errorf("notice %s claimed by claimers %d and %d", n.ID, prev, c))
					}
					owner[n.ID] = c
				}
				mu.Unlock()
				if err != nil || len(got) == 0 {
					return
				}
			}
		})
	}
	close(starts)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(owner) != total {
		t.Errorf("notices claimed by %d concurrent claimers: got %d, want %d", claimers, len(owner), total)
	}
	claim(t, s, t0, time.Hour, total)
}
