package redis

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Each benchmark reports, besides time and allocations, its round trips to
// Redis per operation (rt/op), counted by a go-redis hook.

func reportRoundTrips(b *testing.B, rt func() int) {
	b.ReportMetric(float64(rt())/float64(b.N), "rt/op")
}

func BenchmarkCreateSession(b *testing.B) {
	s := openTest(b)
	now := time.Now()
	rt := roundTrips(s)
	i := 0
	for b.Loop() {
		i++
		sess := typicalSession(fmt.Sprintf("%064d", i), now)
		if err := s.CreateSession(b.Context(), &sess); err != nil {
			b.Fatal(err)
		}
	}
	reportRoundTrips(b, rt)
}

func BenchmarkSession(b *testing.B) {
	s := openTest(b)
	now := time.Now()
	sess := typicalSession(fmt.Sprintf("%064d", 1), now)
	if err := s.CreateSession(b.Context(), &sess); err != nil {
		b.Fatal(err)
	}
	rt := roundTrips(s)
	for b.Loop() {
		if _, err := s.Session(b.Context(), sess.ID, now); err != nil {
			b.Fatal(err)
		}
	}
	reportRoundTrips(b, rt)
}

// BenchmarkUpdateSession is the write a session check adds when the
// session was last written over a minute ago or the app is new to it.
func BenchmarkUpdateSession(b *testing.B) {
	s := openTest(b)
	now := time.Now()
	sess := typicalSession(fmt.Sprintf("%064d", 1), now)
	if err := s.CreateSession(b.Context(), &sess); err != nil {
		b.Fatal(err)
	}
	rt := roundTrips(s)
	for b.Loop() {
		sess.LastSeen = sess.LastSeen.Add(time.Second)
		if err := s.UpdateSession(b.Context(), &sess, now); err != nil {
			b.Fatal(err)
		}
	}
	reportRoundTrips(b, rt)
}

// BenchmarkUserSessions lists a user's five sessions.
func BenchmarkUserSessions(b *testing.B) {
	s := openTest(b)
	now := time.Now()
	for i := range 5 {
		sess := typicalSession(fmt.Sprintf("%064d", i), now)
		if err := s.CreateSession(b.Context(), &sess); err != nil {
			b.Fatal(err)
		}
	}
	rt := roundTrips(s)
	for b.Loop() {
		list, err := s.UserSessions(b.Context(), "7c9e6679-7425-40de-944b-e07fc1f90ae7", now)
		if err != nil || len(list) != 5 {
			b.Fatalf("UserSessions: got %d sessions, %v; want 5", len(list), err)
		}
	}
	reportRoundTrips(b, rt)
}

func BenchmarkCreateAuthRequest(b *testing.B) {
	s := openTest(b)
	now := time.Now()
	rt := roundTrips(s)
	i := 0
	for b.Loop() {
		i++
		r := typicalAuthRequest(strconv.Itoa(i), now)
		if err := s.CreateAuthRequest(b.Context(), &r); err != nil {
			b.Fatal(err)
		}
	}
	reportRoundTrips(b, rt)
}

// BenchmarkCodeFlow is what follows the creation of an auth request in one
// sign-in: complete it, save the code, take the code. Creating the request
// is not timed (see BenchmarkCreateAuthRequest).
func BenchmarkCodeFlow(b *testing.B) {
	s := openTest(b)
	ctx := b.Context()
	now := time.Now()
	login := storage.Login{UserID: "7c9e6679-7425-40de-944b-e07fc1f90ae7", SessionID: fmt.Sprintf("%064d", 1),
		AuthTime: now, AMR: []string{"pwd"}}
	rt := roundTrips(s)
	created := 0
	i := 0
	for b.Loop() {
		i++
		id, code := strconv.Itoa(i), fmt.Sprintf("%064d", i)
		b.StopTimer()
		r := typicalAuthRequest(id, now)
		if err := s.CreateAuthRequest(ctx, &r); err != nil {
			b.Fatal(err)
		}
		created++
		b.StartTimer()
		if err := s.CompleteAuthRequest(ctx, id, login, now); err != nil {
			b.Fatal(err)
		}
		if err := s.SaveCode(ctx, id, code, now.Add(time.Minute), now); err != nil {
			b.Fatal(err)
		}
		if _, err := s.ClaimCode(ctx, code, "bench", now, 10*time.Second); err != nil {
			b.Fatal(err)
		}
		if err := s.RedeemCode(ctx, code, "bench", now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(rt()-created)/float64(b.N), "rt/op")
}
