package redis

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// call is one Observe call.
type call struct {
	backend, op string
	failed      bool
}

// recorder is a storage.CallObserver that keeps what it is told.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) Observe(backend, op string, d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{backend, op, err != nil})
}

// take returns the calls since the last take.
func (r *recorder) take() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func TestObserver(t *testing.T) {
	rec := &recorder{}
	s := openTest(t)
	// A second store on the same prefix, with the observer (openTest
	// cleans up the keys and closes the first).
	obs, err := Open(t.Context(), Options{URL: testURL(), Prefix: s.prefix, Timeout: 2 * time.Second, Observer: rec})
	mustOK(t, "Open", err)
	t.Cleanup(func() { obs.Close() })
	ctx := t.Context()
	if got := rec.take(); !slices.Contains(got, call{"redis", "ping", false}) {
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
		want []call
	}{
		{"CreateSession", func() {
			mustOK(t, "CreateSession", obs.CreateSession(ctx, &storage.Session{ID: "s1", UserID: "alice", ExpiresAt: t0}))
		}, []call{{"redis", "evalsha", false}, {"redis", "pipeline", false}}},
		// A missing key is an answer, not a failure.
		{"Session of a missing id", func() {
			_, err := obs.Session(ctx, "nope", now)
			wantNotFound(t, "Session", err)
		}, []call{{"redis", "get", false}}},
		{"UpdateSession", func() {
			mustOK(t, "UpdateSession", obs.UpdateSession(ctx, &storage.Session{ID: "s1", ExpiresAt: t0}, now))
		}, []call{{"redis", "pipeline", false}}},
		{"a failing command", func() {
			// The active set, made a string for a moment: WRONGTYPE.
			mustOK(t, "SET", s.rdb.Set(ctx, s.activeKey(), "x", time.Minute).Err())
			if _, err := obs.ActiveSessions(ctx, now); err == nil {
				t.Error("ActiveSessions over a string: got no error")
			}
			mustOK(t, "DEL", s.rdb.Del(ctx, s.activeKey()).Err())
		}, []call{{"redis", "pipeline", true}}},
	}
	rec.take()
	for _, tt := range tests {
		tt.op()
		if got := rec.take(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got calls %v, want %v", tt.name, got, tt.want)
		}
	}
	if st := obs.PoolStats(); st.TotalConns < 1 || st.Hits < 1 {
		t.Errorf("PoolStats: got %+v, want at least one connection and one hit", *st)
	}
}
