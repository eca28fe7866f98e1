package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserTwoStepVerification, in Chromium: sign in with the password,
// set up a one-time code on the account page from the key the page shows
// (the code computed as an authenticator app would), keep a recovery code;
// sign out; sign in again with the password and a code; sign out; sign in
// with the recovery code once, and see it refused the second time. With
// -screenshots it writes docs/screenshots/mfa-setup.png, mfa-codes.png and
// mfa-code.png.
func TestBrowserTwoStepVerification(t *testing.T) {
	ctx := chromium(t)
	s := startServer(t, "")

	tab := chromeTab{t, ctx, s}
	step, text, shoot, signOut := tab.step, tab.text, tab.shoot, tab.signOut
	signIn := func(what string) {
		t.Helper()
		step(what, chromedp.Navigate(s.issuer+"/login"), chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), "admin"),
			chromedp.SendKeys(chromedp.ID("password"), adminPassword),
			chromedp.Submit(chromedp.ID("password")))
	}
	// The first action runs on ctx itself: the browser lives as long as
	// the context it was started with.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(900, 1000)); err != nil {
		t.Fatal(err)
	}

	signIn("first sign-in")
	step("account page", chromedp.WaitVisible(chromedp.CSS(`a[href="/account/totp"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/account/totp"]`)), chromedp.WaitVisible(chromedp.ID("totp-secret")))
	shoot("mfa-setup")
	secret := strings.ReplaceAll(text("#totp-secret"), " ", "")
	setUpAt := time.Now()
	step("turn on", chromedp.SendKeys(chromedp.ID("code"), totpCode(t, secret, setUpAt)), chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	shoot("mfa-codes")
	codes := strings.Fields(text("#recovery-codes"))
	if len(codes) != 10 {
		t.Fatalf("recovery codes page: got %q, want 10 codes", codes)
	}
	step("continue", chromedp.Click(chromedp.CSS("a.button")), chromedp.WaitVisible(chromedp.ID("recovery-left")))
	if got := text("main"); !strings.Contains(got, "Two-step verification is on") || !strings.Contains(got, "10 of 10 recovery codes left") {
		t.Errorf("account page after set-up: got %q, want the code on and 10 recovery codes", got)
	}

	signOut()
	measured(t, s, "sign-in with password and one-time code (login page to the account page)", func() {
		signIn("sign-in with a code")
		step("code page", chromedp.WaitVisible(chromedp.ID("code")))
		shoot("mfa-code")
		// The next step's code: the set-up spent this one.
		step("code", chromedp.SendKeys(chromedp.ID("code"), totpCode(t, secret, setUpAt.Add(30*time.Second))), chromedp.Submit(chromedp.ID("code")),
			chromedp.WaitVisible(chromedp.ID("recovery-left")))
	})

	signOut()
	signIn("sign-in with a recovery code")
	step("recovery code", chromedp.WaitVisible(chromedp.ID("code")), chromedp.Click(chromedp.CSS("summary")),
		chromedp.WaitVisible(chromedp.ID("recovery")),
		chromedp.SendKeys(chromedp.ID("recovery"), codes[0]), chromedp.Submit(chromedp.ID("recovery")),
		chromedp.WaitVisible(chromedp.ID("recovery-left")))
	if got := text("#recovery-left"); !strings.Contains(got, "9 of 10") {
		t.Errorf("after a recovery code: got %q, want 9 of 10 left", got)
	}

	signOut()
	signIn("the same recovery code again")
	step("recovery code again", chromedp.WaitVisible(chromedp.ID("code")), chromedp.Click(chromedp.CSS("summary")),
		chromedp.WaitVisible(chromedp.ID("recovery")),
		chromedp.SendKeys(chromedp.ID("recovery"), codes[0]), chromedp.Submit(chromedp.ID("recovery")),
		chromedp.WaitVisible(chromedp.ID("factor-error")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != s.issuer+"/login/factor" {
		t.Errorf("a spent recovery code: browser at %s, want still on /login/factor", loc)
	}
}
