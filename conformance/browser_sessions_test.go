package conformance

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

var screenshots = flag.Bool("screenshots", false, "write docs/screenshots/*.png")

// User agents of the two browsers, so the account page tells the devices
// apart as it would for a person.
const (
	laptopUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	phoneUA  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)

// hit is one request an app received.
type hit struct {
	query url.Values
	at    time.Time
}

// testApp is a relying party's web server on a loopback port: its pages
// show a marker element, and what reached each path is handed over.
type testApp struct {
	*httptest.Server
	hits map[string]chan hit
}

// newTestApp serves marker pages for /callback, /bye and
// /frontchannel-logout; the marker of path /p has the id name-p.
func newTestApp(t *testing.T, name string) *testApp {
	a := &testApp{hits: map[string]chan hit{}}
	for _, p := range []string{"/callback", "/bye", "/frontchannel-logout"} {
		a.hits[p] = make(chan hit, 8)
	}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch, ok := a.hits[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		ch <- hit{r.URL.Query(), time.Now()}
		id := name + "-" + strings.TrimPrefix(r.URL.Path, "/")
		fmt.Fprintf(w, "<!doctype html><title>%s</title><p id=%q>%s %s</p>", name, id, name, r.URL.Path)
	}))
	t.Cleanup(a.Close)
	return a
}

// next returns the next request to path, failing the test if none comes
// within the given time.
func (a *testApp) next(t *testing.T, path string, within time.Duration) hit {
	t.Helper()
	select {
	case h := <-a.hits[path]:
		return h
	case <-time.After(within):
		t.Fatalf("%s%s was never requested", a.URL, path)
		return hit{}
	}
}

// TestBrowserSessions drives two Chromium browsers through single sign-on,
// consent, the account page's session list and complete logout: sign in to
// a third-party app (login form, consent page), then to a first-party app
// without a form; end the other browser's session from the account page;
// sign out from the app with id_token_hint, which loads the first-party
// app's front-channel logout URL, returns to the app with state, and posts
// the third-party app a logout token for the session.
func TestBrowserSessions(t *testing.T) {
	ctx := chromium(t)
	rcv := newLogoutReceiver(t)
	appA, appB := newTestApp(t, "a"), newTestApp(t, "b")
	s := startWithClients(t, fmt.Sprintf(`clients:
  - client_id: app-a
    client_name: Team Wiki
    skip_consent: true
    token_endpoint_auth_method: none
    grant_types: [authorization_code]
    redirect_uris: [%[1]s/callback]
    frontchannel_logout_uri: %[1]s/frontchannel-logout
    frontchannel_logout_session_required: true
  - client_id: app-b
    client_name: Print Shop
    client_secret_env: TEST_BASIC_SECRET
    token_endpoint_auth_method: client_secret_basic
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [%[2]s/callback]
    post_logout_redirect_uris: [%[2]s/bye]
    backchannel_logout_uri: %[3]s
    backchannel_logout_session_required: true
`, appA.URL, appB.URL, rcv.url()))
	rA := newRP(t, s, "app-a", "", appA.URL+"/callback", oauth2.AuthStyleInParams)
	rA.conf.Scopes = []string{"openid", "profile"}
	rB := newRP(t, s, "app-b", basicSecret, appB.URL+"/callback", oauth2.AuthStyleInHeader)

	var shots time.Duration // time spent on screenshots, not signing in
	shoot := func(ctx context.Context, name string) {
		if !*screenshots {
			return
		}
		t.Helper()
		begin := time.Now()
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		dir := filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
		shots += time.Since(begin)
	}
	step := func(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		stepCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := chromedp.Do(stepCtx, steps...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("%s: %v (browser at %s)\n%s", what, err, loc, s.log())
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return got
	}
	count := func(ctx context.Context, sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	setUp := func(ctx context.Context, ua string) {
		t.Helper()
		if _, err := chromedp.Call(ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua}); err != nil {
			t.Fatal(err)
		}
		step(ctx, "viewport", chromedp.EmulateViewport(900, 900))
	}
	setUp(ctx, laptopUA)

	// Sign in to the third-party app: login form, consent, code with iss.
	fB := newFlow()
	begin := time.Now()
	step(ctx, "authorize to Print Shop", chromedp.Navigate(rB.authURL(fB)), chromedp.WaitVisible(chromedp.ID("username")))
	shoot(ctx, "login")
	step(ctx, "sign in", chromedp.SendKeys(chromedp.ID("username"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), adminPassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`)))
	if got := text(ctx, "main"); !strings.Contains(got, "Print Shop") || !strings.Contains(got, "See your email address") {
		t.Errorf("consent page: got %q, want the app's name and what it asks for", got)
	}
	shoot(ctx, "consent")
	step(ctx, "allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)), chromedp.WaitVisible(chromedp.ID("b-callback")))
	h := appB.next(t, "/callback", 5*time.Second)
	t.Logf("browser sign-in: %v (login form, consent, code at the app)", (h.at.Sub(begin) - shots).Round(time.Millisecond))
	if h.query.Get("iss") != s.issuer || h.query.Get("state") != fB.state {
		t.Errorf("Print Shop's authorization response: got %v, want iss %s and state %s", h.query, s.issuer, fB.state)
	}
	tokB, idtB := rB.exchange(fB, h.query.Get("code"))
	sid := sessionID(t, idtB)

	// The first-party app: single sign-on, no form and no consent.
	fA := newFlow()
	step(ctx, "authorize to Team Wiki (SSO)", chromedp.Navigate(rA.authURL(fA)), chromedp.WaitVisible(chromedp.ID("a-callback")))
	h = appA.next(t, "/callback", 5*time.Second)
	_, idtA := rA.exchange(fA, h.query.Get("code"))
	if got := sessionID(t, idtA); got != sid || idtA.Subject != idtB.Subject {
		t.Errorf("Team Wiki's ID token: got sid %q sub %q, want the session's %q and %q", got, idtA.Subject, sid, idtB.Subject)
	}
	entries, err := chromedp.Run(ctx, chromedp.NavigationEntries())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries.Entries[max(0, entries.CurrentIndex-1):] {
		if !strings.HasPrefix(e.URL, appB.URL) && !strings.HasPrefix(e.URL, appA.URL) {
			t.Errorf("SSO: the browser showed %s between the apps, want no page", e.URL)
		}
	}

	// A second device signs in as the same user, in its own browser context.
	phone, cancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	defer cancel()
	setUp(phone, phoneUA)
	step(phone, "second browser: sign in", chromedp.Navigate(s.issuer+"/account"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), adminPassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS("ul.sessions")))

	// The first browser sees both sessions and the consent, and ends the
	// phone's session.
	step(ctx, "account page", chromedp.Navigate(s.issuer+"/account"), chromedp.WaitVisible(chromedp.CSS("ul.sessions")))
	if n := count(ctx, "li.session"); n != 2 {
		t.Fatalf("account page: got %d sessions, want 2\n%s", n, text(ctx, "main"))
	}
	if got := text(ctx, "li.session.current"); !strings.Contains(got, "Chrome on Linux") || !strings.Contains(got, "Print Shop") || !strings.Contains(got, "Team Wiki") {
		t.Errorf("this browser's session: got %q, want Chrome on Linux with both apps", got)
	}
	if got := text(ctx, "li.session:not(.current)"); !strings.Contains(got, "Safari on iPhone") {
		t.Errorf("the other session: got %q, want Safari on iPhone", got)
	}
	if got := text(ctx, "ul.consents"); !strings.Contains(got, "Print Shop") || strings.Contains(got, "Team Wiki") {
		t.Errorf("apps allowed: got %q, want Print Shop only (Team Wiki is first-party)", got)
	}
	shoot(ctx, "account")
	step(ctx, "end the other session", chromedp.Click(chromedp.CSS("li.session:not(.current) button")),
		chromedp.WaitVisible(chromedp.CSS("p.notice")))
	if n := count(ctx, "li.session"); n != 1 {
		t.Errorf("account page after ending the other session: got %d sessions, want 1", n)
	}
	step(phone, "second browser: account page", chromedp.Navigate(s.issuer+"/account"), chromedp.WaitVisible(chromedp.ID("username")))
	if loc, _ := chromedp.Run(phone, chromedp.Location()); loc != s.issuer+"/login" {
		t.Errorf("second browser's account page: got %s, want the login page (session ended)", loc)
	}

	// RP-initiated logout from Print Shop.
	idToken, _ := tokB.Extra("id_token").(string)
	logout := s.issuer + "/end_session?" + url.Values{
		"id_token_hint": {idToken}, "post_logout_redirect_uri": {appB.URL + "/bye"}, "state": {"bye-state"},
	}.Encode()
	step(ctx, "sign out", chromedp.Navigate(logout), chromedp.WaitVisible(chromedp.ID("b-bye")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != appB.URL+"/bye?state=bye-state" {
		t.Errorf("after sign-out: browser at %s, want %s/bye?state=bye-state", loc, appB.URL)
	}
	fc := appA.next(t, "/frontchannel-logout", 5*time.Second).query
	if fc.Get("iss") != s.issuer || fc.Get("sid") != sid {
		t.Errorf("Team Wiki's front-channel logout: got %v, want iss %s and sid %s", fc, s.issuer, sid)
	}
	checkLogoutToken(t, rB, rcv.next(s, 10*time.Second), idtB.Subject, sid)
	step(ctx, "account page after sign-out", chromedp.Navigate(s.issuer+"/account"), chromedp.WaitVisible(chromedp.ID("username")))
}
