package conformance

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// TestBrowserPasskeys, in Chromium with the DevTools virtual authenticator
// (CTAP2, internal, resident keys, user verification): add a passkey on
// the account page; sign in to an app with the passkey alone (go-oidc
// checks acr and amr); sign in with the password and the passkey as the
// second step; then the authenticator's signature counter is set back, as
// a cloned key's would be, and the sign-in is refused and audited. The
// issuer is on localhost: WebAuthn takes no IP address as relying party.
// With -screenshots it writes docs/screenshots/passkey-add.png and
// passkey-factor.png.
func TestBrowserPasskeys(t *testing.T) {
	ctx := chromium(t)
	app := newTestApp(t, "app")
	dir := t.TempDir()
	clients := fmt.Sprintf(`clients:
  - client_id: app
    client_name: Team Wiki
    skip_consent: true
    token_endpoint_auth_method: none
    redirect_uris: [%s/callback]
`, app.URL)
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(clients), 0o600); err != nil {
		t.Fatal(err)
	}
	s := launch(t, &server{t: t, dir: dir, host: "localhost", backendEnv: suiteBackend(t)})
	rp := newRP(t, s, "app", "", app.URL+"/callback", oauth2.AuthStyleInParams)

	// The first action runs on ctx itself: the browser lives as long as
	// the context it was started with.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(900, 1000)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	auth, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatal(err)
	}

	tab := chromeTab{t, ctx, s}
	step, text, shoot, signOut := tab.step, tab.text, tab.shoot, tab.signOut
	// signInToApp signs in to the app through the login page, with how
	// (steps on the page), and returns the ID token's acr and amr.
	signInToApp := func(what string, how func()) (string, []string) {
		t.Helper()
		f := newFlow()
		step(what, chromedp.Navigate(rp.authURL(f)))
		how()
		step(what+": back at the app", chromedp.WaitVisible(chromedp.ID("app-callback")))
		h := app.next(t, "/callback", 5*time.Second)
		_, idt := rp.exchange(f, h.query.Get("code"))
		c := claimsOf(t, idt)
		return c.ACR, c.AMR
	}
	// presence turns the authenticator's automatic answer on or off: with
	// it on, the login page's autofill request (conditional mediation)
	// signs in with the passkey as soon as the page loads.
	presence := func(on bool) {
		t.Helper()
		if _, err := chromedp.Call(ctx, webauthn.SetAutomaticPresenceSimulation,
			webauthn.SetAutomaticPresenceSimulationParams{AuthenticatorID: auth.AuthenticatorID, Enabled: on}); err != nil {
			t.Fatal(err)
		}
	}
	password := func() {
		t.Helper()
		step("password", chromedp.WaitVisible(chromedp.ID("username")), chromedp.SendKeys(chromedp.ID("username"), "admin"), chromedp.SendKeys(chromedp.ID("password"), adminPassword),
			chromedp.Submit(chromedp.ID("password")))
	}

	// Add a passkey: the first second factor brings recovery codes.
	acr, amr := signInToApp("password sign-in", password)
	if acr != "https://refeds.org/profile/sfa" {
		t.Errorf("password sign-in: acr %q, want sfa", acr)
	}
	step("add a passkey", chromedp.Navigate(s.issuer+"/account"), chromedp.WaitVisible(chromedp.ID("add-passkey")),
		chromedp.Click(chromedp.ID("add-passkey")), chromedp.WaitVisible(chromedp.ID("passkey-name")),
		chromedp.SendKeys(chromedp.ID("passkey-name"), "Laptop"))
	shoot("passkey-add")
	step("create the passkey", chromedp.Click(chromedp.ID("passkey-create")), chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	step("continue", chromedp.Click(chromedp.CSS("a.button")), chromedp.WaitVisible(chromedp.CSS("ul.passkeys")))
	if got := text("ul.passkeys"); !strings.Contains(got, "Laptop") {
		t.Errorf("account page's passkeys: %q, want Laptop", got)
	}
	creds, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth.AuthenticatorID})
	if err != nil || len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential {
		t.Fatalf("virtual authenticator: %+v, %v; want one discoverable credential", creds, err)
	}

	// The passkey alone signs in: possession and user verification.
	signOut()
	// The login page offers the passkey in the username's autofill; the
	// virtual authenticator answers at once.
	measured(t, s, "passkey sign-in (authorize to the code at the app)", func() { acr, amr = signInToApp("passkey sign-in", func() {}) })
	if acr != "https://refeds.org/profile/mfa" || !slices.Contains(amr, "hwk") || !slices.Contains(amr, "mfa") || slices.Contains(amr, "pwd") {
		t.Errorf("passkey sign-in: acr %q amr %v; want mfa with hwk and mfa, no pwd", acr, amr)
	}

	// The password, then the passkey as the second step.
	signOut()
	presence(false)
	acr, amr = signInToApp("password and passkey", func() {
		password()
		step("second step page", chromedp.WaitVisible(chromedp.ID("passkey-factor")))
		shoot("passkey-factor")
		presence(true)
		step("use the passkey", chromedp.Click(chromedp.ID("passkey-factor")))
	})
	signOut()
	presence(false)
	measured(t, s, "password and passkey (authorize to the code at the app)", func() {
		acr, amr = signInToApp("password and passkey, again", func() {
			password()
			step("second step page", chromedp.WaitVisible(chromedp.ID("passkey-factor")))
			presence(true)
			step("use the passkey", chromedp.Click(chromedp.ID("passkey-factor")))
		})
	})
	if acr != "https://refeds.org/profile/mfa" || !slices.Equal(amr, []string{"pwd", "hwk", "mfa"}) {
		t.Errorf("password and passkey: acr %q amr %v; want mfa with [pwd hwk mfa]", acr, amr)
	}

	// A cloned key: the same credential with its counter set back.
	cred := creds.Credentials[0]
	now, err := chromedp.Call(ctx, webauthn.GetCredential, webauthn.GetCredentialParams{AuthenticatorID: auth.AuthenticatorID, CredentialID: cred.CredentialID})
	if err != nil {
		t.Fatal(err)
	}
	if now.Credential.SignCount < 2 {
		t.Fatalf("the authenticator's counter is %v after 3 uses; the regression below would prove nothing", now.Credential.SignCount)
	}
	c := now.Credential
	back := clonedCredential{CredentialID: c.CredentialID, IsResidentCredential: c.IsResidentCredential, RpID: c.RpID,
		PrivateKey: c.PrivateKey, UserHandle: c.UserHandle, SignCount: 1, UserName: c.UserName, UserDisplayName: c.UserDisplayName}
	if _, err := chromedp.Call(ctx, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: auth.AuthenticatorID, CredentialID: cred.CredentialID}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, addCredential, addCredentialParams{AuthenticatorID: auth.AuthenticatorID, Credential: &back}); err != nil {
		t.Fatal(err)
	}
	signOut()
	presence(false)
	step("login page", chromedp.Navigate(s.issuer+"/login"), chromedp.WaitVisible(chromedp.ID("passkey-signin")))
	presence(true)
	step("passkey with its counter set back", chromedp.Click(chromedp.ID("passkey-signin")),
		chromedp.WaitVisible(chromedp.CSS(`h1`)), chromedp.WaitNotPresent(chromedp.ID("passkey-signin")))
	if got := text("main"); !strings.Contains(got, "could not sign you in") {
		t.Errorf("a cloned passkey: page %q, want the sign-in refused", got)
	}
	events := auditEvents(t, s, func(byKind map[string][]map[string]string) bool { return len(byKind["passkey_counter_regressed"]) > 0 })
	if len(events["passkey_counter_regressed"]) == 0 {
		t.Error("no passkey_counter_regressed audit event")
	}
}

// clonedCredential is WebAuthn.addCredential's credential with only the
// fields a copied key has: cdproto's type always sends the CMTG fields,
// which Chromium's virtual authenticator refuses.
type clonedCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId,omitempty"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
	UserName             string  `json:"userName,omitempty"`
	UserDisplayName      string  `json:"userDisplayName,omitempty"`
}

type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      *clonedCredential        `json:"credential"`
}

var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

// storeRoundTrips reads the server's /metrics and returns how many calls
// it has made to each store server so far (gatehouse_store_call_duration
// _seconds_count, summed by backend): Postgres and Redis are observed,
// the embedded SQLite is not.
func storeRoundTrips(t *testing.T, s *server) map[string]int {
	t.Helper()
	resp, err := http.Get(s.issuer + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, `gatehouse_store_call_duration_seconds_count{backend="`)
		if !ok {
			continue
		}
		backend, _, _ := strings.Cut(rest, `"`)
		fields := strings.Fields(line)
		n, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		calls[backend] += n
	}
	return calls
}

// measured runs a sign-in and logs its wall time and the store round
// trips it made (on Postgres and Redis; none are observed on SQLite).
func measured(t *testing.T, s *server, what string, signIn func()) {
	t.Helper()
	before := storeRoundTrips(t, s)
	begin := time.Now()
	signIn()
	took := time.Since(begin)
	after := storeRoundTrips(t, s)
	t.Logf("%s: %v in the browser, store round trips: postgres %d, redis %d", what, took.Round(time.Millisecond),
		after["postgres"]-before["postgres"], after["redis"]-before["redis"])
}
