package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// pushCountingStore is the real store, counting the pushed requests it
// stored; its throttle counters fail while throttleFailing is set, its
// pushed-request writes while pushFailing is.
type pushCountingStore struct {
	*sqlite.Store
	stored          *atomic.Int64
	throttleFailing *atomic.Bool
	pushFailing     *atomic.Bool
}

func (s pushCountingStore) PushRequest(ctx context.Context, r *storage.PushedRequest) error {
	if s.pushFailing.Load() {
		return errors.New("injected: database unavailable")
	}
	err := s.Store.PushRequest(ctx, r)
	if err == nil {
		s.stored.Add(1)
	}
	return err
}

func (s pushCountingStore) ReserveLoginAttempt(ctx context.Context, limits []storage.ThrottleLimit, now time.Time, window time.Duration) (*storage.LoginAttempt, time.Duration, error) {
	if s.throttleFailing.Load() {
		return nil, 0, errors.New("injected: throttle store unavailable")
	}
	return s.Store.ReserveLoginAttempt(ctx, limits, now, window)
}

type pushThrottleEnv struct {
	*testEnv
	s     pushCountingStore
	clock *clock
}

func newPushThrottleEnv(t *testing.T) *pushThrottleEnv {
	e := &pushThrottleEnv{clock: &clock{}}
	e.clock.ns.Store(time.Now().UnixNano())
	e.testEnv = newTestEnvConfig(t, func(s *sqlite.Store) Store {
		e.s = pushCountingStore{Store: s, stored: new(atomic.Int64), throttleFailing: new(atomic.Bool), pushFailing: new(atomic.Bool)}
		return e.s
	}, func(cfg *Config) { cfg.Now = e.clock.now })
	return e
}

// pushFrom pushes a valid request of client id (public "native", or
// confidential "web" with its secret over Basic) from the client IP ip.
func (e *pushThrottleEnv) pushFrom(t *testing.T, ip, id string) *httptest.ResponseRecorder {
	form, _ := authParams(t, id)
	if id == "native" {
		form.Set("redirect_uri", "http://127.0.0.1:4711/callback")
	}
	req := httptest.NewRequest(http.MethodPost, testIssuer+parPath, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = ip + ":40000"
	if strings.Contains(ip, ":") {
		req.RemoteAddr = "[" + ip + "]:40000"
	}
	if id == "web" {
		req.SetBasicAuth("web", testWebSecret)
	}
	return e.do(req)
}

// wantThrottled checks that rec is a throttled push: 429, Retry-After
// retry (seconds), an invalid_request body, no request_uri.
func wantThrottled(t *testing.T, what string, rec *httptest.ResponseRecorder, retry string) {
	t.Helper()
	checkTokenResponse(t, rec, http.StatusTooManyRequests, "invalid_request")
	if got := rec.Header().Get("Retry-After"); got != retry {
		t.Errorf("%s: Retry-After %q, want %q", what, got, retry)
	}
	if strings.Contains(rec.Body.String(), "request_uri") {
		t.Errorf("%s: a throttled push answered a request_uri: %s", what, rec.Body)
	}
}

// TestPushThrottle: a public client's pushes are counted per client IP;
// past the budget they are refused with 429 and nothing is stored; another
// IP, and a confidential client on the same IP, go on.
func TestPushThrottle(t *testing.T) {
	e := newPushThrottleEnv(t)
	const ip, other = "198.51.100.7", "203.0.113.9"
	for i := range perIPFree {
		if rec := e.pushFrom(t, ip, "native"); rec.Code != http.StatusCreated {
			t.Fatalf("push %d of %d free ones: got %d %s, want 201", i+1, perIPFree, rec.Code, rec.Body)
		}
	}
	if got := e.s.stored.Load(); got != perIPFree {
		t.Fatalf("rows stored after the free pushes: got %d, want %d", got, perIPFree)
	}
	for i := range 5 {
		wantThrottled(t, "push past the budget", e.pushFrom(t, ip, "native"), "1")
		if got := e.s.stored.Load(); got != perIPFree {
			t.Fatalf("rows stored after %d refused pushes: got %d, want %d", i+1, got, perIPFree)
		}
	}
	// A bad push from the throttled IP is refused before its parameters are checked.
	bad := httptest.NewRequest(http.MethodPost, testIssuer+parPath, strings.NewReader(url.Values{"client_id": {"native"}}.Encode()))
	bad.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	bad.RemoteAddr = ip + ":40001"
	wantThrottled(t, "push without parameters", e.do(bad), "1")

	t.Run("another IP", func(t *testing.T) {
		checkTokenResponse(t, e.pushFrom(t, other, "native"), http.StatusCreated, "")
	})
	t.Run("confidential client on the throttled IP", func(t *testing.T) {
		for i := range perIPFree + 5 {
			if rec := e.pushFrom(t, ip, "web"); rec.Code != http.StatusCreated {
				t.Fatalf("web's push %d: got %d %s, want 201", i+1, rec.Code, rec.Body)
			}
		}
	})
	t.Run("the delay doubles, then the counter lapses", func(t *testing.T) {
		e.clock.advance(time.Second)
		checkTokenResponse(t, e.pushFrom(t, ip, "native"), http.StatusCreated, "")
		wantThrottled(t, "push right after the 31st", e.pushFrom(t, ip, "native"), "2")
		e.clock.advance(perIPWindow)
		for i := range perIPFree {
			if rec := e.pushFrom(t, ip, "native"); rec.Code != http.StatusCreated {
				t.Fatalf("push %d after the counter lapsed: got %d %s, want 201", i+1, rec.Code, rec.Body)
			}
		}
		wantThrottled(t, "push past the renewed budget", e.pushFrom(t, ip, "native"), "1")
	})
	t.Run("an IPv6 client's /64 shares one counter", func(t *testing.T) {
		for i := range perIPFree {
			// Each push from another address of 2001:db8:1:2::/64.
			addr := fmt.Sprintf("2001:db8:1:2::%x", i+1)
			if rec := e.pushFrom(t, addr, "native"); rec.Code != http.StatusCreated {
				t.Fatalf("push %d from %s: got %d %s, want 201", i+1, addr, rec.Code, rec.Body)
			}
		}
		wantThrottled(t, "push from another address of the /64", e.pushFrom(t, "2001:db8:1:2:ffff::1", "native"), "1")
		checkTokenResponse(t, e.pushFrom(t, "2001:db8:1:3::1", "native"), http.StatusCreated, "")
	})
}

// TestPushThrottleStoreFailure: when the throttle counters fail, a public
// client's push is a 503 with Retry-After (never a 4xx) and nothing is
// stored; a push that fails to be stored gives its count back.
func TestPushThrottleStoreFailure(t *testing.T) {
	e := newPushThrottleEnv(t)
	const ip = "198.51.100.8"
	e.s.throttleFailing.Store(true)
	rec := e.pushFrom(t, ip, "native")
	checkTokenResponse(t, rec, http.StatusServiceUnavailable, "server_error")
	if rec.Header().Get("Retry-After") == "" {
		t.Error("Retry-After: got none on a 503")
	}
	if strings.Contains(rec.Body.String(), "injected") {
		t.Errorf("the response leaks internal error text: %s", rec.Body)
	}
	if got := e.s.stored.Load(); got != 0 {
		t.Errorf("rows stored while the throttle failed: got %d, want 0", got)
	}
	// A confidential client does not use the counters.
	checkTokenResponse(t, e.pushFrom(t, ip, "web"), http.StatusCreated, "")
	e.s.throttleFailing.Store(false)

	e.s.pushFailing.Store(true)
	checkTokenResponse(t, e.pushFrom(t, ip, "native"), http.StatusServiceUnavailable, "server_error")
	e.s.pushFailing.Store(false)
	f, err := e.s.LoginFailures(t.Context(), []string{parBudget.prefix + ip}, e.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	if f[0].Count != 0 {
		t.Errorf("count after a push the store failed to keep: got %d, want 0 (given back)", f[0].Count)
	}
	checkTokenResponse(t, e.pushFrom(t, ip, "native"), http.StatusCreated, "")
}
