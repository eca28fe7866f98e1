package console

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// events returns the stored audit events of kind.
func (e *env) events(kind string) []storage.AuditEvent {
	e.t.Helper()
	evs, err := e.store.AuditEvents(e.t.Context(), storage.AuditQuery{Kind: kind})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// wantDone checks a form's answer: 303 back to target with the notice.
func wantDone(t *testing.T, what string, rec interface {
	Result() *http.Response
}, target string) {
	t.Helper()
	res := rec.Result()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != target {
		t.Fatalf("%s: got %d to %q, want 303 to %s", what, res.StatusCode, res.Header.Get("Location"), target)
	}
}

// TestUserActions: create, disable (sessions end, refresh tokens go),
// enable, end one session, end all; each recorded with the admin as
// actor. Bad input tried: a short password, a taken username, a bad
// username, disabling oneself, ending another user's session.
func TestUserActions(t *testing.T) {
	e, _ := newEnv(t)
	root := e.user("root", AdminGroup)
	cookie := e.signIn(root, mfaAMR...)
	by := "by=user:" + root.ID

	rec := e.post("/admin/users", cookie, url.Values{"username": {"Carol"}, "name": {"Carol C"}, "email": {"carol@example.com"}, "password": {"a long enough password"}})
	carol, err := e.store.UserByUsername(t.Context(), "carol")
	if err != nil {
		t.Fatalf("create user: %v (answer %d %.300s)", err, rec.Code, rec.Body)
	}
	wantDone(t, "create", rec, "/admin/users/"+carol.ID+"?done=created")
	if evs := e.events("user_created"); len(evs) != 1 || evs[0].UserID != carol.ID || evs[0].Actor != "user" || !strings.Contains(evs[0].Detail, by) {
		t.Errorf("user_created events: %+v, want one by %s", evs, by)
	}
	for _, bad := range []struct {
		form   url.Values
		status int
		text   string
	}{
		{url.Values{"username": {"dave"}, "password": {"short"}}, http.StatusBadRequest, "password: at least"},
		{url.Values{"username": {"carol"}, "password": {"a long enough password"}}, http.StatusConflict, "that username is taken"},
		{url.Values{"username": {"not a name!"}, "password": {"a long enough password"}}, http.StatusBadRequest, "username: "},
	} {
		rec := e.post("/admin/users", cookie, bad.form)
		if rec.Code != bad.status || !strings.Contains(rec.Body.String(), bad.text) || strings.Contains(rec.Body.String(), "a long enough password") {
			t.Errorf("create %v: got %d, want %d with %q and the password not echoed", bad.form, rec.Code, bad.status, bad.text)
		}
	}

	e.signIn(carol, "pwd")
	wantDone(t, "disable", e.post("/admin/users/"+carol.ID+"/disable", cookie, nil), "/admin/users/"+carol.ID+"?done=disabled")
	if u, _ := e.store.UserByID(t.Context(), carol.ID); !u.Disabled {
		t.Error("carol is not disabled")
	}
	if s, _ := e.store.UserSessions(t.Context(), carol.ID, testNow); len(s) != 0 {
		t.Errorf("carol still has %d sessions after being disabled", len(s))
	}
	if evs := e.events("user_disabled"); len(evs) != 1 || !strings.Contains(evs[0].Detail, by) {
		t.Errorf("user_disabled events: %+v", evs)
	}
	wantDone(t, "enable", e.post("/admin/users/"+carol.ID+"/enable", cookie, nil), "/admin/users/"+carol.ID+"?done=enabled")
	wantDone(t, "enable again", e.post("/admin/users/"+carol.ID+"/enable", cookie, nil), "/admin/users/"+carol.ID+"?done=unchanged")

	if rec := e.post("/admin/users/"+root.ID+"/disable", cookie, nil); rec.Code != http.StatusBadRequest {
		t.Errorf("disabling oneself: got %d, want 400", rec.Code)
	}

	// End one session: only one of the user's own.
	e.signIn(carol, "pwd")
	sessions, _ := e.store.UserSessions(t.Context(), carol.ID, testNow)
	rootSessions, _ := e.store.UserSessions(t.Context(), root.ID, testNow)
	wantDone(t, "end another user's session", e.post("/admin/users/"+carol.ID+"/sessions/end", cookie, url.Values{"session": {rootSessions[0].ID}}),
		"/admin/users/"+carol.ID+"?done=session-gone")
	if s, _ := e.store.UserSessions(t.Context(), root.ID, testNow); len(s) != len(rootSessions) {
		t.Error("a session of another user was ended")
	}
	wantDone(t, "end session", e.post("/admin/users/"+carol.ID+"/sessions/end", cookie, url.Values{"session": {sessions[0].ID}}),
		"/admin/users/"+carol.ID+"?done=session-ended")
	e.signIn(carol, "pwd")
	e.signIn(carol, "pwd")
	wantDone(t, "end all", e.post("/admin/users/"+carol.ID+"/sessions/end-all", cookie, nil), "/admin/users/"+carol.ID+"?done=sessions-ended")
	if s, _ := e.store.UserSessions(t.Context(), carol.ID, testNow); len(s) != 0 {
		t.Errorf("carol has %d sessions after end-all", len(s))
	}
	if evs := e.events("session_ended"); len(evs) < 3 || !strings.Contains(evs[0].Detail, by) {
		t.Errorf("session_ended events: %+v, want 3 by %s", evs, by)
	}
	if rec := e.post("/admin/users/nobody/disable", cookie, nil); rec.Code != http.StatusNotFound {
		t.Errorf("disable an unknown user: got %d, want 404", rec.Code)
	}
}

// TestGroupActions: create, add and remove members (from the group's and
// the user's page), delete with the name typed. Bad input tried: a bad
// name, a taken one, an unknown username, a delete without or with the
// wrong confirmation.
func TestGroupActions(t *testing.T) {
	e, _ := newEnv(t)
	root := e.user("root", AdminGroup)
	bob := e.user("bob")
	cookie := e.signIn(root, mfaAMR...)

	wantDone(t, "create", e.post("/admin/groups", cookie, url.Values{"name": {"ops"}}), "/admin/groups/ops?done=group-created")
	for name, status := range map[string]int{"Ops!": http.StatusBadRequest, "": http.StatusBadRequest, strings.Repeat("a", 65): http.StatusBadRequest, "ops": http.StatusConflict} {
		if rec := e.post("/admin/groups", cookie, url.Values{"name": {name}}); rec.Code != status {
			t.Errorf("create group %q: got %d, want %d", name, rec.Code, status)
		}
	}
	wantDone(t, "add", e.post("/admin/groups/ops/members/add", cookie, url.Values{"username": {"BOB"}}), "/admin/groups/ops?done=member-added")
	wantDone(t, "add again", e.post("/admin/users/"+bob.ID+"/groups/add", cookie, url.Values{"group": {"ops"}}), "/admin/users/"+bob.ID+"?done=member-already")
	if rec := e.post("/admin/groups/ops/members/add", cookie, url.Values{"username": {"nobody"}}); rec.Code != http.StatusNotFound {
		t.Errorf("add an unknown user: got %d, want 404", rec.Code)
	}
	if rec := e.post("/admin/users/"+bob.ID+"/groups/add", cookie, url.Values{"group": {"missing"}}); rec.Code != http.StatusNotFound {
		t.Errorf("add to an unknown group: got %d, want 404", rec.Code)
	}
	if g, _ := e.store.UserGroups(t.Context(), bob.ID); !slices.Equal(g, []string{"ops"}) {
		t.Errorf("bob's groups: %v, want [ops]", g)
	}
	wantDone(t, "remove", e.post("/admin/users/"+bob.ID+"/groups/remove", cookie, url.Values{"group": {"ops"}}), "/admin/users/"+bob.ID+"?done=member-removed")
	wantDone(t, "remove again", e.post("/admin/groups/ops/members/remove", cookie, url.Values{"user": {bob.ID}}), "/admin/groups/ops?done=member-not")
	for _, confirm := range []string{"", "OPS", "other"} {
		if rec := e.post("/admin/groups/ops/delete", cookie, url.Values{"confirm": {confirm}}); rec.Code != http.StatusBadRequest {
			t.Errorf("delete confirmed by %q: got %d, want 400", confirm, rec.Code)
		}
	}
	wantDone(t, "delete", e.post("/admin/groups/ops/delete", cookie, url.Values{"confirm": {"ops"}}), "/admin/groups?done=group-deleted")
	for _, kind := range []string{"group_created", "group_member_added", "group_member_removed", "group_deleted"} {
		if evs := e.events(kind); len(evs) != 1 || !strings.Contains(evs[0].Detail, "by=user:"+root.ID) {
			t.Errorf("%s events: %+v, want one by the admin", kind, evs)
		}
	}
}

// TestRotateKeys: a rotation makes one pending key per algorithm, a
// second finds them pending and makes none.
func TestRotateKeys(t *testing.T) {
	e, _ := newEnv(t)
	root := e.user("root", AdminGroup)
	cookie := e.signIn(root, mfaAMR...)
	wantDone(t, "rotate", e.post("/admin/keys/rotate", cookie, nil), "/admin/keys?done=rotated")
	wantDone(t, "rotate again", e.post("/admin/keys/rotate", cookie, nil), "/admin/keys?done=rotated-none")
	if evs := e.events("key_rotated"); len(evs) != 3 {
		t.Errorf("key_rotated events: %d, want 3 (one per algorithm)", len(evs))
	}
	if body := e.get("/admin/keys", cookie).Body.String(); strings.Count(body, `class="key-pending"`) != 3 {
		t.Errorf("keys page: want 3 pending keys")
	}
}

// TestResetFactors: the form removes the user's factors and ends their
// sessions. Bad input tried: no confirmation, an unknown user.
func TestResetFactors(t *testing.T) {
	e, _ := newEnv(t)
	root := e.user("root", AdminGroup)
	bob := e.user("bob")
	cookie := e.signIn(root, mfaAMR...)
	if err := e.store.SetTOTP(t.Context(), &storage.TOTPCredential{UserID: bob.ID, SealedSecret: []byte("s"), KEKID: "k", CreatedAt: testNow}); err != nil {
		t.Fatal(err)
	}
	e.signIn(bob, mfaAMR...)
	if body := e.get("/admin/users/"+bob.ID, cookie).Body.String(); !strings.Contains(body, `id="reset-factors"`) {
		t.Fatal("bob's page offers no reset")
	}
	if rec := e.post("/admin/users/"+bob.ID+"/factors/reset", cookie, nil); rec.Code != http.StatusBadRequest {
		t.Errorf("reset without confirmation: got %d, want 400", rec.Code)
	}
	if rec := e.post("/admin/users/nobody/factors/reset", cookie, url.Values{"confirm": {"reset"}}); rec.Code != http.StatusNotFound {
		t.Errorf("reset an unknown user: got %d, want 404", rec.Code)
	}
	if _, err := e.store.TOTP(t.Context(), bob.ID); err != nil {
		t.Fatalf("a refused reset removed the code: %v", err)
	}
	wantDone(t, "reset", e.post("/admin/users/"+bob.ID+"/factors/reset", cookie, url.Values{"confirm": {"reset"}}), "/admin/users/"+bob.ID+"?done=factors-reset")
	if _, err := e.store.TOTP(t.Context(), bob.ID); err == nil {
		t.Error("bob's code is still there")
	}
	if s, _ := e.store.UserSessions(t.Context(), bob.ID, testNow); len(s) != 0 {
		t.Errorf("bob has %d sessions after the reset", len(s))
	}
	if evs := e.events("user_factors_reset"); len(evs) != 1 || !strings.Contains(evs[0].Detail, "by=user:"+root.ID) {
		t.Errorf("user_factors_reset events: %+v", evs)
	}
	if body := e.get("/admin/users/"+bob.ID, cookie).Body.String(); strings.Contains(body, `id="reset-factors"`) {
		t.Error("bob's page still offers a reset with nothing to reset")
	}
}
