package provider

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestGroupsScope: with the groups scope the ID token, the refreshed ID
// token and userinfo carry the user's group names; without it, none of
// them does (and the store is not asked). A user in no group gets an empty
// list when the scope is granted.
func TestGroupsScope(t *testing.T) {
	e := newTestEnv(t)
	ctx := t.Context()
	for _, g := range []string{"staff", "admins"} {
		if err := e.store.CreateGroup(ctx, &storage.Group{Name: g, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := e.store.AddGroupMember(ctx, g, testUserID); err != nil {
			t.Fatal(err)
		}
	}
	userinfo := func(access string) map[string]any {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, testIssuer+userinfoPath, nil)
		req.Header.Set("Authorization", "Bearer "+access)
		rec := e.do(req)
		var m map[string]any
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
			t.Fatalf("userinfo: %d %s", rec.Code, rec.Body)
		}
		return m
	}
	groupsOf := func(m map[string]any) []string {
		raw, ok := m["groups"].([]any)
		if !ok {
			return nil
		}
		var out []string
		for _, g := range raw {
			out = append(out, g.(string))
		}
		return out
	}
	want := []string{"admins", "staff"}

	code, verifier := e.signIn(t, cookieJar{}, "openid groups offline_access")
	tr := decodeToken(t, e.exchangeCode(code, verifier, "web", testWebSecret))
	if got := groupsOf(idTokenClaims(t, tr.IDToken)); !slices.Equal(got, want) {
		t.Errorf("ID token groups %v, want %v", got, want)
	}
	if got := groupsOf(userinfo(tr.AccessToken)); !slices.Equal(got, want) {
		t.Errorf("userinfo groups %v, want %v", got, want)
	}
	if _, err := e.store.RemoveGroupMember(ctx, "admins", testUserID); err != nil {
		t.Fatal(err)
	}
	next := decodeToken(t, e.refresh(tr.RefreshToken))
	if got := groupsOf(idTokenClaims(t, next.IDToken)); !slices.Equal(got, []string{"staff"}) {
		t.Errorf("refreshed ID token groups %v, want [staff] (read again at the refresh)", got)
	}
	if _, err := e.store.RemoveGroupMember(ctx, "staff", testUserID); err != nil {
		t.Fatal(err)
	}
	if got, ok := userinfo(next.AccessToken)["groups"].([]any); !ok || len(got) != 0 {
		t.Errorf("userinfo groups of a user in none: %v, want []", userinfo(next.AccessToken)["groups"])
	}

	code, verifier = e.signIn(t, cookieJar{}, "openid profile")
	tr = decodeToken(t, e.exchangeCode(code, verifier, "web", testWebSecret))
	if _, ok := idTokenClaims(t, tr.IDToken)["groups"]; ok {
		t.Error("an ID token without the groups scope has a groups claim")
	}
	if _, ok := userinfo(tr.AccessToken)["groups"]; ok {
		t.Error("userinfo without the groups scope has a groups claim")
	}
}
