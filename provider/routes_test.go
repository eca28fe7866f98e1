package provider

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// T-L1 / T-A7 at the router: cross-site form posts are refused, and the
// provider's own HTML pages carry the UI's security headers.
func TestRoutesCrossSiteAndHeaders(t *testing.T) {
	env := newTestEnv(t)
	tests := []struct {
		name       string
		req        func() *http.Request
		wantStatus int
	}{
		{"cross-site login post", func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, testIssuer+"/login", strings.NewReader(url.Values{"username": {testUsername}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			return req
		}, http.StatusForbidden},
		{"foreign-origin sign-out post", func() *http.Request {
			req := httptest.NewRequest(http.MethodPost, testIssuer+"/account/signout", strings.NewReader("csrf_token=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://evil.example")
			return req
		}, http.StatusForbidden},
		{"authorize with an unregistered redirect", func() *http.Request {
			q := url.Values{"client_id": {"web"}, "redirect_uri": {"https://app.example/CB"}, "response_type": {"code"}, "scope": {"openid"}}
			return httptest.NewRequest(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil)
		}, http.StatusBadRequest},
		{"authorize with an unknown client", func() *http.Request {
			q := url.Values{"client_id": {"nobody"}, "redirect_uri": {webRedirect}, "response_type": {"code"}, "scope": {"openid"}}
			return httptest.NewRequest(http.MethodGet, testIssuer+"/authorize?"+q.Encode(), nil)
		}, http.StatusBadRequest},
		{"not found", func() *http.Request {
			return httptest.NewRequest(http.MethodGet, testIssuer+"/nope", nil)
		}, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := env.do(tt.req())
			if rec.Code != tt.wantStatus {
				t.Errorf("status: got %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Errorf("Location: got %q, want no redirect", loc)
			}
			h := rec.Header()
			if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy: got %q, want frame-ancestors 'none'", csp)
			}
			for name, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
				if got := h.Get(name); got != want {
					t.Errorf("%s: got %q, want %q", name, got, want)
				}
			}
		})
	}
}

// TestHealthz: liveness answers 200 with a short body on both surfaces
// (probes and scripts take 204 or an empty body for a failure), to GET and
// HEAD, and is never cached.
func TestHealthz(t *testing.T) {
	e, _ := newMetricsEnv(t, true)
	for name, h := range map[string]http.Handler{"main": e.p.Handler(http.NotFoundHandler()), "admin": e.p.AdminHandler()} {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, "/healthz", nil))
			if rec.Code != http.StatusOK {
				t.Errorf("%s /healthz on the %s surface: got %d, want 200", method, name, rec.Code)
			}
			if method == http.MethodGet && rec.Body.String() != "ok\n" {
				t.Errorf("GET /healthz on the %s surface: got body %q, want %q", name, rec.Body, "ok\n")
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("%s /healthz on the %s surface: Content-Type %q, want text/plain; charset=utf-8", method, name, ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("%s /healthz on the %s surface: Cache-Control %q, want no-store", method, name, cc)
			}
		}
	}
}
