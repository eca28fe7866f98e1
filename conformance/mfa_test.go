package conformance

import (
	"encoding/json"
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

	"github.com/gatehouse-idp/gatehouse/mfa/mfatest"
)

// mfaClientYAML is an application whose sign-ins need a second factor.
const mfaClientYAML = `  - client_id: payroll
    skip_consent: true
    client_name: Payroll
    require_mfa: true
    token_endpoint_auth_method: none
    redirect_uris: [https://payroll.example/callback]
`

// idClaims are the ID token claims that say how the user signed in.
type idClaims struct {
	ACR string   `json:"acr"`
	AMR []string `json:"amr"`
	SID string   `json:"sid"`
}

func claimsOf(t *testing.T, idt *oidc.IDToken) idClaims {
	t.Helper()
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

var (
	totpSecretOnPage = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7 ]+)</code>`)
	continueLink     = regexp.MustCompile(`<a class="button" href="([^"]+)">`)
)

// totpCode is the code an authenticator app would show for secret at t.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := mfatest.Code(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestSecondFactorStepUpAndACR drives the real server with go-oidc as the
// relying party: a password sign-in earns the single-factor class; an
// application marked require_mfa refuses that session under prompt=none
// (interaction_required) and otherwise steps it up — the user sets up a
// one-time code from the key on the page, sees recovery codes, and the
// same session (same sid) now earns the multi-factor class; a new browser
// then needs the password and a code, and the code just used is refused.
func TestSecondFactorStepUpAndACR(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(clientsYAML+mfaClientYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s := launch(t, &server{t: t, dir: dir, host: "127.0.0.1", backendEnv: suiteBackend(t)})
	web := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	payroll := newRP(t, s, "payroll", "", "https://payroll.example/callback", oauth2.AuthStyleInParams)

	var d map[string]any
	getJSON(t, s.issuer+"/.well-known/openid-configuration", &d)
	if got := d["acr_values_supported"]; !equalJSON(got, []any{"https://refeds.org/profile/sfa", "https://refeds.org/profile/mfa"}) {
		t.Errorf("acr_values_supported: got %v, want the REFEDS sfa and mfa profiles", got)
	}

	b := newBrowser(t)
	f := newFlow()
	_, idt := web.exchange(f, web.code(s, f, b.login(web.authURL(f), "admin", adminPassword)))
	first := claimsOf(t, idt)
	if first.ACR != "https://refeds.org/profile/sfa" || !slices.Equal(first.AMR, []string{"pwd"}) || first.SID == "" {
		t.Fatalf("password sign-in: acr %q amr %v sid %q; want sfa, [pwd] and a sid", first.ACR, first.AMR, first.SID)
	}

	// prompt=none cannot add the factor the application requires.
	f = newFlow()
	resp := b.follow(payroll.authURL(f, oauth2.SetAuthURLParam("prompt", "none")))
	if got := resp.Query().Get("error"); got != "interaction_required" || resp.Query().Get("state") != f.state {
		t.Fatalf("prompt=none to a require_mfa app: got error %q state %q (%s), want interaction_required", got, resp.Query().Get("state"), resp)
	}

	// Without prompt=none the session is stepped up: set-up first.
	f = newFlow()
	p := b.get(payroll.authURL(f))
	if p.status != http.StatusFound || !strings.Contains(p.location, "/login?id=") {
		t.Fatalf("authorize: got %d to %q, want the login page", p.status, p.location)
	}
	p = b.get(p.location)
	if p.status != http.StatusSeeOther || !strings.HasSuffix(p.location, "/login/enrol") {
		t.Fatalf("login page of a step-up for a user without a code: got %d to %q, want /login/enrol", p.status, p.location)
	}
	p = b.get(p.location)
	m := totpSecretOnPage.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		t.Fatalf("set-up page: got %d without a key\n%s", p.status, p.body)
	}
	secret := strings.ReplaceAll(m[1], " ", "")
	fields := formFields(p.body)
	enrolledAt := time.Now()
	fields.Set("code", totpCode(t, secret, enrolledAt))
	p = b.postForm(s.issuer+"/login/enrol", fields)
	link := continueLink.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || strings.Count(p.body, "<li><code>") != 10 || link == nil {
		t.Fatalf("set-up: got %d, want the 10 recovery codes and a link on\n%s", p.status, p.body)
	}
	_, idt = payroll.exchange(f, payroll.code(s, f, b.follow(htmlUnescape(link[1]))))
	stepped := claimsOf(t, idt)
	if stepped.ACR != "https://refeds.org/profile/mfa" || !slices.Contains(stepped.AMR, "otp") || !slices.Contains(stepped.AMR, "mfa") ||
		!slices.Contains(stepped.AMR, "pwd") {
		t.Errorf("after the step-up: acr %q amr %v; want mfa with pwd, otp and mfa", stepped.ACR, stepped.AMR)
	}
	if stepped.SID != first.SID {
		t.Errorf("step-up sid %q, want the same session %q", stepped.SID, first.SID)
	}

	// A new browser: the password opens nothing without a code.
	b2 := newBrowser(t)
	f = newFlow()
	p = b2.get(web.authURL(f))
	form := b2.get(p.location)
	fields = formFields(form.body)
	fields.Set("username", "admin")
	fields.Set("password", adminPassword)
	p = b2.postForm(s.issuer+"/login", fields)
	if p.status != http.StatusSeeOther || !strings.HasSuffix(p.location, "/login/factor") {
		t.Fatalf("password of a user with a code: got %d to %q, want /login/factor", p.status, p.location)
	}
	factor := b2.get(p.location)
	fields = formFields(factor.body)
	fields.Set("method", "totp")
	fields.Set("code", totpCode(t, secret, enrolledAt)) // spent by the set-up
	if p = b2.postForm(s.issuer+"/login/factor", fields); p.status != http.StatusOK || !strings.Contains(p.body, "used already") {
		t.Errorf("the set-up's code again: got %d, want the page saying it was used\n%s", p.status, p.body)
	}
	// The next step's code (within the one step of skew allowed).
	fields.Set("code", totpCode(t, secret, enrolledAt.Add(30*time.Second)))
	p = b2.postForm(s.issuer+"/login/factor", fields)
	if p.status != http.StatusSeeOther {
		t.Fatalf("the next code: got %d, want 303\n%s", p.status, p.body)
	}
	tok, idt := web.exchange(f, web.code(s, f, b2.follow(p.location)))
	second := claimsOf(t, idt)
	if second.ACR != "https://refeds.org/profile/mfa" || second.SID == first.SID {
		t.Errorf("second browser: acr %q sid %q; want mfa and a new session", second.ACR, second.SID)
	}
	// Introspection says the same of the access and the refresh token.
	for _, token := range []string{tok.AccessToken, tok.RefreshToken} {
		status, body := postClient(t, s, "/oauth/introspect", url.Values{"token": {token}})
		var got struct {
			Active bool     `json:"active"`
			ACR    string   `json:"acr"`
			AMR    []string `json:"amr"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || status != http.StatusOK || !got.Active ||
			got.ACR != second.ACR || !slices.Equal(got.AMR, second.AMR) {
			t.Errorf("introspection: %d %s; want active with acr %s and amr %v", status, body, second.ACR, second.AMR)
		}
	}
}
