package conformance

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// chromium returns a Chromium context, skipping the test when no browser
// is installed (failing instead under CI=true, where .ci/run installs it).
// A skip is said where the person running go test sees it, -v or not
// (tellUser), and is not replayed from go test's cache once Chromium is
// installed (dependOnPATH).
func chromium(t *testing.T) context.Context {
	t.Helper()
	dependOnPATH(t)
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
		noChromium.Do(func() {
			tellUser("conformance: no Chromium found in PATH (chromium, chromium-browser, google-chrome): the browser tests " +
				"were SKIPPED; install it (apt-get install -y chromium) and run go test again to run them")
		})
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

// noChromium says once per run that the browser tests were skipped.
var noChromium sync.Once

// dependOnPATH makes go test's result cache depend on the directories of
// PATH, where Chromium is looked for. go test replays a cached result
// unless a file the test opened or looked at changed, but it checks no file
// outside the module, so not /usr/bin/chromium: a skip cached before
// Chromium was installed was replayed after. It does compare the
// directories a test changed into (a "chdir" in its test log) by their
// modification time, wherever they are, and installing or removing a
// program changes its directory's. So this changes into each directory of
// PATH and back at once. The browser tests are not parallel: no other test
// runs meanwhile.
func dependOnPATH(t *testing.T) {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if !filepath.IsAbs(dir) || os.Chdir(dir) != nil {
			continue
		}
		if err := os.Chdir(wd); err != nil {
			t.Fatalf("back to %s: %v", wd, err)
		}
	}
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

// TestBrowserSkipIsVisibleAndNotCached runs the browser test as a newcomer
// would, through go test in package list mode (no -v), with PATH holding
// no Chromium, then a Chromium appearing there. The faults it checks: the
// skip said nothing without -v, and go test replayed the cached skip after
// Chromium was installed. The "Chromium" here is a script that fails, so
// the third run fails, which is what shows it ran.
func TestBrowserSkipIsVisibleAndNotCached(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test three times: skipped with -short")
	}
	if os.Getenv(backendVar) != "" {
		t.Skip("about go test and Chromium, not the stores: runs in the parent run only")
	}
	if strings.Contains(os.Getenv("GOFLAGS"), "-count") {
		t.Skip("GOFLAGS sets -count, which turns go test's cache off")
	}
	t.Parallel() // it mostly waits for the go command
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	bin := t.TempDir()
	// PATH: the go command and a directory with no Chromium in it.
	env := append(serverEnviron(), "PATH="+bin+string(filepath.ListSeparator)+filepath.Dir(goTool), "CI=false")
	goTest := func() string {
		cmd := exec.Command(goTool, "test", "-run", "^TestBrowserNewcomerSignIn$", ".")
		cmd.Env = env
		out, _ := cmd.CombinedOutput()
		return string(out)
	}

	out := goTest()
	if !strings.Contains(out, "no Chromium found") || !strings.Contains(out, "SKIPPED") || strings.Contains(out, "(cached)") {
		t.Fatalf("go test without Chromium: got\n%s\nwant a line saying the browser tests were skipped, without -v", out)
	}
	if out := goTest(); !strings.Contains(out, "(cached)") {
		t.Fatalf("go test again without Chromium: got\n%s\nwant the cached result", out)
	}
	if err := os.WriteFile(filepath.Join(bin, "chromium"), []byte("#!/bin/sh\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out := goTest(); strings.Contains(out, "(cached)") || strings.Contains(out, "no Chromium found") {
		t.Errorf("go test after installing Chromium: got\n%s\nwant the browser test run again, not the cached skip", out)
	}
}

// chromeTab drives a test's Chromium tab (ctx) against server s.
type chromeTab struct {
	t   *testing.T
	ctx context.Context
	s   *server
}

// step runs steps within 10 s, failing the test with where the browser
// was, what the page said and the server's log.
func (c chromeTab) step(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	stepCtx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(stepCtx, steps...); err != nil {
		loc, _ := chromedp.Run(c.ctx, chromedp.Location())
		body, _ := chromedp.Run(c.ctx, chromedp.Text(chromedp.CSS("main")))
		c.t.Fatalf("%s: %v (browser at %s)\n%s\n%s", what, err, loc, body, c.s.log())
	}
}

// text returns the text of the element sel selects.
func (c chromeTab) text(sel string) string {
	c.t.Helper()
	got, err := chromedp.Run(c.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		c.t.Fatalf("text of %s: %v", sel, err)
	}
	return got
}

// shoot writes the page to docs/screenshots/name.png under -screenshots.
func (c chromeTab) shoot(name string) {
	if !*screenshots {
		return
	}
	c.t.Helper()
	png, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join("..", "docs", "screenshots", name+".png"), png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// signOut signs the browser out from the account page.
func (c chromeTab) signOut() {
	c.t.Helper()
	c.step("sign out", chromedp.Navigate(c.s.issuer+"/account"), chromedp.WaitVisible(chromedp.CSS(`form[action="/account/signout"] button`)),
		chromedp.Click(chromedp.CSS(`form[action="/account/signout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account"]`))) // the signed-out page's "sign in again"
}
