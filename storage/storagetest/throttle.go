package storagetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var throttleTests = []test{
	{"Unknown", testLoginFailuresUnknown},
	{"Count", testReserveCounts},
	{"Limit", testReserveLimit},
	{"RefusedCountsNothing", testRefusedCountsNothing},
	{"Expiry", testLoginFailuresExpiry},
	{"Release", testReleaseLoginAttempt},
	{"Forget", testReleaseForgets},
	{"DuplicateKey", testReserveDuplicateKey},
	{"ConcurrentOneKey", testConcurrentReserve},
	{"ConcurrentReserveRelease", testConcurrentReserveRelease},
}

// window is the throttling window the suite uses.
const window = 15 * time.Minute

// open is a limit that never refuses: it only counts.
func open(key string) storage.ThrottleLimit {
	return storage.ThrottleLimit{Key: key, Free: 1 << 30, Delay: time.Second, MaxDelay: time.Second}
}

// reserve counts an attempt on limits at now and fails the test unless it
// is allowed.
func reserve(t *testing.T, s Store, now time.Time, limits ...storage.ThrottleLimit) *storage.LoginAttempt {
	t.Helper()
	a, wait, err := s.ReserveLoginAttempt(t.Context(), limits, now, window)
	check(t, fmt.Sprintf("ReserveLoginAttempt at %s", now.Format(time.RFC3339Nano)), err)
	if a == nil || wait != 0 {
		t.Fatalf("ReserveLoginAttempt at %s: got attempt %v, wait %v; want it allowed", now.Format(time.RFC3339Nano), a, wait)
	}
	return a
}

// refused checks that an attempt on limits at now is refused with the wait
// want.
func refused(t *testing.T, s Store, now time.Time, want time.Duration, limits ...storage.ThrottleLimit) {
	t.Helper()
	a, wait, err := s.ReserveLoginAttempt(t.Context(), limits, now, window)
	check(t, "ReserveLoginAttempt", err)
	if a != nil || wait != want {
		t.Fatalf("ReserveLoginAttempt at %s: got attempt %v, wait %v; want refused, wait %v", now.Format(time.RFC3339Nano), a, wait, want)
	}
}

// wantFailures checks LoginFailures(keys, now) against want, in order.
func wantFailures(t *testing.T, s Store, now time.Time, keys []string, want ...storage.LoginFailures) {
	t.Helper()
	what := fmt.Sprintf("LoginFailures(%q) at %s", keys, now.Format(time.RFC3339Nano))
	got, err := s.LoginFailures(t.Context(), keys, now)
	check(t, what, err)
	if len(got) != len(want) {
		t.Fatalf("%s: got %d states, want %d", what, len(got), len(want))
	}
	for i := range want {
		wantEqual(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
	}
}

func testLoginFailuresUnknown(t *testing.T, s Store) {
	wantFailures(t, s, t0, []string{"user:alice", "ip:192.0.2.1"}, storage.LoginFailures{}, storage.LoginFailures{})
	wantFailures(t, s, t0, nil)
	reserve(t, s, t0, open("user:alice"))
	wantFailures(t, s, t0, []string{"user:Alice", "user:alice "}, storage.LoginFailures{}, storage.LoginFailures{})
	if a, wait, err := s.ReserveLoginAttempt(t.Context(), nil, t0, window); err != nil || a == nil || len(a.Keys) != 0 || wait != 0 {
		t.Errorf("ReserveLoginAttempt of no limits: got %+v, %v, %v; want an empty attempt", a, wait, err)
	}
	check(t, "ReleaseLoginAttempt of nothing", s.ReleaseLoginAttempt(t.Context(), nil, nil))
	check(t, "ReleaseLoginAttempt of an empty attempt", s.ReleaseLoginAttempt(t.Context(), &storage.LoginAttempt{At: t0}, nil))
}

func testReserveCounts(t *testing.T, s Store) {
	acct, ip := "user:alice", "ip:2001:db8::1"
	a := reserve(t, s, inZone(t0), open(ip), open(acct))
	if len(a.Keys) != 2 || a.Keys[0].Key != ip || a.Keys[1].Key != acct || a.Keys[0].Count != 1 || a.Keys[1].Count != 1 {
		t.Errorf("first attempt: got keys %+v, want %s and %s with count 1", a.Keys, ip, acct)
	}
	t1 := at(time.Minute)
	reserve(t, s, t1, open(acct))
	keys := []string{acct, ip, "user:bob", acct}
	wantFailures(t, s, at(2*time.Minute), keys,
		storage.LoginFailures{Count: 2, Last: t1},
		storage.LoginFailures{Count: 1, Last: t0},
		storage.LoginFailures{},
		storage.LoginFailures{Count: 2, Last: t1})
}

// testReserveLimit walks one key through its limit: Free attempts at once,
// then a delay after the latest attempt that doubles up to MaxDelay.
func testReserveLimit(t *testing.T, s Store) {
	l := storage.ThrottleLimit{Key: "user:alice", Free: 2, Delay: time.Second, MaxDelay: 4 * time.Second}
	reserve(t, s, t0, l)
	reserve(t, s, t0, l)
	refused(t, s, t0, time.Second, l)
	refused(t, s, at(999*time.Millisecond), time.Millisecond, l)
	reserve(t, s, at(time.Second), l) // 3rd: the next waits 2 s
	refused(t, s, at(2500*time.Millisecond), 500*time.Millisecond, l)
	reserve(t, s, at(3*time.Second), l) // 4th: the next waits 4 s, the cap
	refused(t, s, at(3*time.Second), 4*time.Second, l)
	reserve(t, s, at(7*time.Second), l)
	refused(t, s, at(10*time.Second), time.Second, l) // still 4 s after the 5th
	reserve(t, s, at(11*time.Second), l)
	wantFailures(t, s, at(11*time.Second), []string{l.Key}, storage.LoginFailures{Count: 6, Last: at(11 * time.Second)})
}

// testRefusedCountsNothing checks that a refused attempt changes no key,
// neither the one that refused nor the others, before or after it, and
// that the wait is the longest of the keys that refuse.
func testRefusedCountsNothing(t *testing.T, s Store) {
	ip := storage.ThrottleLimit{Key: "ip:192.0.2.1", Free: 1, Delay: 10 * time.Second, MaxDelay: time.Minute}
	acct := storage.ThrottleLimit{Key: "user:alice", Free: 1, Delay: 30 * time.Second, MaxDelay: time.Minute}
	other := open("user:bob")
	reserve(t, s, t0, ip)
	reserve(t, s, t0, acct)
	// Refused by the first key, by the last, by both: the wait is the
	// longest, and bob's counter is not touched.
	refused(t, s, at(time.Second), 9*time.Second, ip, other)
	refused(t, s, at(time.Second), 29*time.Second, other, acct)
	refused(t, s, at(time.Second), 29*time.Second, ip, acct)
	refused(t, s, at(time.Second), 29*time.Second, acct, ip)
	refused(t, s, at(15*time.Second), 15*time.Second, ip, other, acct)
	wantFailures(t, s, at(15*time.Second), []string{ip.Key, acct.Key, other.Key},
		storage.LoginFailures{Count: 1, Last: t0}, storage.LoginFailures{Count: 1, Last: t0}, storage.LoginFailures{})
	// Refused attempts do not move the delay on: it still ends 10 s after
	// the latest counted attempt, however many were refused meanwhile.
	reserve(t, s, at(10*time.Second), ip, other)
	wantFailures(t, s, at(10*time.Second), []string{ip.Key, other.Key},
		storage.LoginFailures{Count: 2, Last: at(10 * time.Second)}, storage.LoginFailures{Count: 1, Last: at(10 * time.Second)})
}

// testLoginFailuresExpiry checks that a counter lasts window after its
// latest attempt, at the now given, and counts from 0 after that: its
// limit allows again.
func testLoginFailuresExpiry(t *testing.T, s Store) {
	acct := storage.ThrottleLimit{Key: "user:alice", Free: 1, Delay: time.Hour, MaxDelay: time.Hour}
	ip := open("ip:192.0.2.1")
	reserve(t, s, t0, acct, ip)
	t1 := at(time.Minute)
	reserve(t, s, t1, open(acct.Key)) // moves acct's expiry to t1+window
	for _, tt := range []struct {
		name string
		now  time.Time
		want []storage.LoginFailures
	}{
		{"just before ip's expiry", at(window - time.Microsecond), []storage.LoginFailures{{Count: 2, Last: t1}, {Count: 1, Last: t0}}},
		{"at ip's expiry", at(window), []storage.LoginFailures{{Count: 2, Last: t1}, {}}},
		{"just before acct's expiry", t1.Add(window - time.Microsecond), []storage.LoginFailures{{Count: 2, Last: t1}, {}}},
		{"at acct's expiry", t1.Add(window), []storage.LoginFailures{{}, {}}},
		{"long after", at(24 * time.Hour), []storage.LoginFailures{{}, {}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantFailures(t, s, tt.now, []string{acct.Key, ip.Key}, tt.want...)
		})
	}
	// The delay (an hour) outlasts the counter: just before its expiry
	// the attempt is refused, at its expiry the count starts again at 1.
	t2 := t1.Add(window)
	refused(t, s, t2.Add(-time.Microsecond), time.Hour-window+time.Microsecond, acct)
	reserve(t, s, t2, acct)
	wantFailures(t, s, t2, []string{acct.Key}, storage.LoginFailures{Count: 1, Last: t2})
}

// testReleaseLoginAttempt gives attempts back: the latest returns its key
// exactly to the state before it (expiry included); an earlier one only
// takes its count back; a key that reaches 0, or is gone, is gone.
func testReleaseLoginAttempt(t *testing.T, s Store) {
	acct, ip := open("user:alice"), open("ip:192.0.2.1")
	reserve(t, s, t0, acct, ip)
	t1 := at(time.Minute)
	second := reserve(t, s, t1, acct, ip)
	check(t, "ReleaseLoginAttempt(second)", s.ReleaseLoginAttempt(t.Context(), second, nil))
	wantFailures(t, s, t1, []string{acct.Key, ip.Key}, storage.LoginFailures{Count: 1, Last: t0}, storage.LoginFailures{Count: 1, Last: t0})
	// The expiry is back to the first attempt's.
	wantFailures(t, s, at(window-time.Microsecond), []string{acct.Key}, storage.LoginFailures{Count: 1, Last: t0})
	wantFailures(t, s, at(window), []string{acct.Key}, storage.LoginFailures{})

	// An attempt that is not the latest any more only takes its count
	// back: the later attempt's Last stays.
	s2 := at(time.Hour)
	first := reserve(t, s, s2, ip)
	s3 := s2.Add(time.Second)
	reserve(t, s, s3, ip)
	check(t, "ReleaseLoginAttempt(first)", s.ReleaseLoginAttempt(t.Context(), first, nil))
	wantFailures(t, s, s3, []string{ip.Key}, storage.LoginFailures{Count: 1, Last: s3})

	// The only attempt of a key: released, the key is gone, and a release
	// of a key that is gone leaves it gone.
	s4 := at(2 * time.Hour)
	only := reserve(t, s, s4, open("user:carol"))
	check(t, "ReleaseLoginAttempt(only)", s.ReleaseLoginAttempt(t.Context(), only, nil))
	wantFailures(t, s, s4, []string{"user:carol"}, storage.LoginFailures{})
	check(t, "ReleaseLoginAttempt(only) again", s.ReleaseLoginAttempt(t.Context(), only, nil))
	reserve(t, s, s4, open("user:carol"))
	wantFailures(t, s, s4, []string{"user:carol"}, storage.LoginFailures{Count: 1, Last: s4})
}

// testReleaseForgets deletes the keys in forget whatever they hold, and
// gives the attempt back on the others.
func testReleaseForgets(t *testing.T, s Store) {
	acct, ip := open("user:alice"), open("ip:192.0.2.1")
	for i := range 3 {
		reserve(t, s, at(time.Duration(i)*time.Second), ip, acct)
	}
	a := reserve(t, s, at(3*time.Second), ip, acct)
	check(t, "ReleaseLoginAttempt", s.ReleaseLoginAttempt(t.Context(), a, []string{acct.Key, "user:nobody"}))
	wantFailures(t, s, at(3*time.Second), []string{acct.Key, ip.Key}, storage.LoginFailures{}, storage.LoginFailures{Count: 3, Last: at(2 * time.Second)})
	// Forget alone, without an attempt.
	check(t, "ReleaseLoginAttempt(nil, forget)", s.ReleaseLoginAttempt(t.Context(), nil, []string{ip.Key}))
	wantFailures(t, s, at(3*time.Second), []string{ip.Key}, storage.LoginFailures{})
	// A forgotten key counts from 1 again.
	reserve(t, s, at(4*time.Second), acct)
	wantFailures(t, s, at(4*time.Second), []string{acct.Key}, storage.LoginFailures{Count: 1, Last: at(4 * time.Second)})
}

func testReserveDuplicateKey(t *testing.T, s Store) {
	_, _, err := s.ReserveLoginAttempt(t.Context(), []storage.ThrottleLimit{open("k"), open("j"), open("k")}, t0, window)
	wantErr(t, "ReserveLoginAttempt with a key twice", err, storage.ErrDuplicateKey)
	wantFailures(t, s, t0, []string{"k", "j"}, storage.LoginFailures{}, storage.LoginFailures{})
}

// throttleRacers is how many sign-in attempts the concurrency tests fire
// at once: the 64 of the attack that got 67 password checks past a limit
// of 20 when the throttle was read, then counted.
const throttleRacers = 64

// testConcurrentReserve fires 64 attempts at once on one key shared by all
// (an IP, Free 20) and one key of each (its account), and then on one
// shared account (Free 5) from 64 IPs: exactly the free number of
// reservations succeed, and the keys hold exactly what succeeded.
func testConcurrentReserve(t *testing.T, s Store) {
	for round := range 3 {
		now := at(time.Duration(round) * time.Hour)
		ip := storage.ThrottleLimit{Key: fmt.Sprintf("ip:192.0.2.%d", round), Free: 20, Delay: time.Second, MaxDelay: 15 * time.Minute}
		shared := storage.ThrottleLimit{Key: fmt.Sprintf("acct:victim%d", round), Free: 5, Delay: time.Second, MaxDelay: time.Minute}
		for _, tc := range []struct {
			name   string
			limits func(i int) []storage.ThrottleLimit
			shared string
			want   int
		}{
			{"one IP, many accounts", func(i int) []storage.ThrottleLimit {
				return []storage.ThrottleLimit{ip, {Key: fmt.Sprintf("acct:r%d-%d", round, i), Free: 5, Delay: time.Second, MaxDelay: time.Minute}}
			}, ip.Key, 20},
			{"many IPs, one account", func(i int) []storage.ThrottleLimit {
				return []storage.ThrottleLimit{{Key: fmt.Sprintf("ip:198.51.%d.%d", round, i), Free: 20, Delay: time.Second, MaxDelay: 15 * time.Minute}, shared}
			}, shared.Key, 5},
		} {
			what := fmt.Sprintf("round %d, %s: %d concurrent ReserveLoginAttempt", round, tc.name, throttleRacers)
			var ok, no atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, throttleRacers)
			for i := range throttleRacers {
				wg.Go(func() {
					<-start
					a, wait, err := s.ReserveLoginAttempt(t.Context(), tc.limits(i), now, window)
					switch {
					case err != nil:
						errs[i] = err
					case a != nil && wait == 0:
						ok.Add(1)
					case a == nil && wait > 0:
						no.Add(1)
					default:
						errs[i] = fmt.Errorf("got attempt %v with wait %v", a, wait)
					}
				})
			}
			close(start)
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if ok.Load() != int64(tc.want) || no.Load() != int64(throttleRacers-tc.want) {
				t.Errorf("%s: %d allowed, %d refused; want %d allowed", what, ok.Load(), no.Load(), tc.want)
			}
			wantFailures(t, s, now, []string{tc.shared}, storage.LoginFailures{Count: tc.want, Last: now})
		}
	}
}

// testConcurrentReserveRelease runs 64 sign-ins at once from one IP (Free
// 20), each reserving, then giving its attempt back (a right password):
// never more than 20 are between the two at a time, and in the end
// nothing is left counted.
func testConcurrentReserveRelease(t *testing.T, s Store) {
	ip := storage.ThrottleLimit{Key: "ip:192.0.2.1", Free: 20, Delay: time.Second, MaxDelay: 15 * time.Minute}
	var inFlight, most, allowed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, throttleRacers)
	for i := range throttleRacers {
		wg.Go(func() {
			<-start
			acct := storage.ThrottleLimit{Key: fmt.Sprintf("acct:u%d", i), Free: 5, Delay: time.Second, MaxDelay: time.Minute}
			a, _, err := s.ReserveLoginAttempt(t.Context(), []storage.ThrottleLimit{ip, acct}, t0, window)
			if err != nil || a == nil {
				errs[i] = err
				return
			}
			allowed.Add(1)
			n := inFlight.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			inFlight.Add(-1) // before the release: a new reservation may come once it is done
			errs[i] = s.ReleaseLoginAttempt(t.Context(), a, []string{acct.Key})
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent reserve and release: %v", err)
	}
	if most.Load() > 20 {
		t.Errorf("concurrent reserve and release: %d attempts held at once, want at most 20", most.Load())
	}
	if allowed.Load() < 20 {
		t.Errorf("concurrent reserve and release: %d allowed, want at least 20", allowed.Load())
	}
	wantFailures(t, s, t0, []string{ip.Key}, storage.LoginFailures{})
}
