package provider

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse-idp/gatehouse/metrics"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// newMetricsEnv is a test provider that counts into a fresh Metrics.
func newMetricsEnv(t *testing.T, onAdmin bool) (*testEnv, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	e := newTestEnvConfig(t, func(s *sqlite.Store) Store { return s }, func(c *Config) {
		c.Metrics, c.MetricsOnAdmin = m, onAdmin
	})
	return e, m
}

// TestRequestMetricsLabels checks that requests are counted by the route
// that served them, never by their path, and that a request no route
// served is "other".
func TestRequestMetricsLabels(t *testing.T) {
	e, m := newMetricsEnv(t, false)
	crossSite := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader("username=a"))
	crossSite.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	crossSite.Header.Set("Sec-Fetch-Site", "cross-site")
	for _, tt := range []struct {
		req  *http.Request
		want int
	}{
		{httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil), http.StatusOK},
		{httptest.NewRequest(http.MethodGet, "/.well-known/openid-configuration", nil), http.StatusOK},
		{httptest.NewRequest(http.MethodGet, "/assets/style.css", nil), http.StatusOK},
		{httptest.NewRequest(http.MethodGet, "/assets/no-such-9f8e7d.css", nil), http.StatusNotFound},
		{httptest.NewRequest(http.MethodGet, "/no/such/page/0123456789", nil), http.StatusNotFound},
		{httptest.NewRequest("BREW", "/keys", nil), http.StatusMethodNotAllowed},
		{crossSite, http.StatusForbidden},
	} {
		if got := e.do(tt.req).Code; got != tt.want {
			t.Fatalf("%s %s: got %d, want %d", tt.req.Method, tt.req.URL.Path, got, tt.want)
		}
	}
	want := `
# HELP gatehouse_http_requests_total HTTP requests answered, by route pattern ("other" when none matched), method and status.
# TYPE gatehouse_http_requests_total counter
gatehouse_http_requests_total{method="GET",route="/.well-known/openid-configuration",status="200"} 2
gatehouse_http_requests_total{method="GET",route="/assets/*",status="200"} 1
gatehouse_http_requests_total{method="GET",route="/assets/*",status="404"} 1
gatehouse_http_requests_total{method="GET",route="other",status="404"} 1
gatehouse_http_requests_total{method="POST",route="other",status="403"} 1
gatehouse_http_requests_total{method="other",route="other",status="405"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "gatehouse_http_requests_total"); err != nil {
		t.Error(err)
	}

	// /metrics is served on the main surface, and counts itself.
	rec := e.do(httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK || !strings.Contains(string(body), `gatehouse_http_requests_total{method="GET",route="/assets/*",status="404"} 1`) {
		t.Errorf("GET /metrics: got %d\n%s\nwant 200 with the requests above", rec.Code, body)
	}
	rec = e.do(httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := `gatehouse_http_requests_total{method="GET",route="/metrics",status="200"} 1`; !strings.Contains(rec.Body.String(), want) {
		t.Errorf("second GET /metrics: got\n%s\nwant a line %q", rec.Body, want)
	}
}

// TestMetricsOnAdmin checks that with MetricsOnAdmin the main surface has
// no /metrics and the admin surface has it with liveness and readiness.
func TestMetricsOnAdmin(t *testing.T) {
	e, _ := newMetricsEnv(t, true)
	if got := e.do(httptest.NewRequest(http.MethodGet, "/metrics", nil)).Code; got != http.StatusNotFound {
		t.Errorf("GET /metrics on the main surface: got %d, want 404", got)
	}
	admin := e.p.AdminHandler()
	for path, want := range map[string]int{
		"/metrics": http.StatusOK, "/healthz": http.StatusOK, "/readyz": http.StatusOK,
		"/authorize": http.StatusNotFound, "/.well-known/openid-configuration": http.StatusNotFound,
	} {
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("GET %s on the admin surface: got %d, want %d", path, rec.Code, want)
		}
		if path == "/metrics" && !strings.Contains(rec.Body.String(), `route="other",status="404"`) {
			t.Errorf("GET /metrics on the admin surface: got\n%s\nwant the main surface's 404 counted", rec.Body)
		}
	}
}

// TestNoMetrics checks that a provider without Metrics serves no /metrics.
func TestNoMetrics(t *testing.T) {
	e := newTestEnv(t)
	if got := e.do(httptest.NewRequest(http.MethodGet, "/metrics", nil)).Code; got != http.StatusNotFound {
		t.Errorf("GET /metrics without Metrics: got %d, want 404", got)
	}
}

// TestStatusWriter checks the status countRequests records: the first
// final status written, 200 when the handler only writes a body or
// nothing, interim 1xx ignored.
func TestStatusWriter(t *testing.T) {
	for _, tt := range []struct {
		name  string
		write func(w http.ResponseWriter)
		want  int
	}{
		{"nothing", func(http.ResponseWriter) {}, http.StatusOK},
		{"body only", func(w http.ResponseWriter) { w.Write([]byte("x")) }, http.StatusOK},
		{"a status", func(w http.ResponseWriter) { w.WriteHeader(http.StatusCreated) }, http.StatusCreated},
		{"early hints first", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
		}, http.StatusAccepted},
		{"a second status", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusOK) // superfluous: net/http keeps the first
		}, http.StatusNotFound},
		{"a status after the body", func(w http.ResponseWriter) {
			w.Write([]byte("x"))
			w.WriteHeader(http.StatusInternalServerError)
		}, http.StatusOK},
	} {
		sw := &statusWriter{ResponseWriter: httptest.NewRecorder()}
		tt.write(sw)
		if got := sw.status(); got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}
