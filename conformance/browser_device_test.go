package conformance

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// TestBrowserDeviceSignIn, in Chromium: a device (x/oauth2's device flow)
// shows its code; the user opens verification_uri, signs in, types the
// code in lower case, sees the application and its scopes, allows it, and
// the device gets its tokens. With -screenshots it writes
// docs/screenshots/device.png (the confirmation) and device-code.png (the
// code form).
func TestBrowserDeviceSignIn(t *testing.T) {
	ctx := chromium(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(deviceClientsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dir)
	tab := chromeTab{t, ctx, s}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(900, 1000)); err != nil {
		t.Fatal(err)
	}

	conf := deviceConf(t, s, "tv")
	dctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	da, err := conf.DeviceAuth(dctx)
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	got := make(chan error, 1)
	var tok *oauth2.Token
	go func() {
		var err error
		tok, err = conf.DeviceAccessToken(dctx, da)
		got <- err
	}()

	tab.step("sign in", chromedp.Navigate(da.VerificationURI), chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "admin"),
		chromedp.SendKeys(chromedp.ID("password"), adminPassword),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("user_code")))
	tab.shoot("device-code")
	tab.step("type the code", chromedp.SendKeys(chromedp.ID("user_code"), strings.ToLower(da.UserCode)),
		chromedp.Submit(chromedp.ID("user_code")), chromedp.WaitVisible(chromedp.ID("user-code")))
	if shown := tab.text("#user-code"); shown != da.UserCode {
		t.Errorf("confirmation page shows code %q, want %q", shown, da.UserCode)
	}
	if page := tab.text("main"); !strings.Contains(page, "Living Room TV") {
		t.Errorf("confirmation page: %q, want the application's name", page)
	}
	tab.shoot("device")
	tab.step("allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)), chromedp.WaitVisible(chromedp.ID("device-done")))
	if page := tab.text("main"); !strings.Contains(page, "Device signed in") {
		t.Fatalf("after allowing: %q", page)
	}
	if err := <-got; err != nil || tok.AccessToken == "" {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
}
