package storage

import (
	"testing"
	"time"
)

func TestThrottleLimitWait(t *testing.T) {
	last := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	acct := ThrottleLimit{Key: "acct:x", Free: 5, Delay: time.Second, MaxDelay: time.Minute}
	for _, tc := range []struct {
		limit ThrottleLimit
		count int
		now   time.Time
		want  time.Duration
	}{
		{acct, 0, last, 0},
		{acct, 4, last, 0},
		{acct, 5, last, time.Second},
		{acct, 6, last, 2 * time.Second},
		{acct, 10, last, 32 * time.Second},
		{acct, 11, last, time.Minute},
		{acct, 1000, last, time.Minute},
		{acct, 1 << 40, last, time.Minute},
		{acct, 6, last.Add(1500 * time.Millisecond), 500 * time.Millisecond},
		{acct, 6, last.Add(2 * time.Second), 0},
		{acct, 6, last.Add(time.Hour), 0},
		// Zero Delay means MaxDelay at once; zero Free limits from the start.
		{ThrottleLimit{Free: 2, MaxDelay: time.Minute}, 2, last, time.Minute},
		{ThrottleLimit{Free: 0, Delay: time.Second, MaxDelay: time.Minute}, 0, last, time.Second},
	} {
		if got := tc.limit.Wait(LoginFailures{Count: tc.count, Last: last}, tc.now); got != tc.want {
			t.Errorf("%+v.Wait(count %d) at last+%v: got %v, want %v", tc.limit, tc.count, tc.now.Sub(last), got, tc.want)
		}
	}
}
