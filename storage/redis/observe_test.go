package redis

import (
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/storagetest"
)

func TestObserver(t *testing.T) {
	rec := &storagetest.CallRecorder{}
	s := openTest(t)
	// A second store on the same prefix, with the observer (openTest
	// cleans up the keys and closes the first).
	obs, err := Open(t.Context(), Options{URL: testURL(), Prefix: s.prefix, Timeout: 2 * time.Second, Observer: rec})
	mustOK(t, "Open", err)
	t.Cleanup(func() { obs.Close() })
	ctx := t.Context()
	if got := rec.Take(); !slices.Contains(got, storagetest.ObservedCall{Backend: "redis", Op: "ping"}) {
		t.Errorf("Open: got calls %v, want its ping among them", got)
	}
	// Warm the scripts and the pipeline pool, so each operation below
	// makes the calls it makes in steady state.
	mustOK(t, "CreateSession", obs.CreateSession(ctx, &storage.Session{ID: "warm", UserID: "warm", ExpiresAt: t0}))
	mustOK(t, "warm", obs.updateSession.Load(ctx, obs.rdb).Err())
	_, err = obs.UserSessions(ctx, "warm", t0.Add(-time.Hour))
	mustOK(t, "warm", err)

	now := t0.Add(-time.Hour)
	tests := []struct {
		name string
		op   func()
		want []storagetest.ObservedCall
	}{
		{"CreateSession", func() {
			mustOK(t, "CreateSession", obs.CreateSession(ctx, &storage.Session{ID: "s1", UserID: "alice", ExpiresAt: t0}))
		}, []storagetest.ObservedCall{{Backend: "redis", Op: "evalsha"}, {Backend: "redis", Op: "pipeline"}}},
		// A missing key is an answer, not a failure.
		{"Session of a missing id", func() {
			_, err := obs.Session(ctx, "nope", now)
			wantNotFound(t, "Session", err)
		}, []storagetest.ObservedCall{{Backend: "redis", Op: "get"}}},
		{"UpdateSession", func() {
			mustOK(t, "UpdateSession", obs.UpdateSession(ctx, &storage.Session{ID: "s1", ExpiresAt: t0}, now))
		}, []storagetest.ObservedCall{{Backend: "redis", Op: "pipeline"}}},
		{"a failing command", func() {
			// The active set, made a string for a moment: WRONGTYPE.
			mustOK(t, "SET", s.rdb.Set(ctx, s.activeKey(), "x", time.Minute).Err())
			if _, err := obs.ActiveSessions(ctx, now); err == nil {
				t.Error("ActiveSessions over a string: got no error")
			}
			mustOK(t, "DEL", s.rdb.Del(ctx, s.activeKey()).Err())
		}, []storagetest.ObservedCall{{Backend: "redis", Op: "pipeline", Failed: true}}},
	}
	rec.Take()
	for _, tt := range tests {
		tt.op()
		if got := rec.Take(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got calls %v, want %v", tt.name, got, tt.want)
		}
	}
	if st := obs.PoolStats(); st.TotalConns < 1 || st.Hits < 1 {
		t.Errorf("PoolStats: got %+v, want at least one connection and one hit", *st)
	}
}
