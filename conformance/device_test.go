package conformance

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// deviceClientsYAML adds device clients to the test clients: tv (public,
// device_code and refresh_token), tv2 (another public device client) and
// staff-tv (only for members of the group staff).
const deviceClientsYAML = clientsYAML + `  - client_id: tv
    client_name: Living Room TV
    token_endpoint_auth_method: none
    grant_types: ["urn:ietf:params:oauth:grant-type:device_code", refresh_token]
  - client_id: tv2
    client_name: Other TV
    token_endpoint_auth_method: none
    grant_types: ["urn:ietf:params:oauth:grant-type:device_code"]
  - client_id: staff-tv
    client_name: Staff TV
    token_endpoint_auth_method: none
    grant_types: ["urn:ietf:params:oauth:grant-type:device_code"]
    allowed_groups: [staff]
`

// userCodeShape is RFC 8628's base-20 alphabet, shown as XXXX-XXXX.
var userCodeShape = regexp.MustCompile(`^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`)

// deviceConf is an x/oauth2 client of the device flow for clientID.
func deviceConf(t *testing.T, s *server, clientID string) *oauth2.Config {
	t.Helper()
	p, err := oidc.NewProvider(t.Context(), s.issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	ep := p.Endpoint()
	if ep.DeviceAuthURL != s.issuer+"/device_authorization" {
		t.Fatalf("discovery: device_authorization_endpoint %q, want %q", ep.DeviceAuthURL, s.issuer+"/device_authorization")
	}
	ep.AuthStyle = oauth2.AuthStyleInParams
	return &oauth2.Config{ClientID: clientID, Endpoint: ep, Scopes: []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess}}
}

// signInForDevice opens u (the device page) in b without a session, signs
// in as username and returns the page the sign-in comes back to.
func signInForDevice(t *testing.T, s *server, b *browser, u, username, password string) page {
	t.Helper()
	p := b.get(u)
	if p.status != http.StatusSeeOther || p.location != s.issuer+"/login" {
		t.Fatalf("device page without a session: %d to %q, want 303 to /login\n%s", p.status, p.location, p.body)
	}
	form := b.get(p.location)
	fields := formFields(form.body)
	fields.Set("username", username)
	fields.Set("password", password)
	done := b.postForm(s.issuer+"/login", fields)
	if done.status != http.StatusSeeOther {
		t.Fatalf("login post: %d, want 303\n%s", done.status, done.body)
	}
	back, _ := url.Parse(done.location)
	if back.Path != "/device" {
		t.Fatalf("after the sign-in: sent to %q, want back to /device", done.location)
	}
	return b.get(done.location)
}

// pollOnce is one raw poll of the token endpoint: the error code, or ""
// with the tokens.
func pollOnce(t *testing.T, s *server, clientID, deviceCode string) (string, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(s.issuer+"/oauth/token", url.Values{
		"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "client_id": {clientID}, "device_code": {deviceCode}})
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := jsonDecode(resp, &body); err != nil {
		t.Fatalf("poll: %v", err)
	}
	if e, _ := body["error"].(string); e != "" {
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("poll answering %s: status %d, want 400", e, resp.StatusCode)
		}
		return e, body
	}
	return "", body
}

// TestDeviceFlow runs the device authorization grant (RFC 8628) with
// x/oauth2's client (DeviceAuth, DeviceAccessToken) against the real
// binary, the user's part over HTTP: the link from
// verification_uri_complete sends the browser to sign in and back to a page
// that only shows the request (nothing approved yet), the user allows it,
// the device gets an ID token, an access token and a refresh token that
// refreshes; the device code is redeemed once, and polled by another
// client refused. Then the refusals: a typed code in other case and with
// spaces is found and denied (access_denied to the device), a device
// polling too fast gets slow_down and then keeps to the bigger interval,
// guessed user codes are throttled per IP after 5, a user outside the
// client's allowed_groups is refused (the device gets access_denied), and a
// client without the grant is unauthorized_client.
func TestDeviceFlow(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(deviceClientsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dir)
	if out, err := s.gatehouseCLI("bob-password-long-enough\n", "users", "add", "bob", "--password-stdin"); err != nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	if out, err := s.gatehouseCLI("", "groups", "create", "staff"); err != nil {
		t.Fatalf("groups create: %v\n%s", err, out)
	}

	t.Run("Approve", func(t *testing.T) {
		conf := deviceConf(t, s, "tv")
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			t.Fatalf("DeviceAuth: %v", err)
		}
		if !userCodeShape.MatchString(da.UserCode) || da.VerificationURI != s.issuer+"/device" ||
			da.VerificationURIComplete != s.issuer+"/device?user_code="+da.UserCode || da.Interval != 5 ||
			time.Until(da.Expiry) < 9*time.Minute || len(da.DeviceCode) < 40 {
			t.Fatalf("device authorization response: %+v", da)
		}
		type result struct {
			tok *oauth2.Token
			err error
		}
		got := make(chan result, 1)
		go func() {
			tok, err := conf.DeviceAccessToken(ctx, da)
			got <- result{tok, err}
		}()

		b := newBrowser(t)
		confirm := signInForDevice(t, s, b, da.VerificationURIComplete, "admin", adminPassword)
		if confirm.status != http.StatusOK || !strings.Contains(confirm.body, "Living Room TV") || !strings.Contains(confirm.body, da.UserCode) ||
			!strings.Contains(confirm.body, `value="allow"`) {
			t.Fatalf("confirmation page: %d\n%s", confirm.status, confirm.body)
		}
		// The link filled in the code; nothing is approved until the user
		// answers.
		time.Sleep(6 * time.Second)
		select {
		case r := <-got:
			t.Fatalf("the device got an answer before the user allowed it: %+v, %v", r.tok, r.err)
		default:
		}
		fields := formFields(confirm.body)
		fields.Set("decision", "allow")
		done := b.postForm(s.issuer+"/device", fields)
		if done.status != http.StatusOK || !strings.Contains(done.body, "Device signed in") {
			t.Fatalf("allow: %d\n%s", done.status, done.body)
		}
		r := <-got
		if r.err != nil {
			t.Fatalf("DeviceAccessToken: %v", r.err)
		}
		raw, _ := r.tok.Extra("id_token").(string)
		p, _ := oidc.NewProvider(t.Context(), s.issuer)
		idt, err := p.Verifier(&oidc.Config{ClientID: "tv"}).Verify(t.Context(), raw)
		if err != nil || r.tok.RefreshToken == "" || r.tok.AccessToken == "" {
			t.Fatalf("tokens: %+v, ID token %v", r.tok, err)
		}
		var claims struct {
			Name string `json:"name"`
			AMR  []string
		}
		if err := idt.Claims(&claims); err != nil || idt.Subject == "" {
			t.Errorf("ID token claims: %v, sub %q", err, idt.Subject)
		}
		if _, err := conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: r.tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err != nil {
			t.Errorf("refresh of the device's refresh token: %v", err)
		}
		if e, _ := pollOnce(t, s, "tv", da.DeviceCode); e != "invalid_grant" {
			t.Errorf("polling the redeemed device code again: got %q, want invalid_grant", e)
		}
		if e, _ := pollOnce(t, s, "tv2", da.DeviceCode); e != "invalid_grant" {
			t.Errorf("the device code polled by another client: got %q, want invalid_grant", e)
		}
		// Answered once: the form cannot approve it again.
		again := b.postForm(s.issuer+"/device", fields)
		if !strings.Contains(again.body, "used already") {
			t.Errorf("allowing twice: %d\n%s", again.status, again.body)
		}
	})

	t.Run("DenyTypedCode", func(t *testing.T) {
		conf := deviceConf(t, s, "tv")
		da, err := conf.DeviceAuth(t.Context())
		if err != nil {
			t.Fatalf("DeviceAuth: %v", err)
		}
		b := newBrowser(t)
		entry := signInForDevice(t, s, b, s.issuer+"/device", "bob", "bob-password-long-enough")
		if entry.status != http.StatusOK || !strings.Contains(entry.body, `name="user_code"`) {
			t.Fatalf("code form: %d\n%s", entry.status, entry.body)
		}
		typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", " - "))
		confirm := b.get(s.issuer + "/device?user_code=" + url.QueryEscape(typed))
		if confirm.status != http.StatusOK || !strings.Contains(confirm.body, da.UserCode) {
			t.Fatalf("typed %q: %d\n%s", typed, confirm.status, confirm.body)
		}
		fields := formFields(confirm.body)
		fields.Set("decision", "deny")
		if done := b.postForm(s.issuer+"/device", fields); !strings.Contains(done.body, "Request denied") {
			t.Fatalf("deny: %d\n%s", done.status, done.body)
		}
		if e, _ := pollOnce(t, s, "tv", da.DeviceCode); e != "access_denied" {
			t.Errorf("poll after deny: got %q, want access_denied", e)
		}
		// A forged form (no CSRF token of this session) is refused.
		fields.Set("csrf_token", "forged")
		if p := b.postForm(s.issuer+"/device", fields); p.status != http.StatusForbidden {
			t.Errorf("device form with a forged CSRF token: %d, want 403", p.status)
		}
	})

	t.Run("SlowDown", func(t *testing.T) {
		da, err := deviceConf(t, s, "tv").DeviceAuth(t.Context())
		if err != nil {
			t.Fatalf("DeviceAuth: %v", err)
		}
		if e, _ := pollOnce(t, s, "tv", da.DeviceCode); e != "authorization_pending" {
			t.Fatalf("first poll: got %q, want authorization_pending", e)
		}
		if e, _ := pollOnce(t, s, "tv", da.DeviceCode); e != "slow_down" {
			t.Fatalf("a poll right after: got %q, want slow_down", e)
		}
		time.Sleep(7 * time.Second) // past 5 s, not past the 10 s it is now
		if e, _ := pollOnce(t, s, "tv", da.DeviceCode); e != "slow_down" {
			t.Fatalf("a poll 7 s later, under the raised interval of 10 s: got %q, want slow_down", e)
		}
		time.Sleep(15*time.Second + 500*time.Millisecond)
		if e, _ := pollOnce(t, s, "tv", da.DeviceCode); e != "authorization_pending" {
			t.Fatalf("a poll keeping to the raised interval of 15 s: got %q, want authorization_pending", e)
		}
	})

	t.Run("NotInAllowedGroups", func(t *testing.T) {
		da, err := deviceConf(t, s, "staff-tv").DeviceAuth(t.Context())
		if err != nil {
			t.Fatalf("DeviceAuth: %v", err)
		}
		b := newBrowser(t)
		refused := signInForDevice(t, s, b, da.VerificationURIComplete, "bob", "bob-password-long-enough")
		if refused.status != http.StatusForbidden || !strings.Contains(refused.body, "may not use <strong>Staff TV</strong>") {
			t.Fatalf("bob, not in staff: %d\n%s", refused.status, refused.body)
		}
		if e, _ := pollOnce(t, s, "staff-tv", da.DeviceCode); e != "access_denied" {
			t.Errorf("the device of a refused user: got %q, want access_denied", e)
		}
	})

	t.Run("ClientWithoutTheGrant", func(t *testing.T) {
		resp, err := http.PostForm(s.issuer+"/device_authorization", url.Values{
			"client_id": {"web-post"}, "client_secret": {postSecret}, "scope": {"openid"}})
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if err := jsonDecode(resp, &body); err != nil || resp.StatusCode != http.StatusBadRequest || body["error"] != "unauthorized_client" {
			t.Errorf("device authorization by a client without the grant: %d %v", resp.StatusCode, body)
		}
		if e, _ := pollOnce(t, s, "native", "some-device-code"); e != "unauthorized_client" {
			t.Errorf("device_code grant by a client without it: got %q, want unauthorized_client", e)
		}
		if e, _ := pollOnce(t, s, "tv", "a-device-code-never-issued"); e != "invalid_grant" {
			t.Errorf("an unknown device code: got %q, want invalid_grant", e)
		}
	})

	// Last: it leaves this test's IP throttled.
	t.Run("GuessedUserCodesThrottled", func(t *testing.T) {
		da, err := deviceConf(t, s, "tv").DeviceAuth(t.Context())
		if err != nil {
			t.Fatalf("DeviceAuth: %v", err)
		}
		b := newBrowser(t)
		signInForDevice(t, s, b, s.issuer+"/device", "bob", "bob-password-long-enough")
		guesses := []string{"BCDF-GHJK", "LMNP-QRST", "VWXZ-BCDF", "GHJK-LMNP", "QRST-VWXZ"}
		for _, g := range guesses {
			if g == da.UserCode {
				continue
			}
			p := b.get(s.issuer + "/device?user_code=" + g)
			if p.status != http.StatusOK || !strings.Contains(p.body, "not right") {
				t.Fatalf("wrong code %s: %d, want the form again saying so\n%s", g, p.status, p.body)
			}
		}
		p := b.get(s.issuer + "/device?user_code=" + da.UserCode)
		if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Too many wrong codes") {
			t.Fatalf("after 5 wrong codes, even the right one: %d (Retry-After %q), want 429\n%s", p.status, p.header.Get("Retry-After"), p.body)
		}
		if p := b.get(s.issuer + "/device?user_code=not-a-code"); p.status != http.StatusOK || !strings.Contains(p.body, "8 letters") {
			t.Errorf("malformed code: %d\n%s", p.status, p.body)
		}
	})
}

// TestDeviceFlowTwoInstances runs a device sign-in across two Gatehouse
// processes sharing one Postgres and one Redis behind one issuer: the
// device starts on A, polls too soon on B (slow_down: the interval is
// shared), the user signs in and allows it on B, the device gets its
// tokens from A, and its next poll on B finds the code spent.
func TestDeviceFlowTwoInstances(t *testing.T) {
	env := productionBackend(t, nil, nil)
	door := newFrontDoor(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(deviceClientsYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	a := launch(t, &server{t: t, dir: dir, host: "127.0.0.1", fixedIssuer: door.srv.URL, backendEnv: env})
	b := launch(t, &server{t: t, dir: dir, host: "127.0.0.1", fixedIssuer: door.srv.URL, backendEnv: env})

	door.to(a)
	da, err := deviceConf(t, a, "tv").DeviceAuth(t.Context())
	if err != nil {
		t.Fatalf("DeviceAuth on A: %v", err)
	}
	if e, _ := pollOnce(t, a, "tv", da.DeviceCode); e != "authorization_pending" {
		t.Fatalf("first poll on A: got %q, want authorization_pending", e)
	}
	door.to(b)
	if e, _ := pollOnce(t, b, "tv", da.DeviceCode); e != "slow_down" {
		t.Fatalf("a poll on B right after the one on A: got %q, want slow_down", e)
	}
	br := newBrowser(t)
	confirm := signInForDevice(t, b, br, da.VerificationURIComplete, "admin", adminPassword)
	fields := formFields(confirm.body)
	fields.Set("decision", "allow")
	if done := br.postForm(b.issuer+"/device", fields); !strings.Contains(done.body, "Device signed in") {
		t.Fatalf("allow on B: %d\n%s", done.status, done.body)
	}
	door.to(a)
	time.Sleep(10*time.Second + 500*time.Millisecond) // the raised interval
	e, tok := pollOnce(t, a, "tv", da.DeviceCode)
	if e != "" || tok["id_token"] == nil || tok["refresh_token"] == nil {
		t.Fatalf("poll on A after the approval on B: error %q, %v", e, tok)
	}
	door.to(b)
	time.Sleep(10*time.Second + 500*time.Millisecond)
	if e, _ := pollOnce(t, b, "tv", da.DeviceCode); e != "invalid_grant" {
		t.Errorf("poll on B after A redeemed the code: got %q, want invalid_grant", e)
	}
}

// TestDeviceFlowSecondFactor: a device client marked require_mfa gets no
// approval from a password-only session: the device page steps the
// session up (here a set-up of a one-time code, the user having none),
// comes back to the same code, and the device's ID token says mfa.
func TestDeviceFlowSecondFactor(t *testing.T) {
	dir := t.TempDir()
	yaml := deviceClientsYAML + `  - client_id: secure-tv
    client_name: Secure TV
    token_endpoint_auth_method: none
    grant_types: ["urn:ietf:params:oauth:grant-type:device_code"]
    require_mfa: true
`
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dir)
	conf := deviceConf(t, s, "secure-tv")
	da, err := conf.DeviceAuth(t.Context())
	if err != nil {
		t.Fatalf("DeviceAuth: %v", err)
	}
	b := newBrowser(t)
	p := signInForDevice(t, s, b, da.VerificationURIComplete, "admin", adminPassword)
	if p.status != http.StatusSeeOther || !strings.HasSuffix(p.location, "/login/enrol") {
		t.Fatalf("device page of a password-only session for a require_mfa client: %d to %q, want /login/enrol\n%s", p.status, p.location, p.body)
	}
	if e, _ := pollOnce(t, s, "secure-tv", da.DeviceCode); e != "authorization_pending" {
		t.Fatalf("poll before the step-up: got %q, want authorization_pending", e)
	}
	p = b.get(p.location)
	m := totpSecretOnPage.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("set-up page: %d\n%s", p.status, p.body)
	}
	fields := formFields(p.body)
	fields.Set("code", totpCode(t, strings.ReplaceAll(m[1], " ", ""), time.Now()))
	p = b.postForm(s.issuer+"/login/enrol", fields)
	link := continueLink.FindStringSubmatch(p.body)
	if link == nil || htmlUnescape(link[1]) != "/device?user_code="+da.UserCode {
		t.Fatalf("after the set-up: %d, want a link back to the device page\n%s", p.status, p.body)
	}
	confirm := b.get(s.issuer + htmlUnescape(link[1]))
	if confirm.status != http.StatusOK || !strings.Contains(confirm.body, "Secure TV") {
		t.Fatalf("device page after the step-up: %d\n%s", confirm.status, confirm.body)
	}
	fields = formFields(confirm.body)
	fields.Set("decision", "allow")
	if done := b.postForm(s.issuer+"/device", fields); !strings.Contains(done.body, "Device signed in") {
		t.Fatalf("allow: %d\n%s", done.status, done.body)
	}
	time.Sleep(5*time.Second + 500*time.Millisecond)
	e, tok := pollOnce(t, s, "secure-tv", da.DeviceCode)
	raw, _ := tok["id_token"].(string)
	if e != "" || raw == "" {
		t.Fatalf("poll after the approval: %q %v", e, tok)
	}
	prov, err := oidc.NewProvider(t.Context(), s.issuer)
	if err != nil {
		t.Fatal(err)
	}
	idt, err := prov.Verifier(&oidc.Config{ClientID: "secure-tv"}).Verify(t.Context(), raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if c := claimsOf(t, idt); c.ACR != "https://refeds.org/profile/mfa" || !slices.Contains(c.AMR, "otp") || c.SID == "" {
		t.Errorf("device ID token after the step-up: acr %q amr %v sid %q, want mfa with otp and a sid", c.ACR, c.AMR, c.SID)
	}
}
