package storagetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// pushedRequestTests check storage.PushedRequests: a pushed request is
// taken once, only by the client that pushed it, only while live.
var pushedRequestTests = []test{
	{"RoundTrip", testPushedRequestRoundTrip},
	{"PushConflict", testPushedRequestConflict},
	{"Expiry", testPushedRequestExpiry},
	{"OtherClient", testPushedRequestOtherClient},
	{"ConcurrentTake", testConcurrentTakePushedRequest},
}

func newPushedRequest(id, clientID string) storage.PushedRequest {
	return storage.PushedRequest{ID: id, ClientID: clientID,
		Params:    "client_id=" + clientID + "&redirect_uri=https%3A%2F%2Frp.example%2Fcb&scope=openid+email&state=%22%C3%BC%26%3D%22",
		CreatedAt: t0, ExpiresAt: at(time.Minute)}
}

func pushRequest(t *testing.T, s Store, r storage.PushedRequest) {
	t.Helper()
	check(t, "PushRequest("+r.ID+")", s.PushRequest(t.Context(), &r))
}

func wantTakePushed(t *testing.T, s Store, id, clientID string, now time.Time, want storage.PushedRequest) {
	t.Helper()
	got, err := s.TakePushedRequest(t.Context(), id, clientID, now)
	check(t, fmt.Sprintf("TakePushedRequest(%s, %s)", id, clientID), err)
	wantEqual(t, "TakePushedRequest("+id+")", *got, want)
}

func wantNoPushed(t *testing.T, s Store, what, id, clientID string, now time.Time) {
	t.Helper()
	_, err := s.TakePushedRequest(t.Context(), id, clientID, now)
	wantErr(t, what, err, storage.ErrNotFound)
}

func testPushedRequestRoundTrip(t *testing.T, s Store) {
	r := newPushedRequest("p1", "c1")
	r.CreatedAt, r.ExpiresAt = inZone(r.CreatedAt), inZone(r.ExpiresAt)
	pushRequest(t, s, r)
	other := newPushedRequest("p2", "c1")
	pushRequest(t, s, other)
	wantTakePushed(t, s, "p1", "c1", t0, newPushedRequest("p1", "c1"))
	wantNoPushed(t, s, "TakePushedRequest of a request taken already", "p1", "c1", t0)
	wantNoPushed(t, s, "TakePushedRequest of an unknown id", "unknown", "c1", t0)
	wantTakePushed(t, s, "p2", "c1", t0, other)
}

func testPushedRequestConflict(t *testing.T, s Store) {
	pushRequest(t, s, newPushedRequest("p1", "c1"))
	again := newPushedRequest("p1", "c2")
	wantErr(t, "PushRequest with a taken id", s.PushRequest(t.Context(), &again), storage.ErrConflict)
	wantTakePushed(t, s, "p1", "c1", t0, newPushedRequest("p1", "c1"))
}

// testPushedRequestExpiry checks that a request is taken until just
// before its ExpiresAt and never from it on.
func testPushedRequestExpiry(t *testing.T, s Store) {
	r := newPushedRequest("p1", "c1")
	pushRequest(t, s, r)
	wantNoPushed(t, s, "TakePushedRequest at its ExpiresAt", "p1", "c1", r.ExpiresAt)
	wantNoPushed(t, s, "TakePushedRequest after its ExpiresAt", "p1", "c1", r.ExpiresAt.Add(time.Hour))
	wantTakePushed(t, s, "p1", "c1", r.ExpiresAt.Add(-time.Microsecond), r)
}

// testPushedRequestOtherClient checks that another client neither gets a
// request nor uses it up: its owner still takes it afterwards.
func testPushedRequestOtherClient(t *testing.T, s Store) {
	r := newPushedRequest("p1", "c1")
	pushRequest(t, s, r)
	wantNoPushed(t, s, "TakePushedRequest by another client", "p1", "c2", t0)
	wantNoPushed(t, s, "TakePushedRequest by an empty client id", "p1", "", t0)
	wantTakePushed(t, s, "p1", "c1", t0, r)
}

// testConcurrentTakePushedRequest checks single use: of concurrent takes
// of one request exactly one gets it.
func testConcurrentTakePushedRequest(t *testing.T, s Store) {
	for round := range raceRounds {
		r := newPushedRequest(fmt.Sprintf("p%d", round), "c1")
		pushRequest(t, s, r)
		got := make([]*storage.PushedRequest, mfaRacers)
		errs := raceN(mfaRacers, func(i int) error {
			var err error
			got[i], err = s.TakePushedRequest(t.Context(), r.ID, "c1", t0)
			return err
		})
		what := fmt.Sprintf("concurrent TakePushedRequest, round %d", round)
		won := oneWinner(t, what, errs, storage.ErrNotFound)
		wantEqual(t, what, *got[won], r)
	}
}
