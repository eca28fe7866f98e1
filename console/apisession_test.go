package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/adminapi"
	"github.com/gatehouse-idp/gatehouse/audit"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestAdminAPIWithSession: the admin API on the main listener takes a
// gatehouse-admins member's browser session (SessionAdmin), with a second
// factor, as a principal that may do everything, recorded as the user;
// a change must come from the issuer's own pages. Bad input tried: a
// session without a second factor, a non-member's session, no session, a
// change with another site's Origin, a change with neither Origin nor
// Sec-Fetch-Site.
func TestAdminAPIWithSession(t *testing.T) {
	e, _ := newEnv(t)
	rec := audit.RecorderFunc(func(ctx context.Context, evs ...storage.AuditEvent) error {
		for i := range evs {
			evs[i].Time = testNow
		}
		return e.store.AppendAudit(ctx, evs)
	})
	api := adminapi.New(adminapi.Config{
		Store:          e.store,
		Actions:        admin.New(admin.Config{Store: e.store, Keys: e.keys, Record: rec, FamilyKeep: time.Hour, Now: func() time.Time { return testNow }}),
		Authenticators: []adminapi.Authenticator{adminapi.SessionAdmins{Admin: e.c.SessionAdmin, Origin: testIssuer}},
		Issuer:         testIssuer,
	}).Handler()
	boss := e.signIn(e.user("boss", AdminGroup), mfaAMR...)
	onePassword := e.signIn(e.user("half", AdminGroup), "pwd")
	staff := e.signIn(e.user("staff", "staff"), mfaAMR...)
	call := func(method, path, cookie string, header map[string]string, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, testIssuer+path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: loginui.SessionCookie, Value: cookie})
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		return w
	}
	for name, cookie := range map[string]string{"no session": "", "password only": onePassword, "not an admin": staff} {
		if got := call("GET", "/admin/v1/users", cookie, nil, ""); got.Code != http.StatusUnauthorized {
			t.Errorf("GET users with %s: %d %s, want 401", name, got.Code, got.Body)
		}
	}
	if got := call("GET", "/admin/v1/users", boss, nil, ""); got.Code != http.StatusOK || !strings.Contains(got.Body.String(), `"boss"`) {
		t.Errorf("GET users as an admin with a second factor: %d %s, want 200 with the users", got.Code, got.Body)
	}
	for name, header := range map[string]map[string]string{
		"another site's Origin":           {"Origin": "https://evil.example"},
		"no Origin, no Sec-Fetch-Site":    nil,
		"a cross-site fetch, no Origin":   {"Sec-Fetch-Site": "cross-site"},
		"the issuer's host, other scheme": {"Origin": strings.Replace(testIssuer, "https:", "http:", 1)},
	} {
		if got := call("POST", "/admin/v1/groups", boss, header, `{"name":"forged"}`); got.Code != http.StatusForbidden {
			t.Errorf("POST a group with %s: %d %s, want 403", name, got.Code, got.Body)
		}
	}
	if groups, _ := e.store.ListGroups(t.Context()); len(groups) != 2 {
		t.Fatalf("groups after refused changes: %v, want only gatehouse-admins and staff", groups)
	}
	for i, header := range []map[string]string{{"Origin": testIssuer}, {"Sec-Fetch-Site": "same-origin"}} {
		name := []string{"from-origin", "from-fetch-site"}[i]
		if got := call("POST", "/admin/v1/groups", boss, header, `{"name":"`+name+`"}`); got.Code != http.StatusCreated {
			t.Errorf("POST group %s from the issuer's pages: %d %s, want 201", name, got.Code, got.Body)
		}
	}
	events, err := e.store.AuditEvents(t.Context(), storage.AuditQuery{Kind: admin.EventGroupCreated, Limit: 10})
	if err != nil || len(events) != 2 {
		t.Fatalf("group_created events: %v, %v; want 2", events, err)
	}
	for _, ev := range events {
		if ev.Actor != audit.ActorUser || !strings.Contains(ev.Detail, "by=user:id-boss") {
			t.Errorf("event %+v: want actor user, by=user:id-boss", ev)
		}
	}
}
