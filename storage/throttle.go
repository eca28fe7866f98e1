package storage

import (
	"context"
	"errors"
	"time"
)

// LoginFailures is the throttling state of one key (an account or a client
// IP): the attempts counted on it (failed sign-ins, and attempts still
// being checked) and when the latest was counted. A counter lasts a
// window after its latest attempt.
type LoginFailures struct {
	Count int
	Last  time.Time
}

// ThrottleLimit is the limit on one key: the first Free attempts go ahead
// at once; after that, each attempt must come at least Delay after the
// latest one counted, the delay doubling with every further attempt up to
// MaxDelay. A Delay of zero or less is MaxDelay.
type ThrottleLimit struct {
	Key      string
	Free     int
	Delay    time.Duration
	MaxDelay time.Duration
}

// Wait returns how long, at now, an attempt must still wait under l when
// its key's live state is f: zero when it may go ahead.
func (l ThrottleLimit) Wait(f LoginFailures, now time.Time) time.Duration {
	if f.Count < l.Free {
		return 0
	}
	d := l.Delay
	if d <= 0 {
		d = l.MaxDelay
	}
	for i := l.Free; i < f.Count && d < l.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, l.MaxDelay)
	return max(f.Last.Add(d).Sub(now), 0)
}

// LoginAttempt is an attempt ReserveLoginAttempt counted: what
// ReleaseLoginAttempt needs to take it back.
type LoginAttempt struct {
	// At is the now the attempt was counted at.
	At   time.Time
	Keys []ReservedKey
}

// ReservedKey is one key's part of a LoginAttempt.
type ReservedKey struct {
	Key string
	// Count is the key's count with the attempt; PrevLast and PrevExpires
	// are the key's latest attempt and expiry before it (zero when the key
	// had no live counter).
	Count       int
	PrevLast    time.Time
	PrevExpires time.Time
}

// ErrDuplicateKey is returned when one attempt names a key twice.
var ErrDuplicateKey = errors.New("storage: a key is named twice")

// LoginThrottle counts sign-in attempts per key, before their password is
// checked, so that no number of concurrent attempts gets more checks than
// the limits allow. Counters expire on their own a window after their
// latest attempt; no caller ever scans them.
type LoginThrottle interface {
	// ReserveLoginAttempt counts one attempt on the key of every limit
	// when, at now, each of them allows one (ThrottleLimit.Wait is zero
	// for the key's live state): each key's Count goes up by one, its
	// Last becomes now and it expires window after now. The check and the
	// count are one atomic step, so that of concurrent attempts no more go
	// ahead than the limits allow. When a key refuses, nothing stays
	// counted (a refused attempt never lengthens a wait) and the result is
	// nil with wait > 0, the longest Wait of the keys. A backend that
	// cannot count every key in one step counts them in the order given
	// and takes the earlier ones back when a later one refuses, so a key
	// is never charged for an attempt a key before it refused: give the
	// key whose refusal should protect the others first. A counter whose
	// expiry has come at now counts from 0. Keys must be distinct
	// (ErrDuplicateKey).
	ReserveLoginAttempt(ctx context.Context, limits []ThrottleLimit, now time.Time, window time.Duration) (a *LoginAttempt, wait time.Duration, err error)
	// ReleaseLoginAttempt takes back an attempt that was not a failure (the
	// password was right, or never checked). Keys in forget are deleted
	// whatever they hold (the account's, after a successful sign-in).
	// Every other key of a gives its count back; when no attempt was
	// counted on it after a, it returns exactly to its state before a
	// (Last and expiry too), otherwise only its Count goes down. A counter
	// that reaches 0 is deleted; an absent one is left absent.
	ReleaseLoginAttempt(ctx context.Context, a *LoginAttempt, forget []string) error
	// LoginFailures returns the state of each key, in order; a key with no
	// live counter at now has Count 0 and a zero Last.
	LoginFailures(ctx context.Context, keys []string, now time.Time) ([]LoginFailures, error)
}
