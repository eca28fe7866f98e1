package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// TestReadViews: every page an admin opens shows what the stores hold.
func TestReadViews(t *testing.T) {
	e, _ := newEnv(t)
	root := e.user("root", AdminGroup)
	bob := e.user("bob", "staff")
	cookie := e.signIn(root, mfaAMR...)
	e.signIn(bob, "pwd")
	if _, err := e.store.SyncClients(t.Context(), []storage.Client{{ID: "from-file", Name: "Declared App", RedirectURIs: []string{"https://app.example/cb"},
		GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none", ApplicationType: "web"}}, testNow); err != nil {
		t.Fatal(err)
	}
	api := &storage.Client{ID: "from-api", Name: "API App", Source: storage.ClientSourceAPI, RedirectURIs: []string{"https://api.example/cb"},
		GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "client_secret_basic", SecretHash: "x", ApplicationType: "web"}
	if err := e.store.CreateClient(t.Context(), api, testNow); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/admin/users/" + bob.ID, []string{"bob@example.com", "one factor", "(pwd)", `href="/admin/groups/staff"`, "Recovery codes left: 0", "Authenticator app: none"}},
		{"/admin/users/" + root.ID, []string{"yours, now", "two factors", AdminGroup}},
		{"/admin/groups", []string{`href="/admin/groups/staff"`, "console access"}},
		{"/admin/groups/staff", []string{`href="/admin/users/id-bob"`, "Name of bob"}},
		{"/admin/clients", []string{"from-file", "clients.yaml", "from-api", "admin API", "confidential", "public"}},
		{"/admin/clients/from-api", []string{"declared in admin API", "client_secret_basic", "https://api.example/cb"}},
		{"/admin/keys", []string{"RS256", "ES256", "EdDSA", "active", "in JWKS", "Rotate now"}},
	} {
		rec := e.get(tt.path, cookie)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s: got %d, want 200; body %.500s", tt.path, rec.Code, rec.Body)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(rec.Body.String(), w) {
				t.Errorf("GET %s: no %q in the page", tt.path, w)
			}
		}
	}
	for _, path := range []string{"/admin/users/nobody", "/admin/groups/nothing", "/admin/groups/BAD%20NAME", "/admin/clients/nothing"} {
		if rec := e.get(path, cookie); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: got %d, want 404", path, rec.Code)
		}
	}
}

// TestAuditFilters: kind, user (by username or id), client, time and the
// cursor select what the store holds. Bad input tried: a kind with other
// characters, a malformed time, forged and malformed cursors.
func TestAuditFilters(t *testing.T) {
	e, _ := newEnv(t)
	root := e.user("root", AdminGroup)
	bob := e.user("bob")
	cookie := e.signIn(root, mfaAMR...)
	var evs []storage.AuditEvent
	for i := range 70 {
		evs = append(evs, storage.AuditEvent{Time: testNow.Add(-time.Duration(i) * time.Minute), Kind: "sign_in", UserID: bob.ID, ClientID: "app", Detail: "n=" + strconv.Itoa(i)})
	}
	evs = append(evs, storage.AuditEvent{Time: testNow.Add(-2 * time.Hour), Kind: "key_rotated", Detail: "kid=k1"})
	if err := e.store.AppendAudit(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	count := func(body string) int { return strings.Count(body, `<td><a href="/admin/audit?kind=`) }

	rec := e.get("/admin/audit?kind=sign_in", cookie)
	body := rec.Body.String()
	if rec.Code != http.StatusOK || count(body) != pageSize || !strings.Contains(body, "n=0<") || strings.Contains(body, "n=50<") {
		t.Fatalf("kind=sign_in: got %d with %d rows, want the newest 50", rec.Code, count(body))
	}
	i := strings.Index(body, `id="older"`)
	href := body[strings.LastIndex(body[:i], `href="`)+6 : i-2]
	href = strings.ReplaceAll(href, "&amp;", "&")
	rec = e.get(href, cookie)
	if body := rec.Body.String(); count(body) != 20 || !strings.Contains(body, "n=50<") || strings.Contains(body, "n=49<") || strings.Contains(body, "kid=k1") || strings.Contains(body, `id="older"`) {
		t.Errorf("next page %s: got %d rows, want the 20 older sign-ins and no further page", href, count(body))
	}
	for q, want := range map[string]int{
		"user=bob": 50, "user=" + bob.ID: 50, "user=BOB": 50, "user=nobody": 0, "client=app": 50, "kind=key_rotated": 1,
		"since=" + url.QueryEscape(testNow.Add(-9*time.Minute).Format(minuteLayout)):  10,
		"until=" + url.QueryEscape(testNow.Add(-65*time.Minute).Format(minuteLayout)): 5 + 1,
	} {
		rec := e.get("/admin/audit?"+q, cookie)
		if got := count(rec.Body.String()); rec.Code != http.StatusOK || got != want {
			t.Errorf("audit?%s: got %d with %d rows, want %d", q, rec.Code, got, want)
		}
	}
	for _, q := range []string{"kind=sign_in'--", "kind=SIGN_IN", "kind=" + strings.Repeat("a", 65), "since=yesterday", "until=2030-13-01T00:00",
		"before=1", "before=abc.def", "before=-5.3", "before=5.-3", "before=1.2.3", "before=" + strings.Repeat("9", 30) + ".1"} {
		rec := e.get("/admin/audit?"+q, cookie)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `class="error"`) || count(rec.Body.String()) != 0 {
			t.Errorf("audit?%s: got %d, want 400 with the problem and no events", q, rec.Code)
		}
	}
}
