package console

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/admin"
	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/keys"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

const testIssuer = "https://op.example"

var testNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// env is a console over a real SQLite store, the real login UI and the
// real admin.Service (appending its events to the store at once).
type env struct {
	t     *testing.T
	store *sqlite.Store
	ui    *loginui.UI
	c     *Console
	h     http.Handler
	keys  *keys.Manager
	mu    sync.Mutex
	n     int
}

// failing wraps the store, failing UserGroups when fail is set.
type failing struct {
	*sqlite.Store
	fail bool
}

func (f *failing) UserGroups(ctx context.Context, id string) ([]string, error) {
	if f.fail {
		return nil, errors.New("store down")
	}
	return f.Store.UserGroups(ctx, id)
}

func newEnv(t *testing.T) (*env, *failing) {
	t.Helper()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	sealer, err := keys.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return testNow }
	rec := audit.RecorderFunc(func(ctx context.Context, evs ...storage.AuditEvent) error {
		for i := range evs {
			if evs[i].Time.IsZero() {
				evs[i].Time = testNow
			}
		}
		return store.AppendAudit(ctx, evs)
	})
	ui, err := loginui.New(store, loginui.Config{
		Sealer: sealer, CSRFKey: []byte("0123456789abcdef0123456789abcdef"), Issuer: testIssuer, Now: now, Recorder: rec,
		CallbackURL: func(id string) string { return testIssuer + "/authorize/callback?id=" + id },
	})
	if err != nil {
		t.Fatal(err)
	}
	km := keys.NewManager(store, sealer, keys.Options{Now: now})
	if err := km.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	f := &failing{Store: store}
	c, err := New(Config{UI: ui, Store: f, Now: now,
		Actions: admin.New(admin.Config{Store: store, Keys: km, Record: rec, FamilyKeep: time.Hour, Now: now})})
	if err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	ui.Routes(r)
	c.Routes(r)
	return &env{t: t, store: store, ui: ui, c: c, h: r, keys: km}, f
}

// user creates a user, in group when it is not "".
func (e *env) user(name string, groups ...string) *storage.User {
	e.t.Helper()
	u := &storage.User{ID: "id-" + name, Username: name, Name: "Name of " + name, Email: name + "@example.com",
		PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g", CreatedAt: testNow, UpdatedAt: testNow}
	if err := e.store.CreateUser(e.t.Context(), u); err != nil {
		e.t.Fatal(err)
	}
	for _, g := range groups {
		if err := e.store.CreateGroup(e.t.Context(), &storage.Group{Name: g, CreatedAt: testNow}); err != nil && !errors.Is(err, storage.ErrConflict) {
			e.t.Fatal(err)
		}
		if err := e.store.AddGroupMember(e.t.Context(), g, u.ID); err != nil {
			e.t.Fatal(err)
		}
	}
	return u
}

// signIn stores a session of u with amr and returns its cookie value.
func (e *env) signIn(u *storage.User, amr ...string) string {
	e.t.Helper()
	e.mu.Lock()
	e.n++
	v := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("session-cookie-value-%011d", e.n)))
	e.mu.Unlock()
	s := &storage.Session{ID: loginui.Hash(v), UserID: u.ID, AuthTime: testNow, AMR: amr, IP: "192.0.2.1",
		CreatedAt: testNow, LastSeen: testNow, ExpiresAt: testNow.Add(time.Hour), AbsoluteExpiresAt: testNow.Add(time.Hour)}
	if err := e.store.CreateSession(e.t.Context(), s); err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) get(path, cookie string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, testIssuer+path, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: loginui.SessionCookie, Value: cookie})
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// post posts form with the console's CSRF token for cookie (unless form
// sets csrf_token itself).
func (e *env) post(path, cookie string, form url.Values) *httptest.ResponseRecorder {
	if form == nil {
		form = url.Values{}
	}
	if _, set := form["csrf_token"]; !set {
		form.Set("csrf_token", e.token(cookie))
	}
	req := httptest.NewRequest(http.MethodPost, testIssuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: loginui.SessionCookie, Value: cookie})
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func (e *env) token(cookie string) string {
	req := httptest.NewRequest(http.MethodGet, testIssuer+"/", nil)
	req.AddCookie(&http.Cookie{Name: loginui.SessionCookie, Value: cookie})
	return e.ui.FormToken(req, csrfPurpose, "")
}

var mfaAMR = []string{"pwd", "otp", "mfa"}

// TestAccess: only a gatehouse-admins member whose session has a second
// factor gets in; the others are sent to sign in (and back), refused
// with 403, or told to add a second factor. A store failure is a 503,
// never a 403. SessionAdmin says the same.
func TestAccess(t *testing.T) {
	e, f := newEnv(t)
	root := e.user("root", AdminGroup)
	bob := e.user("bob", "staff")
	disabled := e.user("gone", AdminGroup)
	disabled.Disabled = true
	if err := e.store.UpdateUser(t.Context(), disabled); err != nil {
		t.Fatal(err)
	}

	rec := e.get("/admin/users?q=x", "")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Fatalf("no session: got %d to %q, want 303 to /login", rec.Code, rec.Header().Get("Location"))
	}
	var back *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == loginui.ReturnCookie {
			back = c
		}
	}
	if b, _ := base64.RawURLEncoding.DecodeString(back.Value); string(b) != "/admin/users?q=x" {
		t.Errorf("return cookie holds %q, want /admin/users?q=x", b)
	}

	for _, tt := range []struct {
		name   string
		cookie string
		status int
		text   string
		admin  bool
	}{
		{"non-member", e.signIn(bob, mfaAMR...), http.StatusForbidden, "Not an administrator", false},
		{"member, password only", e.signIn(root, "pwd"), http.StatusForbidden, "A second factor is needed", false},
		{"member, passkey without user verification", e.signIn(root, "hwk"), http.StatusForbidden, "A second factor is needed", false},
		{"member with a second factor", e.signIn(root, mfaAMR...), http.StatusOK, "Users", true},
		{"disabled member", e.signIn(disabled, mfaAMR...), http.StatusSeeOther, "", false},
		{"unknown session", base64.RawURLEncoding.EncodeToString([]byte("no-such-session-cookie-value-000")), http.StatusSeeOther, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.get("/admin/users", tt.cookie)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.text) {
				t.Errorf("GET /admin/users: got %d, want %d with %q; body %.300s", rec.Code, tt.status, tt.text, rec.Body)
			}
			if got := rec.Header().Get("X-Frame-Options"); rec.Code != http.StatusSeeOther && (got != "DENY" || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'")) {
				t.Errorf("security headers: X-Frame-Options %q, CSP %q", got, rec.Header().Get("Content-Security-Policy"))
			}
			req := httptest.NewRequest(http.MethodGet, testIssuer+"/admin/v1/users", nil)
			req.AddCookie(&http.Cookie{Name: loginui.SessionCookie, Value: tt.cookie})
			id, ok, err := e.c.SessionAdmin(req)
			if err != nil || ok != tt.admin || (ok && id != root.ID) {
				t.Errorf("SessionAdmin: got %q, %v, %v; want ok=%v", id, ok, err, tt.admin)
			}
		})
	}

	// The admin's groups cannot be read: 503 with Retry-After, not 403.
	f.fail = true
	rec = e.get("/admin/users", e.signIn(root, mfaAMR...))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("store down: got %d (Retry-After %q), want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	req := httptest.NewRequest(http.MethodGet, testIssuer+"/admin/v1/users", nil)
	req.AddCookie(&http.Cookie{Name: loginui.SessionCookie, Value: e.signIn(root, mfaAMR...)})
	if _, ok, err := e.c.SessionAdmin(req); ok || err == nil {
		t.Errorf("SessionAdmin with the store down: got ok=%v err=%v, want an error", ok, err)
	}
}

// TestCSRF: every form needs the console's token for this session. Bad
// input tried: no token, an empty one, another session's, the account
// page's (another purpose), a non-admin's valid token.
func TestCSRF(t *testing.T) {
	e, _ := newEnv(t)
	root := e.user("root", AdminGroup)
	bob := e.user("bob")
	cookie := e.signIn(root, mfaAMR...)
	other := e.signIn(root, mfaAMR...)
	req := httptest.NewRequest(http.MethodGet, testIssuer+"/", nil)
	req.AddCookie(&http.Cookie{Name: loginui.SessionCookie, Value: cookie})
	accountToken := e.ui.FormToken(req, "account", "")
	for name, tok := range map[string]*string{"missing": nil, "empty": ptr(""), "another session's": ptr(e.token(other)),
		"the account page's": ptr(accountToken), "garbage": ptr("AAAA")} {
		form := url.Values{"csrf_token": nil} // present, so post adds none
		if tok != nil {
			form.Set("csrf_token", *tok)
		}
		rec := e.post("/admin/users/"+bob.ID+"/disable", cookie, form)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s token: got %d, want 403", name, rec.Code)
		}
	}
	// A non-admin with a valid token of their own session.
	bobCookie := e.signIn(bob, mfaAMR...)
	if rec := e.post("/admin/users/"+bob.ID+"/disable", bobCookie, nil); rec.Code != http.StatusForbidden {
		t.Errorf("non-admin's post: got %d, want 403", rec.Code)
	}
	if u, _ := e.store.UserByID(t.Context(), bob.ID); u.Disabled {
		t.Fatal("a refused post disabled the user")
	}
}

func ptr(s string) *string { return &s }

// TestUsersSearchAndPaging: 120 users, 50 a page in username order,
// search in username, name and email.
func TestUsersSearchAndPaging(t *testing.T) {
	e, _ := newEnv(t)
	root := e.user("root", AdminGroup)
	for i := range 120 {
		e.user(fmt.Sprintf("user%03d", i))
	}
	cookie := e.signIn(root, mfaAMR...)
	rec := e.get("/admin/users", cookie)
	body := rec.Body.String()
	if rec.Code != http.StatusOK || !strings.Contains(body, "121 users") || !strings.Contains(body, ">root<") || strings.Contains(body, ">user049<") ||
		!strings.Contains(body, ">user048<") || !strings.Contains(body, `after=user048`) {
		t.Fatalf("first page: got %d, want 121 users, root … user048 and a next link; body %.2000s", rec.Code, body)
	}
	rec = e.get("/admin/users?after=user048", cookie)
	if body := rec.Body.String(); !strings.Contains(body, ">user049<") || !strings.Contains(body, ">user098<") || strings.Contains(body, ">user099<") || strings.Contains(body, ">user048<") {
		t.Errorf("second page: want user049 … user098; body %.2000s", body)
	}
	rec = e.get("/admin/users?after=user098", cookie)
	if body := rec.Body.String(); !strings.Contains(body, ">user119<") || strings.Contains(body, `id="next-page"`) {
		t.Errorf("last page: want user119 and no next link")
	}
	rec = e.get("/admin/users?q="+url.QueryEscape("USER11"), cookie)
	if body := rec.Body.String(); strings.Count(body, `href="/admin/users/id-user11`) != 10 || strings.Contains(body, ">user109<") || strings.Contains(body, ">root<") {
		t.Errorf("search USER11: want the 10 users user110 … user119 alone; body %.1000s", body)
	}
	rec = e.get("/admin/users?q="+url.QueryEscape("name of user007"), cookie)
	if body := rec.Body.String(); !strings.Contains(body, ">user007<") || strings.Contains(body, ">user008<") {
		t.Errorf("search by name: want user007 alone")
	}
	rec = e.get("/admin/users?q="+url.QueryEscape("user")+"&after=user098", cookie)
	if body := rec.Body.String(); !strings.Contains(body, ">user099<") || !strings.Contains(body, ">user119<") || strings.Contains(body, ">user098<") {
		t.Errorf("search with a cursor: want user099 … user119")
	}
	rec = e.get("/admin/users?q="+url.QueryEscape("<script>"), cookie)
	if body := rec.Body.String(); strings.Contains(body, "<script>") || !strings.Contains(body, "“&lt;script&gt;”: none.") {
		t.Errorf("search <script>: the query was not escaped, or the page does not say none matched; body %.1000s", body)
	}
}
