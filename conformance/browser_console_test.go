package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserAdminConsole, in Chromium: admin, in gatehouse-admins since
// its first start, opens /admin, signs in with the password and comes back
// to a page saying a second factor is needed; sets up a one-time code on
// the account page; signs in again with the password and a code and comes
// back to /admin/users; visits every page of the console (users and a
// search, a user, groups, a group, clients, keys, the audit trail
// filtered); rotates the keys, creates a user and disables them through
// the forms, and finds both in the audit trail with the admin as actor.
// bob, who is not in the group, gets 403. With -screenshots it writes
// docs/screenshots/console-*.png.
func TestBrowserAdminConsole(t *testing.T) {
	ctx := chromium(t)
	s := startServer(t, "")
	// The first user is in gatehouse-admins from the first start on.
	if out, err := s.gatehouseCLI("", "groups", "members", "gatehouse-admins"); err != nil || !strings.Contains(out, "admin") {
		t.Fatalf("groups members gatehouse-admins: %v\n%s", err, out)
	}
	if out, err := s.gatehouseCLI("", "groups", "create", "staff"); err != nil {
		t.Fatalf("groups create staff: %v\n%s", err, out)
	}
	if out, err := s.gatehouseCLI("a-password-long-enough\n", "users", "add", "bob", "--name", "Bob Builder", "--email", "bob@example.com", "--password-stdin"); err != nil {
		t.Fatalf("users add bob: %v\n%s", err, out)
	}
	if out, err := s.gatehouseCLI("", "groups", "add", "staff", "bob"); err != nil {
		t.Fatalf("groups add staff bob: %v\n%s", err, out)
	}

	tab := chromeTab{t, ctx, s}
	step, text, shoot, signOut := tab.step, tab.text, tab.shoot, tab.signOut
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	password := func(what, user, pw string) {
		t.Helper()
		step(what, chromedp.WaitVisible(chromedp.ID("username")),
			chromedp.SendKeys(chromedp.ID("username"), user),
			chromedp.SendKeys(chromedp.ID("password"), pw),
			chromedp.Submit(chromedp.ID("password")))
	}
	at := func(want string) {
		t.Helper()
		if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != s.issuer+want {
			t.Fatalf("browser at %s, want %s%s\n%s", loc, s.issuer, want, s.log())
		}
	}

	// Not signed in: to the login page, and back after it.
	step("open the console", chromedp.Navigate(s.issuer+"/admin/users"))
	password("password", "admin", adminPassword)
	step("back, refused", chromedp.WaitVisible(chromedp.ID("refused")))
	at("/admin/users")
	if got := text("h1"); got != "A second factor is needed" {
		t.Errorf("admin without a second factor: got %q, want the page saying one is needed", got)
	}
	shoot("console-second-factor")

	// Set up a one-time code, sign out, sign in with it: back to the console.
	step("set up a code", chromedp.Click(chromedp.CSS(`main a.button[href="/account"]`)), chromedp.WaitVisible(chromedp.CSS(`a[href="/account/totp"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/account/totp"]`)), chromedp.WaitVisible(chromedp.ID("totp-secret")))
	secret := strings.ReplaceAll(text("#totp-secret"), " ", "")
	setUpAt := time.Now()
	step("turn on", chromedp.SendKeys(chromedp.ID("code"), totpCode(t, secret, setUpAt)), chromedp.Submit(chromedp.ID("code")),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	signOut()
	measured(t, s, "sign-in to the console with password and code (console page to the console page)", func() {
		step("open the console again", chromedp.Navigate(s.issuer+"/admin/users?q=b"))
		password("password again", "admin", adminPassword)
		step("code", chromedp.WaitVisible(chromedp.ID("code")),
			chromedp.SendKeys(chromedp.ID("code"), totpCode(t, secret, setUpAt.Add(30*time.Second))), chromedp.Submit(chromedp.ID("code")),
			chromedp.WaitVisible(chromedp.ID("users")))
	})
	at("/admin/users?q=b")
	if got := text("#users"); !strings.Contains(got, "bob") || strings.Contains(got, "admin") {
		t.Errorf("users matching b: got %q, want bob alone", got)
	}

	// Every page.
	step("users", chromedp.Navigate(s.issuer+"/admin/users"), chromedp.WaitVisible(chromedp.ID("users")))
	if got := text("#users"); !strings.Contains(got, "admin") || !strings.Contains(got, "bob@example.com") {
		t.Errorf("users page: got %q", got)
	}
	shoot("console-users")
	step("admin's page", chromedp.Click(chromedp.CSS(`#users a`)), chromedp.WaitVisible(chromedp.ID("sessions")))
	if got := text("main"); !strings.Contains(got, "two factors") || !strings.Contains(got, "Authenticator app: on") || !strings.Contains(got, "gatehouse-admins") {
		t.Errorf("admin's page: got %q, want a two-factor session, the code on, and the group", got)
	}
	shoot("console-user")
	step("groups", chromedp.Navigate(s.issuer+"/admin/groups"), chromedp.WaitVisible(chromedp.ID("groups")),
		chromedp.Click(chromedp.CSS(`#groups a[href="/admin/groups/staff"]`)), chromedp.WaitVisible(chromedp.ID("members")))
	if got := text("#members"); !strings.Contains(got, "bob") || !strings.Contains(got, "Bob Builder") {
		t.Errorf("staff's members: got %q, want bob", got)
	}
	step("clients", chromedp.Navigate(s.issuer+"/admin/clients"), chromedp.WaitVisible(chromedp.ID("clients")))
	if got := text("#clients"); !strings.Contains(got, "web-basic") || !strings.Contains(got, "clients.yaml") || !strings.Contains(got, "public") {
		t.Errorf("clients page: got %q, want the declared clients from clients.yaml", got)
	}
	shoot("console-clients")
	step("a client", chromedp.Click(chromedp.CSS(`#clients a[href="/admin/clients/spa"]`)), chromedp.WaitVisible(chromedp.ID("client")))
	if got := text("#client"); !strings.Contains(got, "https://spa.example/callback") {
		t.Errorf("client page: got %q", got)
	}
	step("keys", chromedp.Navigate(s.issuer+"/admin/keys"), chromedp.WaitVisible(chromedp.ID("keys")))
	if got := text("#keys"); strings.Count(got, "active") < 3 {
		t.Errorf("keys page: got %q, want 3 active keys", got)
	}
	step("rotate", chromedp.Click(chromedp.ID("rotate")), chromedp.WaitVisible(chromedp.CSS(".notice")))
	if got := text("#keys"); strings.Count(got, "pending") != 3 || strings.Count(got, "—") > 6 {
		t.Errorf("keys after a rotation: got %q, want 3 pending keys and the active ones' retirement scheduled", got)
	}
	shoot("console-keys")

	// Forms: create carol, disable her.
	step("create carol", chromedp.Navigate(s.issuer+"/admin/users"), chromedp.WaitVisible(chromedp.ID("new-username")),
		chromedp.SendKeys(chromedp.ID("new-username"), "carol"), chromedp.SendKeys(chromedp.ID("new-name"), "Carol Console"),
		chromedp.SendKeys(chromedp.ID("new-password"), "carol-has-a-long-password"), chromedp.Click(chromedp.ID("create-user")),
		chromedp.WaitVisible(chromedp.ID("disable")))
	if got := text(".notice"); !strings.Contains(got, "The user was created") {
		t.Errorf("after create: notice %q", got)
	}
	step("disable carol", chromedp.Click(chromedp.ID("disable")), chromedp.WaitVisible(chromedp.ID("enable")))
	if got := text(".notice"); !strings.Contains(got, "disabled") {
		t.Errorf("after disable: notice %q", got)
	}
	// The filter form; the trail is written in batches (every 200 ms), so
	// the page is read again until both events are in.
	step("audit", chromedp.Navigate(s.issuer+"/admin/audit"), chromedp.WaitVisible(chromedp.ID("f-user")),
		chromedp.SendKeys(chromedp.ID("f-user"), "carol"), chromedp.Click(chromedp.ID("filter")),
		chromedp.WaitVisible(chromedp.CSS(`#f-user[value="carol"]`)))
	at("/admin/audit?kind=&user=carol&client=&since=&until=")
	var trail string
	for deadline := time.Now().Add(5 * time.Second); ; {
		trail = text("main")
		if strings.Contains(trail, "user_disabled") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
		step("audit again", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("f-user")))
	}
	if !strings.Contains(trail, "user_created") || !strings.Contains(trail, "user_disabled") || !strings.Contains(trail, "by=user:") || strings.Contains(trail, "sign_in") {
		t.Errorf("carol's audit trail: got %q, want user_created and user_disabled by the admin, and nothing of others", trail)
	}
	step("audit, everything", chromedp.Navigate(s.issuer+"/admin/audit"), chromedp.WaitVisible(chromedp.CSS("table.events")))
	shoot("console-audit")

	// bob is no admin: 403.
	signOut()
	step("bob", chromedp.Navigate(s.issuer+"/admin/groups"))
	password("bob's password", "bob", "a-password-long-enough")
	step("refused", chromedp.WaitVisible(chromedp.ID("refused")))
	if got := text("h1"); got != "Not an administrator" {
		t.Errorf("bob at /admin/groups: got %q, want Not an administrator", got)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Navigate(s.issuer+"/admin/users"))
	if err != nil || resp.Status != 403 {
		t.Errorf("bob's GET /admin/users: %v, want status 403", err)
	} else if h := resp.Headers["X-Frame-Options"]; h != "DENY" {
		t.Errorf("bob's GET /admin/users: X-Frame-Options %v, want DENY", h)
	}
	shoot("console-refused")
}
