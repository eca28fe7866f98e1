package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// deviceTests check storage.DeviceAuthorizations.
var deviceTests = []test{
	{"RoundTrip", testDeviceRoundTrip},
	{"CreateConflict", testDeviceCreateConflict},
	{"Decide", testDeviceDecide},
	{"Poll", testDevicePoll},
	{"Redeem", testDeviceRedeem},
	{"ConcurrentDecide", testDeviceConcurrentDecide},
	{"ConcurrentPoll", testDeviceConcurrentPoll},
	{"ConcurrentRedeem", testDeviceConcurrentRedeem},
}

// deviceSlowDown is what a too-early poll adds to the interval in these
// tests (RFC 8628 §3.5's 5 seconds).
const deviceSlowDown = 5 * time.Second

// newDevice returns a pending device sign-in named by id: its device code
// hash is "dc-"+id, its user code the first eight letters of userCode.
func newDevice(id, userCode string) storage.DeviceAuthorization {
	return storage.DeviceAuthorization{
		DeviceCodeHash: "dc-" + id,
		UserCode:       userCode,
		ClientID:       "tv-" + id,
		Scopes:         []string{"openid", "offline_access"},
		ACRValues:      []string{"https://refeds.org/profile/mfa"},
		CreatedAt:      t0,
		// Odd microseconds, as the other records of the suite.
		ExpiresAt: at(10*time.Minute + time.Microsecond),
		KeepUntil: at(20*time.Minute + time.Microsecond),
		Interval:  5 * time.Second,
		Status:    storage.DevicePending,
	}
}

func createDevice(t *testing.T, s Store, d storage.DeviceAuthorization) {
	t.Helper()
	check(t, "CreateDeviceAuthorization("+d.DeviceCodeHash+")", s.CreateDeviceAuthorization(t.Context(), &d))
}

func approval(id string) storage.DeviceDecision {
	return storage.DeviceDecision{Approved: true, UserID: "user-" + id, SessionID: "session-" + id,
		AuthTime: at(-time.Minute), AMR: []string{"pwd", "otp"}}
}

func testDeviceRoundTrip(t *testing.T, s Store) {
	d := newDevice("a", "BCDFGHJK")
	createDevice(t, s, d)
	for _, now := range []time.Time{inZone(t0), d.ExpiresAt.Add(-time.Microsecond)} {
		got, err := s.DeviceAuthorizationByUserCode(t.Context(), "BCDFGHJK", now)
		check(t, "DeviceAuthorizationByUserCode", err)
		wantEqual(t, "DeviceAuthorizationByUserCode", *got, d)
	}
	_, err := s.DeviceAuthorizationByUserCode(t.Context(), "BCDFGHJK", d.ExpiresAt)
	wantErr(t, "DeviceAuthorizationByUserCode at its expiry", err, storage.ErrNotFound)
	for _, code := range []string{"BCDFGHJL", "bcdfghjk", "", "dc-a"} {
		_, err := s.DeviceAuthorizationByUserCode(t.Context(), code, t0)
		wantErr(t, fmt.Sprintf("DeviceAuthorizationByUserCode(%q), another code", code), err, storage.ErrNotFound)
	}
}

func testDeviceCreateConflict(t *testing.T, s Store) {
	createDevice(t, s, newDevice("a", "BCDFGHJK"))
	again := newDevice("a", "LMNPQRST")
	wantErr(t, "CreateDeviceAuthorization with a stored device code hash", s.CreateDeviceAuthorization(t.Context(), &again), storage.ErrConflict)
	_, err := s.DeviceAuthorizationByUserCode(t.Context(), "LMNPQRST", t0)
	wantErr(t, "the user code of a refused record", err, storage.ErrNotFound)

	taken := newDevice("b", "BCDFGHJK")
	wantErr(t, "CreateDeviceAuthorization with a stored user code", s.CreateDeviceAuthorization(t.Context(), &taken), storage.ErrConflict)
	_, _, err = s.PollDeviceAuthorization(t.Context(), "dc-b", t0, deviceSlowDown)
	wantErr(t, "polling the device code of a refused record", err, storage.ErrNotFound)
	got, err := s.DeviceAuthorizationByUserCode(t.Context(), "BCDFGHJK", t0)
	check(t, "DeviceAuthorizationByUserCode", err)
	if got.DeviceCodeHash != "dc-a" {
		t.Errorf("the user code names %q, want the first record's dc-a", got.DeviceCodeHash)
	}
}

func testDeviceDecide(t *testing.T, s Store) {
	d := newDevice("a", "BCDFGHJK")
	createDevice(t, s, d)
	dec := approval("a")
	check(t, "DecideDeviceAuthorization(approve)", s.DecideDeviceAuthorization(t.Context(), "dc-a", dec, at(time.Minute)))
	want := d
	want.Status, want.UserID, want.SessionID, want.AuthTime, want.AMR = storage.DeviceApproved, dec.UserID, dec.SessionID, dec.AuthTime, dec.AMR
	got, err := s.DeviceAuthorizationByUserCode(t.Context(), "BCDFGHJK", at(time.Minute))
	check(t, "DeviceAuthorizationByUserCode", err)
	wantEqual(t, "approved", *got, want)
	for _, again := range []storage.DeviceDecision{approval("b"), {}} {
		wantErr(t, "deciding again", s.DecideDeviceAuthorization(t.Context(), "dc-a", again, at(time.Minute)), storage.ErrConflict)
	}
	got, _ = s.DeviceAuthorizationByUserCode(t.Context(), "BCDFGHJK", at(time.Minute))
	wantEqual(t, "after refused decisions", *got, want)

	createDevice(t, s, newDevice("b", "LMNPQRST"))
	check(t, "DecideDeviceAuthorization(deny)", s.DecideDeviceAuthorization(t.Context(), "dc-b", storage.DeviceDecision{UserID: "ignored"}, t0))
	got, err = s.DeviceAuthorizationByUserCode(t.Context(), "LMNPQRST", t0)
	check(t, "DeviceAuthorizationByUserCode", err)
	if got.Status != storage.DeviceDenied || got.UserID != "" {
		t.Errorf("denied: got status %q user %q, want %q and no user", got.Status, got.UserID, storage.DeviceDenied)
	}
	wantErr(t, "approving a denied one", s.DecideDeviceAuthorization(t.Context(), "dc-b", approval("b"), t0), storage.ErrConflict)

	c := newDevice("c", "VWXZBCDF")
	createDevice(t, s, c)
	wantErr(t, "deciding at the expiry", s.DecideDeviceAuthorization(t.Context(), "dc-c", approval("c"), c.ExpiresAt), storage.ErrNotFound)
	wantErr(t, "deciding an unknown one", s.DecideDeviceAuthorization(t.Context(), "dc-none", approval("c"), t0), storage.ErrNotFound)
	got, _ = s.DeviceAuthorizationByUserCode(t.Context(), "VWXZBCDF", t0)
	if got.Status != storage.DevicePending {
		t.Errorf("after a decision at the expiry: got status %q, want pending", got.Status)
	}
}

func testDevicePoll(t *testing.T, s Store) {
	d := newDevice("a", "BCDFGHJK")
	createDevice(t, s, d)
	poll := func(now time.Time, wantSlow bool, wantInterval time.Duration) {
		t.Helper()
		got, slow, err := s.PollDeviceAuthorization(t.Context(), "dc-a", now, deviceSlowDown)
		check(t, "PollDeviceAuthorization", err)
		if slow != wantSlow || got.Interval != wantInterval || !got.LastPoll.Equal(now) {
			t.Errorf("poll at t0%+v: got slow %v, interval %v, last poll %v; want %v, %v, %v",
				now.Sub(t0), slow, got.Interval, got.LastPoll, wantSlow, wantInterval, now)
		}
	}
	poll(at(time.Second), false, 5*time.Second) // a first poll is never slow
	poll(at(6*time.Second-time.Microsecond), true, 10*time.Second)
	poll(at(16*time.Second-time.Microsecond), false, 10*time.Second) // exactly the new interval
	poll(at(17*time.Second), true, 15*time.Second)
	poll(at(32*time.Second), false, 15*time.Second)
	// Kept after its expiry, until KeepUntil, so that the device learns it
	// expired.
	got, _, err := s.PollDeviceAuthorization(t.Context(), "dc-a", d.ExpiresAt.Add(time.Minute), deviceSlowDown)
	check(t, "PollDeviceAuthorization after the expiry", err)
	if got.Status != storage.DevicePending || !got.ExpiresAt.Equal(d.ExpiresAt) || got.UserCode != d.UserCode {
		t.Errorf("after the expiry: got %+v, want the pending record", got)
	}
	_, _, err = s.PollDeviceAuthorization(t.Context(), "dc-none", t0, deviceSlowDown)
	wantErr(t, "polling an unknown device code", err, storage.ErrNotFound)
}

func testDeviceRedeem(t *testing.T, s Store) {
	d := newDevice("a", "BCDFGHJK")
	createDevice(t, s, d)
	wantErr(t, "redeeming a pending one", s.RedeemDeviceAuthorization(t.Context(), "dc-a", "claim-1", t0), storage.ErrNotFound)
	check(t, "DecideDeviceAuthorization", s.DecideDeviceAuthorization(t.Context(), "dc-a", approval("a"), t0))
	wantErr(t, "redeeming at the expiry", s.RedeemDeviceAuthorization(t.Context(), "dc-a", "claim-1", d.ExpiresAt), storage.ErrNotFound)
	check(t, "RedeemDeviceAuthorization", s.RedeemDeviceAuthorization(t.Context(), "dc-a", "claim-1", t0))
	check(t, "RedeemDeviceAuthorization again, same claim", s.RedeemDeviceAuthorization(t.Context(), "dc-a", "claim-1", at(time.Second)))
	wantErr(t, "redeeming by another claim", s.RedeemDeviceAuthorization(t.Context(), "dc-a", "claim-2", at(time.Second)), storage.ErrRedeemed)
	got, _, err := s.PollDeviceAuthorization(t.Context(), "dc-a", at(time.Minute), deviceSlowDown)
	check(t, "PollDeviceAuthorization", err)
	if got.Status != storage.DeviceRedeemed || got.RedeemedBy != "claim-1" || got.UserID != "user-a" {
		t.Errorf("after the redemption: got status %q by %q for %q, want redeemed by claim-1 for user-a", got.Status, got.RedeemedBy, got.UserID)
	}

	createDevice(t, s, newDevice("b", "LMNPQRST"))
	check(t, "DecideDeviceAuthorization(deny)", s.DecideDeviceAuthorization(t.Context(), "dc-b", storage.DeviceDecision{}, t0))
	wantErr(t, "redeeming a denied one", s.RedeemDeviceAuthorization(t.Context(), "dc-b", "claim-1", t0), storage.ErrNotFound)
	wantErr(t, "redeeming an unknown one", s.RedeemDeviceAuthorization(t.Context(), "dc-none", "claim-1", t0), storage.ErrNotFound)
}

func testDeviceConcurrentDecide(t *testing.T, s Store) {
	for round := range raceRounds {
		id := fmt.Sprint(round)
		createDevice(t, s, newDevice(id, fmt.Sprintf("BCDF%04d", round)))
		errs := race(func(i int) error {
			dec := approval(fmt.Sprint(i))
			dec.Approved = i%2 == 0
			return s.DecideDeviceAuthorization(t.Context(), "dc-"+id, dec, t0)
		})
		w := oneWinner(t, "DecideDeviceAuthorization", errs, storage.ErrConflict)
		got, err := s.DeviceAuthorizationByUserCode(t.Context(), fmt.Sprintf("BCDF%04d", round), t0)
		check(t, "DeviceAuthorizationByUserCode", err)
		if w%2 == 0 && (got.Status != storage.DeviceApproved || got.UserID != fmt.Sprint("user-", w)) ||
			w%2 == 1 && got.Status != storage.DeviceDenied {
			t.Fatalf("round %d: winner %d, got status %q user %q", round, w, got.Status, got.UserID)
		}
	}
}

func testDeviceConcurrentPoll(t *testing.T, s Store) {
	d := newDevice("a", "BCDFGHJK")
	createDevice(t, s, d)
	slows := make([]bool, racers)
	errs := race(func(i int) error {
		_, slow, err := s.PollDeviceAuthorization(t.Context(), "dc-a", at(time.Second), deviceSlowDown)
		slows[i] = slow
		return err
	})
	n := 0
	for i, err := range errs {
		check(t, "PollDeviceAuthorization", err)
		if slows[i] {
			n++
		}
	}
	got, _, err := s.PollDeviceAuthorization(t.Context(), "dc-a", at(time.Hour), deviceSlowDown)
	check(t, "PollDeviceAuthorization", err)
	if n != racers-1 || got.Interval != d.Interval+time.Duration(racers-1)*deviceSlowDown {
		t.Errorf("%d polls at one instant: got %d slow and interval %v, want %d and %v (every poll but the first seen by the next)",
			racers, n, got.Interval, racers-1, d.Interval+time.Duration(racers-1)*deviceSlowDown)
	}
}

func testDeviceConcurrentRedeem(t *testing.T, s Store) {
	for round := range raceRounds {
		id := fmt.Sprint(round)
		createDevice(t, s, newDevice(id, fmt.Sprintf("BCDF%04d", round)))
		check(t, "DecideDeviceAuthorization", s.DecideDeviceAuthorization(t.Context(), "dc-"+id, approval(id), t0))
		errs := race(func(i int) error {
			return s.RedeemDeviceAuthorization(t.Context(), "dc-"+id, fmt.Sprint("claim-", i), t0)
		})
		oneWinner(t, "RedeemDeviceAuthorization", errs, storage.ErrRedeemed)
	}
}
