package loginui

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Sign-in throttling. Attempts are counted per account and per client IP;
// past a number of free attempts each further one must wait a delay after
// the latest, doubling with every attempt, up to a cap. There is no
// lockout: the account's delay never exceeds a minute, so an attacker who
// guesses at someone's account slows that person down but cannot lock
// them out, while guessing gets at most one try a minute per account. An
// IP that fails across many accounts waits up to 15 minutes. Counters
// expire 15 minutes after their latest attempt.
//
// An attempt is counted before its password is checked, in one atomic
// step with the check of the limits (storage.LoginThrottle's
// ReserveLoginAttempt), so concurrent attempts cannot slip past a limit
// between a read and a write: of 64 at once from one IP, 20 get a password
// check. A refused attempt counts nothing, so refused attempts never push
// a wait further; the IP is checked first, so an IP past its limit adds
// nothing to the accounts it guesses at. A wrong password leaves the
// attempt counted: it is a failure. A right one gives the attempt back
// (ReleaseLoginAttempt): the account's counter is cleared, and the IP's
// returns to what it was before the attempt, so successful sign-ins never
// count against an IP (and cannot reset what an attacker behind it failed,
// either). An attempt whose password was never checked (too many checks
// at once, a store error) is given back the same way, without clearing.
const (
	throttleWindow      = 15 * time.Minute
	accountFreeFailures = 5
	accountMaxDelay     = time.Minute
	ipFreeFailures      = 20
	ipMaxDelay          = 15 * time.Minute
	// firstDelay is the wait after the last free attempt.
	firstDelay = time.Second
)

// throttleLimits are the limits of one sign-in attempt, the IP's first:
// the client's IP (an IPv6 client's /64, which one host usually has whole)
// and the canonical username (so case and Unicode variants of a name share
// one counter, whether or not the account exists).
func (u *UI) throttleLimits(username string, r *http.Request) []storage.ThrottleLimit {
	return []storage.ThrottleLimit{
		{Key: "ip:" + ipPrefix(u.ClientIP(r)), Free: ipFreeFailures, Delay: firstDelay, MaxDelay: ipMaxDelay},
		{Key: "acct:" + username, Free: accountFreeFailures, Delay: firstDelay, MaxDelay: accountMaxDelay},
	}
}

// ClientIPKey is the request's client IP as the throttle keys name it: an
// IPv4 address whole, an IPv6 client's /64 (ClientIP's "" when it is
// unknown). Other throttles on the sign-in counters (the provider's
// pushed requests) key their IP limits with it.
func (u *UI) ClientIPKey(r *http.Request) string { return ipPrefix(u.ClientIP(r)) }

func ipPrefix(ip string) string {
	parsed := net.ParseIP(ip)
	if parsed == nil || parsed.To4() != nil {
		return ip
	}
	return parsed.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// giveBack takes back an attempt that was not a failure, forgetting the
// counters of forget (the account's, after a success). It outlives the
// request's cancellation: a client that hangs up must not leave its
// attempt counted. A failure is logged: the attempt then stays counted,
// as a failure would.
func (u *UI) giveBack(ctx context.Context, a *storage.LoginAttempt, forget []string) {
	if err := u.store.ReleaseLoginAttempt(context.WithoutCancel(ctx), a, forget); err != nil {
		u.log.WarnContext(ctx, "give back a sign-in attempt", "err", err)
	}
}

// reserveAttempt counts a sign-in attempt on limits before anything is
// checked. When the store fails it answers 503 itself; when a limit
// refuses it sets Retry-After and calls refused with the wait in whole
// seconds, which writes the page. ok is false in both cases.
func (u *UI) reserveAttempt(w http.ResponseWriter, r *http.Request, limits []storage.ThrottleLimit, refused func(secs int)) (*storage.LoginAttempt, bool) {
	attempt, wait, err := u.store.ReserveLoginAttempt(r.Context(), limits, u.now(), throttleWindow)
	if err != nil {
		u.serverError(w, r, "reserve sign-in attempt", err)
		return nil, false
	}
	if wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		refused(secs)
		return nil, false
	}
	return attempt, true
}
