package loginui

import (
	"context"
	"net"
	"net/http"
	"time"
)

// Sign-in throttling. Failed sign-ins are counted per account and per
// client IP; past a number of free failures each further attempt must wait
// a delay that doubles with every failure, up to a cap. There is no
// lockout: the account's delay never exceeds a minute, so an attacker who
// guesses at someone's account slows that person down but cannot lock
// them out, while guessing gets at most one try a minute per account. An
// IP that fails across many accounts waits up to 15 minutes. Counters
// expire 15 minutes after their last failure; a successful sign-in clears
// the account's counter (not the IP's, or signing in to one's own account
// would reset an attacker's count).
const (
	throttleWindow      = 15 * time.Minute
	accountFreeFailures = 5
	accountMaxDelay     = time.Minute
	ipFreeFailures      = 20
	ipMaxDelay          = 15 * time.Minute
)

// throttleDelay is the wait after the n-th failure: none for the first
// free ones, then 1 s, 2 s, 4 s … up to max.
func throttleDelay(n, free int, max time.Duration) time.Duration {
	if n < free {
		return 0
	}
	shift := n - free
	if shift > 20 {
		return max
	}
	d := time.Second << shift
	if d > max {
		return max
	}
	return d
}

// throttleKeys are the counters of one sign-in attempt: the canonical
// username (so case and Unicode variants of a name share one counter,
// whether or not the account exists) and the client's IP (an IPv6
// client's /64, which one host usually has whole).
func throttleKeys(username string, r *http.Request) []string {
	return []string{"acct:" + username, "ip:" + ipPrefix(ClientIP(r))}
}

func ipPrefix(ip string) string {
	parsed := net.ParseIP(ip)
	if parsed == nil || parsed.To4() != nil {
		return ip
	}
	return parsed.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// throttleWait returns how long the attempt keyed by keys must still wait;
// zero means it may go ahead. failed reports whether the account's counter
// holds failures, so that only then a success has a counter to clear. A store failure is returned, and the caller
// refuses the attempt: a counter that cannot be read never lets guesses
// through.
func (u *UI) throttleWait(ctx context.Context, keys []string) (wait time.Duration, failed bool, err error) {
	states, err := u.store.LoginFailures(ctx, keys, u.now())
	if err != nil {
		return 0, false, err
	}
	for i, st := range states {
		free, max := accountFreeFailures, accountMaxDelay
		if i > 0 {
			free, max = ipFreeFailures, ipMaxDelay
		}
		if st.Count == 0 {
			continue
		}
		if w := st.Last.Add(throttleDelay(st.Count, free, max)).Sub(u.now()); w > wait {
			wait = w
		}
	}
	return wait, len(states) > 0 && states[0].Count > 0, nil
}
