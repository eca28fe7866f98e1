package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// scrape returns the body Handler serves.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: got status %d, want 200", rec.Code)
	}
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// compare checks the named metrics against the exposition text want.
func compare(t *testing.T, m *Metrics, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func TestNilMetricsMeasureNothing(t *testing.T) {
	var m *Metrics
	m.ObserveHTTP("/x", "GET", 200, time.Second)
	m.TokenIssued("client_credentials", "c")
	m.SignIn(SignInSuccess)
	m.RefreshReuseDetected()
	m.BackchannelLogout("delivered")
	m.KeyRotated()
	m.Consent(ConsentGranted)
	m.Observe("redis", "get", time.Millisecond, errors.New("x"))
	m.WatchActiveSessions(func(context.Context, time.Time) (int64, error) { return 1, nil }, time.Now)
	m.WatchKeyAges(func() map[string]time.Duration { return nil })
	m.WatchPostgresPool(func() PostgresPoolStats { return PostgresPoolStats{} })
	m.WatchRedisPool(func() RedisPoolStats { return RedisPoolStats{} })
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("Handler of nil Metrics: got %d, want 404", rec.Code)
	}
}

func TestObserveHTTP(t *testing.T) {
	m := New()
	m.ObserveHTTP("/authorize", http.MethodGet, 302, 30*time.Millisecond)
	m.ObserveHTTP("/authorize", http.MethodGet, 302, 30*time.Millisecond)
	m.ObserveHTTP("", http.MethodGet, 404, time.Millisecond)
	m.ObserveHTTP(OtherRoute, "BREW", 405, time.Millisecond) // a client's method stays out of the labels
	compare(t, m, `
# HELP gatehouse_http_requests_total HTTP requests answered, by route pattern ("other" when none matched), method and status.
# TYPE gatehouse_http_requests_total counter
gatehouse_http_requests_total{method="GET",route="/authorize",status="302"} 2
gatehouse_http_requests_total{method="GET",route="other",status="404"} 1
gatehouse_http_requests_total{method="other",route="other",status="405"} 1
`, "gatehouse_http_requests_total")
	if got := testutil.CollectAndCount(m.httpDuration); got != 3 {
		t.Errorf("duration series: got %d, want 3 (route × method)", got)
	}
	if got, want := scrape(t, m), `gatehouse_http_request_duration_seconds_bucket{method="GET",route="/authorize",le="0.05"} 2`; !strings.Contains(got, want) {
		t.Errorf("scrape: got\n%s\nwant a line %q", got, want)
	}
}

func TestEventCounters(t *testing.T) {
	m := New()
	// Series that exist before anything happened.
	compare(t, m, `
# HELP gatehouse_sign_ins_total Password sign-ins, by result: success, failed or throttled.
# TYPE gatehouse_sign_ins_total counter
gatehouse_sign_ins_total{result="failed"} 0
gatehouse_sign_ins_total{result="success"} 0
gatehouse_sign_ins_total{result="throttled"} 0
# HELP gatehouse_refresh_reuse_detected_total Rotated refresh tokens presented again after the grace window (each revoked its family).
# TYPE gatehouse_refresh_reuse_detected_total counter
gatehouse_refresh_reuse_detected_total 0
`, "gatehouse_sign_ins_total", "gatehouse_refresh_reuse_detected_total")

	m.TokenIssued("authorization_code", "web")
	m.TokenIssued("refresh_token", "web")
	m.TokenIssued("refresh_token", "web")
	m.TokenIssued("client_credentials", "job")
	m.SignIn(SignInSuccess)
	m.SignIn(SignInFailed)
	m.SignIn(SignInFailed)
	m.SignIn(SignInThrottled)
	m.RefreshReuseDetected()
	m.BackchannelLogout("delivered")
	m.BackchannelLogout("gave_up")
	m.KeyRotated()
	m.KeyRotated()
	m.Consent(ConsentRevoked)
	compare(t, m, `
# HELP gatehouse_tokens_issued_total Token responses issued, by grant type (authorization_code, refresh_token, client_credentials) and client.
# TYPE gatehouse_tokens_issued_total counter
gatehouse_tokens_issued_total{client="job",grant_type="client_credentials"} 1
gatehouse_tokens_issued_total{client="web",grant_type="authorization_code"} 1
gatehouse_tokens_issued_total{client="web",grant_type="refresh_token"} 2
# HELP gatehouse_sign_ins_total Password sign-ins, by result: success, failed or throttled.
# TYPE gatehouse_sign_ins_total counter
gatehouse_sign_ins_total{result="failed"} 2
gatehouse_sign_ins_total{result="success"} 1
gatehouse_sign_ins_total{result="throttled"} 1
# HELP gatehouse_refresh_reuse_detected_total Rotated refresh tokens presented again after the grace window (each revoked its family).
# TYPE gatehouse_refresh_reuse_detected_total counter
gatehouse_refresh_reuse_detected_total 1
# HELP gatehouse_backchannel_logout_deliveries_total Back-channel logout notices that reached a final outcome: delivered, rejected, gave_up or dropped.
# TYPE gatehouse_backchannel_logout_deliveries_total counter
gatehouse_backchannel_logout_deliveries_total{outcome="delivered"} 1
gatehouse_backchannel_logout_deliveries_total{outcome="gave_up"} 1
# HELP gatehouse_key_rotations_total Signing keys created by a rotation on this instance.
# TYPE gatehouse_key_rotations_total counter
gatehouse_key_rotations_total 2
# HELP gatehouse_consents_total Consents users gave or withdrew, by action: granted or revoked.
# TYPE gatehouse_consents_total counter
gatehouse_consents_total{action="granted"} 0
gatehouse_consents_total{action="revoked"} 1
`, "gatehouse_tokens_issued_total", "gatehouse_sign_ins_total", "gatehouse_refresh_reuse_detected_total",
		"gatehouse_backchannel_logout_deliveries_total", "gatehouse_key_rotations_total", "gatehouse_consents_total")
}

func TestObserveStoreCalls(t *testing.T) {
	m := New()
	m.Observe("postgres", "select", 2*time.Millisecond, nil)
	m.Observe("postgres", "select", 3*time.Millisecond, errors.New("connection reset"))
	m.Observe("redis", "pipeline", 300*time.Microsecond, nil)
	compare(t, m, `
# HELP gatehouse_store_errors_total Calls to a store's server that failed (not counting a missing row or key, or a refused duplicate), by backend.
# TYPE gatehouse_store_errors_total counter
gatehouse_store_errors_total{backend="postgres"} 1
`, "gatehouse_store_errors_total")
	body := scrape(t, m)
	for _, want := range []string{
		`gatehouse_store_call_duration_seconds_count{backend="postgres",op="select"} 2`,
		`gatehouse_store_call_duration_seconds_bucket{backend="postgres",op="select",le="0.0025"} 1`,
		`gatehouse_store_call_duration_seconds_count{backend="redis",op="pipeline"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape: got\n%s\nwant a line %q", body, want)
		}
	}
}

// TestActiveSessionsCached checks that scrapes within SessionsCacheFor of a
// read reuse it, and that a failed read leaves the gauge out.
func TestActiveSessionsCached(t *testing.T) {
	m := New()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var (
		reads  int
		value  int64 = 7
		fail   error
		gotNow time.Time
	)
	m.WatchActiveSessions(func(ctx context.Context, at time.Time) (int64, error) {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("count: got a context without deadline, want one bounded")
		}
		reads++
		gotNow = at
		return value, fail
	}, func() time.Time { return now })

	const line = "\ngatehouse_sessions_active "
	want := func(what string, wantReads int, wantLine string) {
		t.Helper()
		body := scrape(t, m)
		if reads != wantReads {
			t.Errorf("%s: got %d reads, want %d", what, reads, wantReads)
		}
		switch {
		case wantLine == "" && strings.Contains(body, line):
			t.Errorf("%s: got a gatehouse_sessions_active line, want none:\n%s", what, body)
		case wantLine != "" && !strings.Contains(body, "\n"+wantLine+"\n"):
			t.Errorf("%s: got\n%s\nwant a line %q", what, body, wantLine)
		}
	}
	want("first scrape", 1, "gatehouse_sessions_active 7")
	if !gotNow.Equal(now) {
		t.Errorf("count's now: got %v, want %v", gotNow, now)
	}
	value = 9
	now = now.Add(SessionsCacheFor - time.Millisecond)
	want("scrape within the cache period", 1, "gatehouse_sessions_active 7")
	now = now.Add(time.Millisecond)
	want("scrape after the cache period", 2, "gatehouse_sessions_active 9")
	fail = errors.New("store down")
	now = now.Add(SessionsCacheFor)
	want("scrape after a failed read", 3, "")
	now = now.Add(time.Second)
	want("scrape a second after the failed read", 3, "")
}

func TestWatchKeyAgesAndPools(t *testing.T) {
	m := New()
	m.WatchKeyAges(func() map[string]time.Duration {
		return map[string]time.Duration{"RS256": 90 * time.Second, "EdDSA": time.Hour}
	})
	pg := PostgresPoolStats{Acquired: 3, Idle: 2, Total: 5, Max: 20}
	m.WatchPostgresPool(func() PostgresPoolStats { return pg })
	m.WatchRedisPool(func() RedisPoolStats { return RedisPoolStats{Hits: 40, Misses: 4, Timeouts: 1, Total: 4, Idle: 3} })
	compare(t, m, `
# HELP gatehouse_key_age_seconds Age of the signing key active now, by algorithm: since its creation.
# TYPE gatehouse_key_age_seconds gauge
gatehouse_key_age_seconds{alg="EdDSA"} 3600
gatehouse_key_age_seconds{alg="RS256"} 90
# HELP gatehouse_postgres_pool_connections Connections of the Postgres pool, by state: acquired (in use), idle, total.
# TYPE gatehouse_postgres_pool_connections gauge
gatehouse_postgres_pool_connections{state="acquired"} 3
gatehouse_postgres_pool_connections{state="idle"} 2
gatehouse_postgres_pool_connections{state="total"} 5
# HELP gatehouse_postgres_pool_max_connections The Postgres pool's bound (database_max_conns).
# TYPE gatehouse_postgres_pool_max_connections gauge
gatehouse_postgres_pool_max_connections 20
# HELP gatehouse_redis_pool_hits_total Times the Redis pool had a free connection.
# TYPE gatehouse_redis_pool_hits_total counter
gatehouse_redis_pool_hits_total 40
# HELP gatehouse_redis_pool_misses_total Times the Redis pool had no free connection and opened one.
# TYPE gatehouse_redis_pool_misses_total counter
gatehouse_redis_pool_misses_total 4
# HELP gatehouse_redis_pool_timeouts_total Times waiting for a Redis connection timed out.
# TYPE gatehouse_redis_pool_timeouts_total counter
gatehouse_redis_pool_timeouts_total 1
# HELP gatehouse_redis_pool_connections Connections of the Redis pool, by state: total, idle.
# TYPE gatehouse_redis_pool_connections gauge
gatehouse_redis_pool_connections{state="idle"} 3
gatehouse_redis_pool_connections{state="total"} 4
`, "gatehouse_key_age_seconds", "gatehouse_postgres_pool_connections", "gatehouse_postgres_pool_max_connections",
		"gatehouse_redis_pool_hits_total", "gatehouse_redis_pool_misses_total", "gatehouse_redis_pool_timeouts_total",
		"gatehouse_redis_pool_connections")
	// Read at scrape time, not at registration.
	pg.Acquired = 11
	if body := scrape(t, m); !strings.Contains(body, `gatehouse_postgres_pool_connections{state="acquired"} 11`) {
		t.Errorf("scrape after the pool changed: got\n%s\nwant acquired 11", body)
	}
}

// TestOwnRegistry checks that the runtime and process collectors are on
// the metrics' own registry and that nothing lands on the default one.
func TestOwnRegistry(t *testing.T) {
	m := New()
	m.TokenIssued("client_credentials", "job")
	body := scrape(t, m)
	for _, want := range []string{"\ngo_goroutines ", "\ngo_gc_duration_seconds", "\nprocess_start_time_seconds ", "gatehouse_tokens_issued_total{"} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape: got\n%s\nwant %q in it", body, want)
		}
	}
	// A second New registers the same names again: only a registry of its
	// own lets it.
	New().TokenIssued("client_credentials", "job")
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if strings.HasPrefix(f.GetName(), "gatehouse_") {
			t.Errorf("default registry: got %s, want no gatehouse_ metric", f.GetName())
		}
	}
}
