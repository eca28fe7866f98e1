package conformance

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// staffAppYAML adds to the test clients one that only members of the group
// staff may sign in to.
const staffAppYAML = clientsYAML + `  - client_id: staff-app
    skip_consent: true
    client_name: Staff App
    client_secret_env: TEST_POST_SECRET
    token_endpoint_auth_method: client_secret_post
    grant_types: [authorization_code, refresh_token]
    redirect_uris: [https://staff.example/callback]
    allowed_groups: [staff]
`

var backToApp = regexp.MustCompile(`<a class="button" href="([^"]+)">Back to Staff App</a>`)

// TestAllowedGroupsSignIn drives real sign-ins over HTTP to a client with
// allowed_groups (clients.yaml), with groups made by the CLI: a member
// signs in and refreshes; a user outside the group gets a page saying the
// account may not use the app, whose link takes the browser back to the
// app with error=access_denied, state and iss, and no code; that user
// stays signed in (single sign-on to another app works); the refusal is in
// the audit trail. Removed from the group, the member's refresh token
// gets invalid_grant.
func TestAllowedGroupsSignIn(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "clients.yaml"), []byte(staffAppYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, dir)
	for _, args := range [][]string{
		{"users", "add", "bob", "--password-stdin"},
		{"groups", "create", "staff"},
		{"groups", "add", "staff", "admin"},
	} {
		if out, err := s.gatehouseCLI("bob-password-long-enough\n", args...); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	r := newRP(t, s, "staff-app", postSecret, "https://staff.example/callback", oauth2.AuthStyleInParams)

	// A member: code, tokens, a refresh.
	f := newFlow()
	tok, _ := r.exchange(f, r.code(s, f, newBrowser(t).login(r.authURL(f), "admin", adminPassword)))
	tok, err := r.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("refresh of a member: %v", err)
	}

	// Not a member: the callback answers with the refusal page.
	b := newBrowser(t)
	f = newFlow()
	p := b.get(r.authURL(f))
	form := b.get(p.location)
	fields := formFields(form.body)
	fields.Set("username", "bob")
	fields.Set("password", "bob-password-long-enough")
	done := b.postForm(s.issuer+"/login", fields)
	if done.status != http.StatusSeeOther {
		t.Fatalf("login post of bob: %d, want 303\n%s", done.status, done.body)
	}
	refused := b.get(done.location)
	if refused.status != http.StatusForbidden || refused.location != "" ||
		!strings.Contains(refused.body, "You may not use Staff App") || !strings.Contains(refused.body, "signed in as <strong>bob</strong>") {
		t.Fatalf("callback of a user outside the group: %d to %q, want 403 with the refusal page\n%s", refused.status, refused.location, refused.body)
	}
	m := backToApp.FindStringSubmatch(refused.body)
	if m == nil {
		t.Fatalf("refusal page: no link back to the app\n%s", refused.body)
	}
	back, err := url.Parse(htmlUnescape(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	q := back.Query()
	if back.Host != "staff.example" || back.Path != "/callback" || q.Get("error") != "access_denied" ||
		q.Get("state") != f.state || q.Get("iss") != s.issuer || q.Has("code") {
		t.Errorf("link back: %s, want https://staff.example/callback with error=access_denied, state %q, iss %q and no code", back, f.state, s.issuer)
	}

	// bob is still signed in: single sign-on to an unrestricted app.
	other := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	f2 := newFlow()
	if _, idt := other.exchange(f2, other.code(s, f2, b.follow(other.authURL(f2)))); idt.Subject == "" {
		t.Error("SSO of the refused user to another app: no subject")
	}
	// And asking the restricted app again without a page: access_denied.
	f3 := newFlow()
	resp := b.follow(r.authURL(f3, oauth2.SetAuthURLParam("prompt", "none")))
	if resp.Query().Get("error") != "access_denied" || resp.Query().Get("state") != f3.state || resp.Query().Get("iss") != s.issuer {
		t.Errorf("prompt=none for the refused user: %s, want error=access_denied with state and iss", resp)
	}

	events := auditEvents(t, s, func(byKind map[string][]map[string]string) bool { return len(byKind["access_denied"]) >= 2 })
	got := events["access_denied"]
	if len(got) != 2 {
		t.Errorf("audit: access_denied events %v, want two (the callback, prompt=none)", got)
	}
	for _, e := range got {
		if e["client_id"] != "staff-app" || e["username"] != "bob" || !strings.Contains(e["detail"], "reason=not_in_allowed_groups") {
			t.Errorf("audit: access_denied event %v, want staff-app, bob, reason=not_in_allowed_groups", e)
		}
	}

	// The member leaves the group: their refresh token stops working.
	if out, err := s.gatehouseCLI("", "groups", "remove", "staff", "admin"); err != nil {
		t.Fatalf("groups remove: %v\n%s", err, out)
	}
	if _, err := r.refresh(tok.RefreshToken); err == nil || oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh after leaving the group: got %v, want invalid_grant", err)
	}
}
