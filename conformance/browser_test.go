package conformance

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// chromium returns a Chromium context, skipping the test when no browser
// is installed (failing instead under CI=true, where .ci/run installs it).
func chromium(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Chromium found; .ci/run should have installed it (apt-get install -y chromium)")
		}
		t.Skip("no Chromium found: install it with `apt-get install -y chromium` to run the browser tests")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancel3)
	return ctx
}

// TestBrowserNewcomerSignIn does what the README promises on the default
// issuer host, localhost: open the site, sign in as admin, see the account
// page; then sign in to an app through the real login form and single
// sign-on, with the app's code redeemed by x/oauth2.
func TestBrowserNewcomerSignIn(t *testing.T) {
	ctx := chromium(t)
	s := startServerOn(t, "localhost")

	err := chromedp.Do(ctx,
		chromedp.Navigate(s.issuer+"/"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), adminPassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.CSS("dl")),
	)
	if err != nil {
		t.Fatalf("sign in at %s: %v\n%s", s.issuer, err, s.log())
	}
	account, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(account, "admin") || !strings.Contains(account, "Where you are signed in") {
		t.Errorf("account page: got %q, want admin signed in", account)
	}
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{s.issuer}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range res.Cookies {
		if c.Name == "__Host-gatehouse-session" {
			found = true
			if !c.Secure || !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || c.Domain != "localhost" {
				t.Errorf("session cookie: got %+v, want Secure, HttpOnly, SameSite=Lax, Path=/, host-only", c)
			}
		}
	}
	if !found {
		t.Fatalf("the browser kept no session cookie: %+v", res.Cookies)
	}

	// An app on a random loopback port; the browser is already signed in,
	// so authorize answers at once (SSO).
	codes := make(chan string, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("iss") == s.issuer {
			codes <- r.URL.Query().Get("code")
		}
		w.Write([]byte("<p id=done>app got the response</p>"))
	}))
	defer app.Close()
	r := newRP(t, s, "native", "", app.URL+"/callback", oauth2.AuthStyleInParams)
	f := newFlow()
	if err := chromedp.Do(ctx, chromedp.Navigate(r.authURL(f)), chromedp.WaitVisible(chromedp.ID("done"))); err != nil {
		t.Fatalf("SSO authorize in the browser: %v", err)
	}
	select {
	case code := <-codes:
		_, idt := r.exchange(f, code)
		if idt.Subject == "" {
			t.Error("ID token without sub")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the app never received a code with iss")
	}
}
