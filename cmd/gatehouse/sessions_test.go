package main

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/sqlite"
)

// Session ids as the login UI makes them: the hex SHA-256 of the cookie.
const (
	sessAlice1 = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	sessAlice2 = "a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2"
	sessBob    = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0"
)

// sessionsFixture is a database with two clients (web, which registered a
// backchannel_logout_uri, and spa, which did not), the users alice and bob,
// and three live sessions: alice's first signed in to web and spa, her
// second to spa only, bob's to web. The test keeps the store open beside
// the commands, as an operator's CLI runs beside the server.
type sessionsFixture struct {
	db    string
	store *sqlite.Store
	now   time.Time
	alice storage.User
	bob   storage.User
}

func newSessionsFixture(t *testing.T) *sessionsFixture {
	t.Helper()
	ctx := context.Background()
	f := &sessionsFixture{db: filepath.Join(t.TempDir(), "g.db"), now: time.Now().Truncate(time.Second)}
	var err error
	if f.store, err = sqlite.Open(ctx, f.db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })

	clients := []storage.Client{
		{ID: "web", Name: "Web", RedirectURIs: []string{"https://web.example/cb"}, GrantTypes: []string{"authorization_code", "refresh_token"},
			ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none", ApplicationType: "web",
			BackchannelLogoutURI: "https://web.example/backchannel"},
		{ID: "spa", Name: "SPA", RedirectURIs: []string{"https://spa.example/cb"}, GrantTypes: []string{"authorization_code"},
			ResponseTypes: []string{"code"}, TokenEndpointAuthMethod: "none", ApplicationType: "web"},
	}
	if _, err := f.store.SyncClients(ctx, clients, f.now); err != nil {
		t.Fatal(err)
	}
	f.alice = storage.User{ID: "sub-alice", Username: "alice", PasswordHash: "x", CreatedAt: f.now, UpdatedAt: f.now}
	f.bob = storage.User{ID: "sub-bob", Username: "bob", PasswordHash: "x", CreatedAt: f.now, UpdatedAt: f.now}
	for _, u := range []*storage.User{&f.alice, &f.bob} {
		if err := f.store.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	sessions := []storage.Session{
		{ID: sessAlice1, UserID: f.alice.ID, Clients: []string{"web", "spa"}, IP: "192.0.2.1",
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"},
		{ID: sessAlice2, UserID: f.alice.ID, Clients: []string{"spa"}, IP: "2001:db8::1", UserAgent: "curl/8.0\x1b[2J"},
		{ID: sessBob, UserID: f.bob.ID, Clients: []string{"web"}, IP: "198.51.100.7", UserAgent: "Firefox"},
	}
	for i := range sessions {
		s := &sessions[i]
		s.AuthTime, s.CreatedAt, s.LastSeen = f.now.Add(-time.Hour), f.now.Add(time.Duration(i-60)*time.Minute), f.now.Add(-time.Minute)
		s.ExpiresAt, s.AbsoluteExpiresAt, s.AMR = f.now.Add(8*time.Hour), f.now.Add(7*24*time.Hour), []string{"pwd"}
		if err := f.store.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// liveSessions returns the ids of the user's live sessions.
func (f *sessionsFixture) liveSessions(t *testing.T, userID string) []string {
	t.Helper()
	list, err := f.store.UserSessions(context.Background(), userID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids
}

// notices returns every queued back-channel logout notice, as
// "client session" strings, sorted.
func (f *sessionsFixture) notices(t *testing.T) []string {
	t.Helper()
	list, err := f.store.ClaimLogoutNotices(context.Background(), time.Now().Add(time.Second), time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range list {
		got = append(got, n.ClientID+" "+n.SessionID)
	}
	slices.Sort(got)
	return got
}

// addRefreshGrant stores a live refresh token of the user for web, in a
// family of its own.
func (f *sessionsFixture) addRefreshGrant(t *testing.T, userID, hash string) {
	t.Helper()
	g := &storage.RefreshGrant{
		TokenHash: hash, FamilyID: "family-" + hash, ClientID: "web", UserID: userID, Scopes: []string{"openid", "offline_access"},
		Audience: []string{"web"}, AuthTime: f.now, AMR: []string{"pwd"}, CreatedAt: f.now,
		ExpiresAt: f.now.Add(24 * time.Hour), AbsoluteExpiresAt: f.now.Add(24 * time.Hour),
	}
	if err := f.store.CreateRefreshGrant(context.Background(), g); err != nil {
		t.Fatal(err)
	}
}

// refreshGrantLive reports whether the refresh token is still accepted and
// its family not revoked.
func (f *sessionsFixture) refreshGrantLive(t *testing.T, hash string) bool {
	t.Helper()
	ctx := context.Background()
	_, err := f.store.RefreshGrant(ctx, hash, time.Now())
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	revoked, ferr := f.store.FamilyRevoked(ctx, "family-"+hash)
	if ferr != nil {
		t.Fatal(ferr)
	}
	return err == nil && !revoked
}

// sessionRows parses `gatehouse sessions list` into its rows' fields
// (the user agent, last, may hold spaces and is left joined).
func sessionRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] == "SESSION" {
			continue
		}
		rows = append(rows, append(f[:8:8], strings.Join(f[8:], " ")))
	}
	return rows
}

func TestSessionsList(t *testing.T) {
	f := newSessionsFixture(t)

	out, err := cli(t, f.db, "", "sessions", "list")
	if err != nil {
		t.Fatalf("sessions list: %q, %v", out, err)
	}
	if !strings.HasPrefix(out, "SESSION") || !strings.Contains(out, "LAST SEEN") || !strings.Contains(out, "USER AGENT") {
		t.Errorf("sessions list: got %q, want a header first", out)
	}
	rows := sessionRows(out)
	if len(rows) != 3 {
		t.Fatalf("sessions list: got %d rows, want 3 (alice's two, bob's one):\n%s", len(rows), out)
	}
	stamp := func(d time.Duration) string { return f.now.Add(d).UTC().Format(time.RFC3339) }
	want := []string{sessAlice1[:12] + "…", "alice", stamp(-60 * time.Minute), stamp(-time.Minute), stamp(8 * time.Hour),
		stamp(7 * 24 * time.Hour), "192.0.2.1", "web,spa", "Mozilla/5.0 (X11; Linux x86_64) AppleWeb…"}
	if !slices.Equal(rows[0], want) {
		t.Errorf("first row:\ngot  %q\nwant %q", rows[0], want)
	}
	if rows[1][0] != sessAlice2[:12]+"…" || rows[1][6] != "2001:db8::1" || rows[1][7] != "spa" || rows[1][8] != "curl/8.0?[2J" {
		t.Errorf("second row: got %q, want alice's second session", rows[1])
	}
	if rows[2][0] != sessBob[:12]+"…" || rows[2][1] != "bob" {
		t.Errorf("third row: got %q, want bob's session", rows[2])
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("sessions list printed a user agent's escape character: %q", out)
	}

	out, err = cli(t, f.db, "", "sessions", "list", "--user", "Bob", "--full")
	if err != nil {
		t.Fatalf("sessions list --user Bob --full: %q, %v", out, err)
	}
	rows = sessionRows(out)
	if len(rows) != 1 || rows[0][0] != sessBob || rows[0][1] != "bob" {
		t.Errorf("sessions list --user Bob --full: got %q, want bob's session with its full id", rows)
	}

	// A user without sessions: the header only.
	carol := storage.User{ID: "sub-carol", Username: "carol", PasswordHash: "x", CreatedAt: f.now, UpdatedAt: f.now}
	if err := f.store.CreateUser(context.Background(), &carol); err != nil {
		t.Fatal(err)
	}
	out, err = cli(t, f.db, "", "sessions", "list", "--user", "carol")
	if err != nil || len(sessionRows(out)) != 0 || !strings.HasPrefix(out, "SESSION") {
		t.Errorf("sessions list --user carol: got %q, %v; want the header only", out, err)
	}
}

func TestSessionsRevoke(t *testing.T) {
	f := newSessionsFixture(t)

	// One session, signed in to web (back-channel) and spa (none): one notice.
	out, err := cli(t, f.db, "", "sessions", "revoke", sessAlice1)
	if err != nil {
		t.Fatalf("sessions revoke: %q, %v", out, err)
	}
	for _, want := range []string{"ended session " + sessAlice1 + " of alice (apps: web, spa)", "queued 1 back-channel logout notice"} {
		if !strings.Contains(out, want) {
			t.Errorf("sessions revoke: got %q, want it to say %q", out, want)
		}
	}
	if got, want := f.liveSessions(t, f.alice.ID), []string{sessAlice2}; !slices.Equal(got, want) {
		t.Errorf("alice's sessions after revoke: got %q, want %q", got, want)
	}
	if got, want := f.notices(t), []string{"web " + sessAlice1}; !slices.Equal(got, want) {
		t.Errorf("queued notices: got %q, want %q", got, want)
	}

	// Again: the session is gone.
	out, err = cli(t, f.db, "", "sessions", "revoke", sessAlice1)
	if err == nil || !strings.Contains(err.Error(), "no session") {
		t.Errorf("revoking an ended session: got %q, %v; want a no-session error", out, err)
	}

	// Every session of a user; alice's remaining one is signed in to spa
	// only, which gets no notice.
	out, err = cli(t, f.db, "", "sessions", "revoke", "--user", "alice")
	if err != nil || !strings.Contains(out, "ended 1 session of alice") || !strings.Contains(out, "queued 0 back-channel logout notices") {
		t.Errorf("sessions revoke --user alice: got %q, %v; want 1 session ended, 0 notices", out, err)
	}
	if got := f.liveSessions(t, f.alice.ID); len(got) != 0 {
		t.Errorf("alice's sessions after revoke --user: got %q, want none", got)
	}
	if got := f.liveSessions(t, f.bob.ID); !slices.Equal(got, []string{sessBob}) {
		t.Errorf("bob's sessions: got %q, want his one untouched", got)
	}
	out, err = cli(t, f.db, "", "sessions", "revoke", "--user", "alice")
	if err != nil || !strings.Contains(out, "ended 0 sessions of alice") {
		t.Errorf("sessions revoke --user alice without sessions: got %q, %v; want 0 ended, no error", out, err)
	}
}

func TestSessionsBadInput(t *testing.T) {
	f := newSessionsFixture(t)
	bad := []struct {
		name string
		args []string
		want string // in the error; "" means the usage error
	}{
		{"no subcommand", []string{"sessions"}, ""},
		{"unknown subcommand", []string{"sessions", "kill"}, ""},
		{"revoke without id", []string{"sessions", "revoke"}, ""},
		{"revoke two ids", []string{"sessions", "revoke", sessAlice1, sessBob}, ""},
		{"revoke id and user", []string{"sessions", "revoke", sessAlice1, "--user", "alice"}, ""},
		{"revoke --full", []string{"sessions", "revoke", sessAlice1, "--full"}, ""},
		{"list with an argument", []string{"sessions", "list", "alice"}, ""},
		{"unknown flag", []string{"sessions", "list", "--all"}, ""},
		{"unknown id", []string{"sessions", "revoke", strings.Repeat("0", 64)}, `no session "` + strings.Repeat("0", 64) + `"`},
		{"shortened id", []string{"sessions", "revoke", sessAlice1[:12] + "…"}, "give the full id"},
		{"unknown user for revoke", []string{"sessions", "revoke", "--user", "nobody"}, `no user "nobody"`},
		{"unknown user for list", []string{"sessions", "list", "--user", "nobody"}, `no user "nobody"`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cli(t, f.db, "", tc.args...)
			switch {
			case err == nil:
				t.Fatalf("got %q and no error, want one", out)
			case tc.want == "" && !errors.Is(err, errUsage):
				t.Errorf("got %v, want the usage error", err)
			case tc.want == "" && !strings.Contains(out, "gatehouse sessions revoke SESSION_ID"):
				t.Errorf("got output %q, want the usage text", out)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for _, args := range [][]string{{"sessions", "--help"}, {"sessions", "help"}, {"sessions", "list", "--help"}} {
		if out, err := cli(t, f.db, "", args...); err != nil || !strings.Contains(out, "gatehouse sessions list [--user USERNAME] [--full]") || !strings.Contains(out, "Examples:") {
			t.Errorf("gatehouse %v: got %q, %v; want the usage text and no error", args, out, err)
		}
	}
	// Nothing was ended by any of it.
	if got := f.liveSessions(t, f.alice.ID); len(got) != 2 {
		t.Errorf("alice's sessions after bad commands: got %q, want both", got)
	}
}

// TestUsersPasswdAndDisableSignOut checks that changing a password and
// disabling a user end the user's sessions, with notices, and revoke the
// user's refresh tokens, and leave other users alone.
func TestUsersPasswdAndDisableSignOut(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		stdin string
		done  string
	}{
		{[]string{"users", "passwd", "alice", "--password-stdin"}, "a new passphrase, long enough\n", "password changed: alice"},
		{[]string{"users", "disable", "alice"}, "", "disabled: alice"},
	} {
		t.Run(tc.args[1], func(t *testing.T) {
			f := newSessionsFixture(t)
			f.addRefreshGrant(t, f.alice.ID, "alice-token")
			f.addRefreshGrant(t, f.bob.ID, "bob-token")

			out, err := cli(t, f.db, tc.stdin, tc.args...)
			if err != nil {
				t.Fatalf("%v: %q, %v", tc.args, out, err)
			}
			for _, want := range []string{tc.done, "ended 2 sessions", "queued 1 back-channel logout notice", "revoked 1 refresh token family"} {
				if !strings.Contains(out, want) {
					t.Errorf("got %q, want it to say %q", out, want)
				}
			}
			if got := f.liveSessions(t, f.alice.ID); len(got) != 0 {
				t.Errorf("alice's sessions: got %q, want none", got)
			}
			if got, want := f.notices(t), []string{"web " + sessAlice1}; !slices.Equal(got, want) {
				t.Errorf("queued notices: got %q, want %q", got, want)
			}
			if f.refreshGrantLive(t, "alice-token") {
				t.Error("alice's refresh token is still accepted")
			}
			if got := f.liveSessions(t, f.bob.ID); len(got) != 1 || !f.refreshGrantLive(t, "bob-token") {
				t.Errorf("bob: got sessions %q and refresh token live %v, want both untouched", got, f.refreshGrantLive(t, "bob-token"))
			}
		})
	}
}
