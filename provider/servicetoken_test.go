package provider

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// ServiceToken honours only live client_credentials tokens, JWT or
// opaque, with the scopes the client is still registered for.
func TestServiceToken(t *testing.T) {
	e, clock := newClockEnv(t, 10*time.Second)
	ctx := t.Context()
	token := func(scope string) string {
		t.Helper()
		rec := e.serviceToken(scope, testServiceSecret)
		var tr struct {
			AccessToken string `json:"access_token"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &tr) != nil {
			t.Fatalf("client_credentials: %d %s", rec.Code, rec.Body)
		}
		return tr.AccessToken
	}
	both := token("reports:read reports:write")
	id, scopes, err := e.p.ServiceToken(ctx, both)
	if err != nil || id != "service" || !slices.Equal(scopes, []string{"reports:read", "reports:write"}) {
		t.Fatalf("ServiceToken(service token): got %q, %v, %v; want service and both scopes", id, scopes, err)
	}

	user := e.codeFlow(t, "openid profile").AccessToken
	for _, bad := range []struct{ name, token string }{
		{"a user's access token", user},
		{"an ID token", e.codeFlow(t, "openid").IDToken},
		{"garbage", "not-a-token"},
		{"an empty string", ""},
		{"a truncated token", both[:len(both)-3]},
		{"an opaque-looking forgery", opaquePrefix + strings.Repeat("A", 64)},
	} {
		if id, scopes, err := e.p.ServiceToken(ctx, bad.token); id != "" || scopes != nil || err != nil {
			t.Errorf("ServiceToken(%s): got %q, %v, %v; want nothing", bad.name, id, scopes, err)
		}
	}

	// Expired: nothing.
	clock.advance(time.Hour)
	if id, _, err := e.p.ServiceToken(ctx, both); id != "" || err != nil {
		t.Errorf("ServiceToken of an expired token: got %q, %v; want nothing", id, err)
	}
	both = token("reports:read reports:write")

	// A scope taken from the client stops working once the client cache
	// forgets the client; a disabled client's tokens stop altogether.
	clients := firstPartyClients()
	for i := range clients {
		if clients[i].ID == "service" {
			clients[i].Scopes = []string{"reports:read"}
		}
	}
	if _, err := e.store.SyncClients(ctx, clients, clock.now()); err != nil {
		t.Fatal(err)
	}
	e.p.InvalidateClients()
	if id, scopes, _ := e.p.ServiceToken(ctx, both); id != "service" || !slices.Equal(scopes, []string{"reports:read"}) {
		t.Errorf("ServiceToken after reports:write was taken away: got %q, %v; want only reports:read", id, scopes)
	}
	clients = slices.DeleteFunc(clients, func(c storage.Client) bool { return c.ID == "service" })
	if _, err := e.store.SyncClients(ctx, clients, clock.now()); err != nil {
		t.Fatal(err)
	}
	e.p.InvalidateClients()
	if id, _, err := e.p.ServiceToken(ctx, both); id != "" || err != nil {
		t.Errorf("ServiceToken of a disabled client's token: got %q, %v; want nothing", id, err)
	}

}

// TestReservedScopesNeverForUsers: a client registered for gatehouse:admin
// (a service that also signs users in) never gets Gatehouse's own scopes in
// the tokens of a user: the authorization request drops them as it drops
// any scope the client may not ask for, so only client_credentials tokens
// carry them.
func TestReservedScopesNeverForUsers(t *testing.T) {
	e := newTestEnv(t)
	c := storage.Client{
		ID: "both", Name: "Both", Source: storage.ClientSourceAPI, SecretHash: clientpolicy.HashSecret(testPostSecret),
		RedirectURIs: []string{webRedirect}, GrantTypes: []string{"authorization_code", "client_credentials"},
		ResponseTypes: []string{"code"}, Scopes: []string{"gatehouse:admin", "gatehouse:admin.read", "reports:read"},
		TokenEndpointAuthMethod: "client_secret_post", ApplicationType: "web", SkipConsent: true,
	}
	if err := e.store.CreateClient(t.Context(), &c, time.Now()); err != nil {
		t.Fatal(err)
	}
	// Bad input tried: a user's sign-in asking for both admin scopes.
	code, verifier := e.signInTo(t, cookieJar{}, "both", "openid gatehouse:admin gatehouse:admin.read reports:read")
	tr := decodeToken(t, e.exchangeCode(code, verifier, "both", testPostSecret))
	claims := idTokenClaims(t, tr.AccessToken)
	if got := claims["scope"]; got != "openid reports:read" {
		t.Errorf("a user's access token has scope %q, want %q", got, "openid reports:read")
	}
	if id, scopes, err := e.p.ServiceToken(t.Context(), tr.AccessToken); err != nil || id != "" || scopes != nil {
		t.Errorf("ServiceToken(a user's token) = %q, %v, %v; want nothing", id, scopes, err)
	}
}
