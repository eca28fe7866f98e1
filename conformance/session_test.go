package conformance

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// TestAccountPage: the account page is reached through the normal login
// and shows who is signed in; signing out there ends the session.
func TestAccountPage(t *testing.T) {
	s := startServer(t, "")
	b := newBrowser(t)
	p := b.get(s.issuer + "/")
	if p.location != s.issuer+"/account" {
		t.Fatalf("GET /: got redirect %q, want /account", p.location)
	}
	p = b.get(p.location)
	if p.location != s.issuer+"/login" {
		t.Fatalf("GET /account signed out: got %d to %q, want the login page", p.status, p.location)
	}
	form := b.get(p.location)
	fields := formFields(form.body)
	fields.Set("username", "Admin ") // canonicalised: same account
	fields.Set("password", adminPassword)
	p = b.postForm(s.issuer+"/login", fields)
	if p.status != http.StatusSeeOther || p.location != s.issuer+"/account" {
		t.Fatalf("login: got %d to %q, want 303 to /account\n%s", p.status, p.location, p.body)
	}
	account := b.get(p.location)
	if account.status != http.StatusOK || !strings.Contains(account.body, "<dd>admin</dd>") {
		t.Fatalf("account page: got %d\n%s", account.status, account.body)
	}
	out := b.postForm(s.issuer+"/account/signout", formFields(account.body))
	if out.status != http.StatusOK || !strings.Contains(out.body, "signed out") {
		t.Fatalf("sign out: got %d\n%s", out.status, out.body)
	}
	if p := b.get(s.issuer + "/account"); p.location != s.issuer+"/login" {
		t.Errorf("account after sign-out: got %d to %q, want the login page", p.status, p.location)
	}
}

// TestEndSession: RP-initiated logout with a hint for the signed-in user
// ends the session and returns to a registered URI with state; without a
// hint the user must confirm; unregistered URIs never get a redirect.
func TestEndSession(t *testing.T) {
	s := startServer(t, "")
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)
	f := newFlow()
	tok, _ := r.exchange(f, r.code(s, f, b.login(r.authURL(f), "admin", adminPassword)))
	idToken, _ := tok.Extra("id_token").(string)
	endSession := s.issuer + "/end_session?"

	// No hint: a confirmation page, no redirect, session intact.
	p := b.get(endSession + url.Values{"client_id": {"web-basic"}, "post_logout_redirect_uri": {"https://rp.example/bye"}}.Encode())
	if p.status != http.StatusOK || p.location != "" || !strings.Contains(p.body, "Sign out?") {
		t.Errorf("end_session without hint: got %d to %q, want a confirmation page", p.status, p.location)
	}
	// An unregistered post-logout URI: an error page, no redirect.
	p = b.get(endSession + url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
	if p.status != http.StatusBadRequest || p.location != "" {
		t.Errorf("unregistered post_logout_redirect_uri: got %d to %q, want 400 and no redirect", p.status, p.location)
	}
	// A forged hint is refused.
	p = b.get(endSession + url.Values{"id_token_hint": {idToken[:len(idToken)-4] + "AAAA"}, "post_logout_redirect_uri": {"https://rp.example/bye"}}.Encode())
	if p.status != http.StatusBadRequest || p.location != "" {
		t.Errorf("forged id_token_hint: got %d to %q, want 400 and no redirect", p.status, p.location)
	}
	// Still signed in: prompt=none answers with a code.
	f2 := newFlow()
	r.code(s, f2, b.follow(r.authURL(f2, oauth2.SetAuthURLParam("prompt", "none"))))

	// The real thing, as a POST.
	p = b.postForm(s.issuer+"/end_session", url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://rp.example/bye"}, "state": {"xyz"}})
	if p.status != http.StatusFound || p.location != "https://rp.example/bye?state=xyz" {
		t.Fatalf("end_session: got %d to %q, want 302 to https://rp.example/bye?state=xyz", p.status, p.location)
	}
	resp := b.follow(r.authURL(newFlow(), oauth2.SetAuthURLParam("prompt", "none")))
	if got := resp.Query().Get("error"); got != "login_required" {
		t.Errorf("prompt=none after logout: got %q, want login_required", got)
	}
}

// TestClientRemovedFromFileIsDisabled: clients.yaml is the source of
// truth at every start.
func TestClientRemovedFromFileIsDisabled(t *testing.T) {
	s := startServer(t, "")
	newRP(t, s, "spa", "", "https://spa.example/callback", oauth2.AuthStyleInParams)
	without := strings.Replace(clientsYAML, "  - client_id: spa\n", "  - client_id: spa2\n", 1)
	if err := os.WriteFile(filepath.Join(s.dir, "clients.yaml"), []byte(without), 0o600); err != nil {
		t.Fatal(err)
	}
	s.restart()
	if !strings.Contains(s.log(), `"disabled":["spa"]`) || !strings.Contains(s.log(), `"created":["spa2"]`) {
		t.Errorf("sync log: want spa disabled and spa2 created\n%s", s.log())
	}
	v := baseParams("spa", "https://spa.example/callback")
	p := newBrowser(t).get(authorizeURL(s, v))
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "not registered") {
		t.Errorf("authorize for a removed client: got %d, want the unknown-application page", p.status)
	}
	v.Set("client_id", "spa2")
	if p := newBrowser(t).get(authorizeURL(s, v)); p.status != http.StatusFound {
		t.Errorf("authorize for the new client: got %d, want 302", p.status)
	}
}

// TestDisabledUserLosesAccess: once a user is disabled, their refresh
// tokens, access tokens and browser session stop working (the bug class of
// Zitadel's CVE-2023-22492).
func TestDisabledUserLosesAccess(t *testing.T) {
	s := startServer(t, "")
	if out, err := s.gatehouseCLI("carol-password-long-enough\n", "users", "add", "carol", "--password-stdin"); err != nil {
		t.Fatalf("users add: %v\n%s", err, out)
	}
	r := newRP(t, s, "web-basic", basicSecret, "https://rp.example/callback", oauth2.AuthStyleInHeader)
	b := newBrowser(t)
	f := newFlow()
	tok, _ := r.exchange(f, r.code(s, f, b.login(r.authURL(f), "carol", "carol-password-long-enough")))

	if out, err := s.gatehouseCLI("", "users", "disable", "carol"); err != nil {
		t.Fatalf("users disable: %v\n%s", err, out)
	}
	if _, err := r.refresh(tok.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Errorf("refresh for a disabled user: got %v, want invalid_grant", err)
	}
	if _, err := r.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("userinfo for a disabled user: got success, want 401")
	}
	resp := b.follow(r.authURL(newFlow(), oauth2.SetAuthURLParam("prompt", "none")))
	if got := resp.Query().Get("error"); got != "login_required" {
		t.Errorf("prompt=none for a disabled user's session: got %q, want login_required", got)
	}
}
