package storagetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var throttleTests = []test{
	{"Unknown", testLoginFailuresUnknown},
	{"Count", testRecordLoginFailure},
	{"Expiry", testLoginFailuresExpiry},
	{"Clear", testClearLoginFailures},
}

// window is the throttling window the suite uses.
const window = 15 * time.Minute

func record(t *testing.T, s Store, now time.Time, keys ...string) {
	t.Helper()
	check(t, "RecordLoginFailure("+strings.Join(keys, ", ")+")", s.RecordLoginFailure(t.Context(), keys, now, window))
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
	record(t, s, t0, "user:alice")
	wantFailures(t, s, t0, []string{"user:Alice", "user:alice "}, storage.LoginFailures{}, storage.LoginFailures{})
	check(t, "RecordLoginFailure of no keys", s.RecordLoginFailure(t.Context(), nil, t0, window))
	check(t, "ClearLoginFailures of no keys", s.ClearLoginFailures(t.Context(), nil))
}

func testRecordLoginFailure(t *testing.T, s Store) {
	acct, ip := "user:alice", "ip:2001:db8::1"
	record(t, s, inZone(t0), acct, ip)
	t1 := at(time.Minute)
	record(t, s, t1, acct)
	keys := []string{acct, ip, "user:bob", acct}
	wantFailures(t, s, at(2*time.Minute), keys,
		storage.LoginFailures{Count: 2, Last: t1},
		storage.LoginFailures{Count: 1, Last: t0},
		storage.LoginFailures{},
		storage.LoginFailures{Count: 2, Last: t1})
	// A key given twice in one call counts twice.
	record(t, s, at(3*time.Minute), ip, ip)
	wantFailures(t, s, at(3*time.Minute), []string{ip}, storage.LoginFailures{Count: 3, Last: at(3 * time.Minute)})
}

// testLoginFailuresExpiry checks that a counter lasts window after its
// last failure, at the now given, and starts again at 1 after that.
func testLoginFailuresExpiry(t *testing.T, s Store) {
	acct, ip := "user:alice", "ip:192.0.2.1"
	record(t, s, t0, acct, ip)
	t1 := at(time.Minute)
	record(t, s, t1, acct) // moves acct's expiry to t1+window
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
			wantFailures(t, s, tt.now, []string{acct, ip}, tt.want...)
		})
	}
	// A failure after the expiry starts again at 1.
	t2 := t1.Add(window)
	record(t, s, t2, acct)
	wantFailures(t, s, t2, []string{acct}, storage.LoginFailures{Count: 1, Last: t2})
	record(t, s, t2.Add(time.Second), acct)
	wantFailures(t, s, t2.Add(time.Second), []string{acct}, storage.LoginFailures{Count: 2, Last: t2.Add(time.Second)})
}

func testClearLoginFailures(t *testing.T, s Store) {
	acct, ip := "user:alice", "ip:192.0.2.1"
	record(t, s, t0, acct, ip)
	record(t, s, t0, acct)
	check(t, "ClearLoginFailures", s.ClearLoginFailures(t.Context(), []string{acct, "user:nobody"}))
	wantFailures(t, s, t0, []string{acct, ip}, storage.LoginFailures{}, storage.LoginFailures{Count: 1, Last: t0})
	check(t, "ClearLoginFailures again", s.ClearLoginFailures(t.Context(), []string{acct}))
	// A cleared key counts from 1 again.
	record(t, s, at(time.Second), acct)
	wantFailures(t, s, at(time.Second), []string{acct}, storage.LoginFailures{Count: 1, Last: at(time.Second)})
}
