package loginui

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/gatehouse-idp/gatehouse/clientip"
)

// Behind a trusted proxy (10.0.0.5), every request's peer is the proxy; the
// client is what it appends to X-Forwarded-For. Without the setting, one
// attacker's failures throttled everyone behind the proxy, and sessions and
// events recorded the proxy.
func TestBehindTrustedProxy(t *testing.T) {
	env := newUIEnvWith(t, func(c *Config) {
		c.ClientIP = clientip.New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	})
	env.addUser(t, "alice", testPassword, false)
	const proxy = "10.0.0.5"
	viaProxy := func(req *http.Request, xff string) *http.Request {
		req.RemoteAddr = proxy + ":40000"
		req.Header.Set("X-Forwarded-For", xff)
		return req
	}
	post := func(username, password, xff string) *httptest.ResponseRecorder {
		return env.do(viaProxy(request(http.MethodPost, "/login", env.loginForm("", username, password), BrowserCookie, testBrowser), xff))
	}
	// An attacker behind the proxy spends the IP limit, writing a spoofed
	// address of their own to the left of what the proxy appends.
	for i := range ipFreeFailures {
		post("guess"+string(rune('a'+i)), "x", "203.0.113.66, 198.51.100.66")
	}
	if rec := post("alice", testPassword, "198.51.100.66"); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("attacker after %d failures: status %d, want 429", ipFreeFailures, rec.Code)
	}
	// Alice, behind the same proxy, is not throttled, and her session and
	// sign-in event carry her address, not the proxy's.
	rec := post("alice", testPassword, "198.51.100.7")
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("alice behind the same proxy: status %d, want 303", rec.Code)
	}
	cookie := responseCookie(rec, SessionCookie)
	s, err := env.store.Session(t.Context(), Hash(cookie.Value), *env.clock)
	if err != nil || s.IP != "198.51.100.7" {
		t.Errorf("alice's session IP: %+v %v, want 198.51.100.7", s, err)
	}
	for _, ev := range *env.events {
		want := map[string]string{EventSignInFailed: "198.51.100.66", EventSignInThrottled: "198.51.100.66", EventSignIn: "198.51.100.7"}[ev.Kind]
		if ev.IP != want {
			t.Errorf("%s event: IP %q, want %q", ev.Kind, ev.IP, want)
		}
	}
	// Alice comes back through the proxy from another address: the change
	// is her address's, audited as such.
	req := viaProxy(browserReq(http.MethodGet, "/account", nil, cookie.Value, "", ""), "192.0.2.44")
	req.Header.Del("User-Agent")
	if _, _, err := env.u.UseSession(t.Context(), httptest.NewRecorder(), req, ""); err != nil {
		t.Fatal(err)
	}
	last := (*env.events)[len(*env.events)-1]
	if last.Kind != EventSessionIPChanged || last.Detail != "198.51.100.7 → 192.0.2.44" {
		t.Errorf("last event: %+v, want %s 198.51.100.7 → 192.0.2.44", last, EventSessionIPChanged)
	}

	// A client that reaches Gatehouse directly cannot use the header to
	// pose as someone else: its peer address is what counts.
	direct := request(http.MethodPost, "/login", env.loginForm("", "guess-direct", "x"), BrowserCookie, testBrowser)
	direct.RemoteAddr = "192.0.2.200:5000"
	direct.Header.Set("X-Forwarded-For", "198.51.100.7")
	env.do(direct)
	if ev := (*env.events)[len(*env.events)-1]; ev.Kind != EventSignInFailed || ev.IP != "192.0.2.200" {
		t.Errorf("direct request with a spoofed header: event %+v, want %s from 192.0.2.200", ev, EventSignInFailed)
	}
}
