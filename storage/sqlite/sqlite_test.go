package sqlite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/storagetest"
)

var (
	_ storagetest.Store = (*Store)(nil)
	_ storage.Pruner    = (*Store)(nil)
)

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storagetest.Store {
		return openTemp(t)
	})
}

// openTemp opens a store in a fresh file that is closed and removed when the
// test ends.
func openTemp(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "gatehouse.db"))
}

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

var t0 = time.Date(2031, time.March, 4, 5, 6, 7, 123456789, time.UTC)

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	ctx := t.Context()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	u := storage.User{ID: "u1", Username: "alice", CreatedAt: t0}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	g := storage.RefreshGrant{TokenHash: "h1", FamilyID: "f1", Scopes: []string{"openid"}, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateRefreshGrant(ctx, &g); err != nil {
		t.Fatalf("CreateRefreshGrant: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openAt(t, "sqlite:"+path)
	got, err := s.UserByUsername(ctx, "alice")
	if err != nil {
		t.Fatalf("UserByUsername after reopen: %v", err)
	}
	if got.ID != "u1" || !got.CreatedAt.Equal(t0) {
		t.Errorf("UserByUsername after reopen: got %+v, want id u1 created %v", got, t0)
	}
	gg, err := s.RefreshGrant(ctx, "h1", t0)
	if err != nil {
		t.Fatalf("RefreshGrant after reopen: %v", err)
	}
	if gg.FamilyID != "f1" || len(gg.Scopes) != 1 || gg.Scopes[0] != "openid" {
		t.Errorf("RefreshGrant after reopen: got %+v, want family f1 scopes [openid]", gg)
	}
}

func TestOpenTwiceMigratesOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	a := openAt(t, path)
	b := openAt(t, path) // while a is still open
	c := openAt(t, path)
	ctx := t.Context()

	u := storage.User{ID: "u1", Username: "alice"}
	if err := a.CreateUser(ctx, &u); err != nil {
		t.Fatalf("CreateUser through the first store: %v", err)
	}
	for name, s := range map[string]*Store{"second": b, "third": c} {
		n, err := s.CountUsers(ctx)
		if err != nil || n != 1 {
			t.Errorf("CountUsers through the %s store: got %d, %v, want 1, nil", name, n, err)
		}
	}
	var versions int
	err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&versions)
	if err != nil {
		t.Fatalf("counting applied migrations: %v", err)
	}
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		t.Fatalf("reading embedded migrations: %v", err)
	}
	if versions != len(entries) {
		t.Errorf("applied migrations after three opens: got %d, want %d", versions, len(entries))
	}
}

func TestOpenRefusesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "garbage.db")
	junk := make([]byte, 8192)
	rand.Read(junk)
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), path)
	if err == nil {
		s.Close()
		t.Fatalf("Open on a garbage file: got nil error, want one")
	}
	for _, want := range []string{path, "not a database"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Open on a garbage file: got error %q, want it to mention %q", err, want)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(after) != string(junk) {
		t.Errorf("Open on a garbage file changed the file")
	}
}

func TestOpenRefusesBadPaths(t *testing.T) {
	for _, path := range []string{"", "sqlite:", ":memory:", "sqlite::memory:", "file:x.db?mode=memory"} {
		s, err := Open(t.Context(), path)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q): got nil error, want one", path)
		}
	}
}

func TestOpenOddPath(t *testing.T) {
	// Characters that mean something in a SQLite URI filename.
	path := filepath.Join(t.TempDir(), "a?b#c%20d.db")
	openAt(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file at %q: %v", path, err)
	}
}

func TestPing(t *testing.T) {
	s := openTemp(t)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping on an open store: %v", err)
	}
	s.Close()
	if err := s.Ping(t.Context()); err == nil {
		t.Fatalf("Ping on a closed store: got nil error, want one")
	}
}

func TestPragmas(t *testing.T) {
	s := openTemp(t)
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL
		{"busy_timeout", "5000"},
		{"wal_autocheckpoint", "10000"},
		{"journal_size_limit", "67108864"},
	}
	for _, tt := range tests {
		var got string
		if err := s.db.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s: got %s, want %s", tt.pragma, got, tt.want)
		}
	}
}

func TestTimeOutOfRange(t *testing.T) {
	s := openTemp(t)
	sess := storage.Session{ID: "s1", ExpiresAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
	err := s.CreateSession(t.Context(), &sess)
	if err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("CreateSession expiring in 9999: got error %v, want an out-of-range error", err)
	}
	if _, err := s.Session(t.Context(), "s1", t0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Session after refused create: got error %v, want %v", err, storage.ErrNotFound)
	}
}

func TestPrune(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	now := t0

	// Per table: 3 expired (one at exactly now) and 2 live rows; revoked
	// families expire at their keepUntil.
	expiries := []time.Duration{-time.Hour, -time.Nanosecond, 0, time.Nanosecond, time.Hour}
	live := map[string]bool{}
	for i, d := range expiries {
		exp := now.Add(d)
		isLive := d > 0
		sess := storage.Session{ID: fmt.Sprintf("s%d", i), ExpiresAt: exp}
		if err := s.CreateSession(ctx, &sess); err != nil {
			t.Fatal(err)
		}
		r := storage.AuthRequest{ID: fmt.Sprintf("r%d", i), ExpiresAt: exp}
		if err := s.CreateAuthRequest(ctx, &r); err != nil {
			t.Fatal(err)
		}
		g := storage.RefreshGrant{TokenHash: fmt.Sprintf("g%d", i), ExpiresAt: exp}
		if i == 4 {
			// Used but not expired: kept, it still tells reuse from forgery.
			g.UsedAt = &now
		}
		if err := s.CreateRefreshGrant(ctx, &g); err != nil {
			t.Fatal(err)
		}
		fam := fmt.Sprintf("f%d", i)
		if err := s.RevokeFamily(ctx, fam, now.Add(-2*time.Hour), exp); err != nil {
			t.Fatal(err)
		}
		live[sess.ID], live[r.ID], live[g.TokenHash], live[fam] = isLive, isLive, isLive, isLive
	}
	// Rows no prune may touch.
	u := storage.User{ID: "u1", Username: "alice"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}

	const wantExpired = 12
	var calls []int
	for range 10 {
		n, err := s.Prune(ctx, now, 4)
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		if n > 4 {
			t.Fatalf("Prune with batch 4: got %d rows deleted, want at most 4", n)
		}
		calls = append(calls, n)
		if n < 4 {
			break
		}
	}
	want := []int{4, 4, 4, 0}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("rows deleted per Prune call with batch 4: got %v, want %v", calls, want)
	}

	remaining := map[string]bool{}
	for _, q := range []string{
		`SELECT id FROM sessions`, `SELECT id FROM auth_requests`, `SELECT token_hash FROM refresh_grants`,
		`SELECT id FROM revoked_families`,
	} {
		rows, err := s.db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			remaining[id] = true
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deleted := 0
	for id, isLive := range live {
		switch {
		case isLive && !remaining[id]:
			t.Errorf("Prune deleted live row %s", id)
		case !isLive && remaining[id]:
			t.Errorf("Prune kept expired row %s", id)
		case !isLive:
			deleted++
		}
	}
	if deleted != wantExpired {
		t.Errorf("expired rows deleted: got %d, want %d", deleted, wantExpired)
	}
	if n, err := s.CountUsers(ctx); err != nil || n != 1 {
		t.Errorf("CountUsers after Prune: got %d, %v, want 1, nil", n, err)
	}
	if n, err := s.Prune(ctx, now, 4); err != nil || n != 0 {
		t.Errorf("Prune with nothing expired: got %d, %v, want 0, nil", n, err)
	}
	if _, err := s.Prune(ctx, now, 0); err == nil {
		t.Errorf("Prune with batch 0: got nil error, want one")
	}
}

// Prune forgets client assertion ids once expired, and only then.
func TestPruneClientAssertions(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	now := time.Date(2031, time.March, 4, 5, 6, 7, 0, time.UTC)
	for i, d := range []time.Duration{-time.Minute, 0, time.Minute} {
		if err := s.UseAssertionID(ctx, "c", fmt.Sprintf("jti%d", i), now.Add(d), now.Add(-time.Hour)); err != nil {
			t.Fatalf("UseAssertionID: %v", err)
		}
	}
	if _, err := s.Prune(ctx, now, 100); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	var ids []string
	rows, err := s.db.QueryContext(ctx, `SELECT jti FROM client_assertions ORDER BY jti`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(ids) != 1 || ids[0] != "jti2" {
		t.Errorf("client assertions after Prune: got %v, want [jti2]", ids)
	}
}

// Prune drops logout notices past their deadline and expired login-failure
// counters, and only those.
func TestPruneLogoutNoticesAndThrottle(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	now := t0
	var notices []storage.LogoutNotice
	for i, d := range []time.Duration{-time.Minute, 0, time.Minute} {
		notices = append(notices, storage.LogoutNotice{ID: fmt.Sprintf("n%d", i), Deadline: now.Add(d), NextAttempt: now.Add(time.Hour)})
		key := fmt.Sprintf("k%d", i)
		if _, _, err := s.ReserveLoginAttempt(ctx, []storage.ThrottleLimit{{Key: key, Free: 1}}, now.Add(d-time.Minute), time.Minute); err != nil {
			t.Fatalf("ReserveLoginAttempt: %v", err)
		}
	}
	if err := s.EnqueueLogoutNotices(ctx, notices); err != nil {
		t.Fatalf("EnqueueLogoutNotices: %v", err)
	}
	if n, err := s.Prune(ctx, now, 100); err != nil || n != 4 {
		t.Fatalf("Prune: got %d, %v, want 4, nil", n, err)
	}
	for _, q := range []struct{ query, want string }{
		{`SELECT group_concat(id) FROM logout_notices`, "n2"},
		{`SELECT group_concat(key) FROM login_failures`, "k2"},
	} {
		var got string
		if err := s.db.QueryRowContext(ctx, q.query).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != q.want {
			t.Errorf("%s after Prune: got %q, want %q", q.query, got, q.want)
		}
	}
}

// A session that times out is reported: in the transaction that deletes
// it, Prune queues one back-channel logout notice for each of its clients
// that exists, is enabled and registered a backchannel_logout_uri, and only
// for sessions it deleted.
func TestPruneQueuesLogoutNotices(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	now := t0
	bc := storage.Client{ID: "bc", BackchannelLogoutURI: "https://bc.example/logout"}
	plain := storage.Client{ID: "plain"}
	off := storage.Client{ID: "off", BackchannelLogoutURI: "https://off.example/logout"}
	if _, err := s.SyncClients(ctx, []storage.Client{bc, plain, off}, now); err != nil {
		t.Fatalf("SyncClients: %v", err)
	}
	if _, err := s.SyncClients(ctx, []storage.Client{bc, plain}, now); err != nil {
		t.Fatalf("SyncClients disabling off: %v", err)
	}
	for _, sess := range []storage.Session{
		{ID: "ended", UserID: "u1", ExpiresAt: now.Add(-time.Minute), Clients: []string{"bc", "plain", "gone"}},
		{ID: "at-now", UserID: "u2", ExpiresAt: now, Clients: []string{"plain", "bc"}},
		{ID: "disabled", UserID: "u3", ExpiresAt: now.Add(-time.Minute), Clients: []string{"off"}},
		{ID: "no-clients", UserID: "u4", ExpiresAt: now.Add(-time.Minute)},
		{ID: "live", UserID: "u5", ExpiresAt: now.Add(time.Nanosecond), Clients: []string{"bc"}},
	} {
		if err := s.CreateSession(ctx, &sess); err != nil {
			t.Fatalf("CreateSession %s: %v", sess.ID, err)
		}
	}

	// One session per call: each call queues the notices of the session
	// it deleted and of no other.
	var calls []int
	for range 10 {
		n, err := s.Prune(ctx, now, 1)
		if err != nil {
			t.Fatalf("Prune: %v", err)
		}
		calls = append(calls, n)
		var early int
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM logout_notices
			WHERE session_id IN (SELECT id FROM sessions)`).Scan(&early); err != nil {
			t.Fatal(err)
		}
		if early != 0 {
			t.Errorf("after Prune call %d: got %d notices for sessions still stored, want 0", len(calls), early)
		}
		if n == 0 {
			break
		}
	}
	if want := []int{1, 1, 1, 1, 0}; fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("rows deleted per Prune call with batch 1: got %v, want %v", calls, want)
	}
	if n, err := s.Prune(ctx, now, 100); err != nil || n != 0 {
		t.Errorf("Prune again: got %d, %v, want 0, nil", n, err)
	}

	rows, err := s.db.QueryContext(ctx, `SELECT `+logoutNoticeColumns+` FROM logout_notices ORDER BY session_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []storage.LogoutNotice
	for rows.Next() {
		n, err := scanLogoutNotice(rows)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, *n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []storage.LogoutNotice{
		{ClientID: "bc", UserID: "u2", SessionID: "at-now"},
		{ClientID: "bc", UserID: "u1", SessionID: "ended"},
	}
	for i := range want {
		want[i].CreatedAt, want[i].Deadline, want[i].NextAttempt = now, now.Add(storage.LogoutNoticeTTL), now
	}
	ids := map[string]bool{}
	for i := range got {
		if b, err := hex.DecodeString(got[i].ID); err != nil || len(b) != 16 {
			t.Errorf("notice id %q: want 128 bits in hex", got[i].ID)
		}
		ids[got[i].ID] = true
		got[i].ID = ""
	}
	if len(ids) != len(got) {
		t.Errorf("notice ids: got %d distinct of %d", len(ids), len(got))
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("logout notices after Prune:\n got %+v\nwant %+v", got, want)
	}

	var left string
	if err := s.db.QueryRowContext(ctx, `SELECT group_concat(id) FROM sessions`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != "live" {
		t.Errorf("sessions after Prune: got %q, want %q", left, "live")
	}
}

// TestAppendAuditKeepsBytes: strings reach the table byte for byte, even
// those that are not UTF-8 or hold NUL (Postgres refuses them; SQLite has
// always stored them as given, and the batch's encoding must not change
// that).
func TestAppendAuditKeepsBytes(t *testing.T) {
	s := openTemp(t)
	odd := []string{"a\xffb", "nul\x00inside", "\xc3", "\x00"}
	var events []storage.AuditEvent
	for i, v := range odd {
		events = append(events, storage.AuditEvent{Time: t0.Add(time.Duration(i) * time.Second), Kind: fmt.Sprint(i),
			UserID: v, ClientID: v, SessionID: v, Family: v, IP: v, Actor: v, Detail: v})
	}
	if err := s.AppendAudit(t.Context(), events); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	got, err := s.AuditEvents(t.Context(), storage.AuditQuery{})
	if err != nil {
		t.Fatalf("AuditEvents: %v", err)
	}
	if len(got) != len(odd) {
		t.Fatalf("AuditEvents: got %d events, want %d", len(got), len(odd))
	}
	for _, g := range got {
		var i int
		fmt.Sscan(g.Kind, &i)
		want := odd[i]
		for _, f := range []string{g.UserID, g.ClientID, g.SessionID, g.Family, g.IP, g.Actor, g.Detail} {
			if f != want {
				t.Errorf("event %s: got field %q, want %q", g.Kind, f, want)
			}
		}
	}
}

// TestTransactionsCacheStatements: a statement first met inside a
// transaction is prepared on the pool once the transaction has ended, so
// later transactions reuse it instead of compiling it again.
func TestTransactionsCacheStatements(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	grant := func(i int) *storage.RefreshGrant {
		return &storage.RefreshGrant{TokenHash: fmt.Sprintf("h%d", i), FamilyID: "f1", ClientID: "web", UserID: "u1",
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	}
	if err := s.CreateRefreshGrant(ctx, grant(0)); err != nil {
		t.Fatalf("CreateRefreshGrant: %v", err)
	}
	cachedRotation := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for q := range s.stmts {
			if strings.HasPrefix(q, "UPDATE refresh_grants SET used_at") {
				return true
			}
		}
		return false
	}
	if cachedRotation() {
		t.Fatal("the rotation's UPDATE is cached before any rotation ran")
	}
	if err := s.RotateRefreshGrant(ctx, "h0", grant(1), nil, time.Time{}, t0); err != nil {
		t.Fatalf("RotateRefreshGrant: %v", err)
	}
	if !cachedRotation() {
		t.Error("after a rotation: its UPDATE is not cached, want it prepared once for every later rotation")
	}
	s.mu.Lock()
	n := len(s.stmts)
	s.mu.Unlock()
	if err := s.RotateRefreshGrant(ctx, "h1", grant(2), nil, time.Time{}, t0); err != nil {
		t.Fatalf("RotateRefreshGrant: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.stmts) != n {
		t.Errorf("after a second rotation: %d cached statements, want still %d", len(s.stmts), n)
	}
}

// Writers of one process queue for SQLite's write lock in Go, in turn and
// for as long as their context allows, rather than in SQLite's busy
// handler, which gives up after busy_timeout (5 s). Behind a transaction
// held past that, a single-statement write (exec), a write returning a row
// (writeRow), a delete returning rows and a transaction all wait and then
// land; a writer whose context ends while it waits gets the context's
// error and writes nothing.
func TestWritersQueueBehindALongTransaction(t *testing.T) {
	t.Parallel()
	s := openTemp(t)
	ctx := t.Context()
	in, err := s.begin(ctx)
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	ended := false
	defer func() {
		if !ended {
			in.end(ctx)
		}
	}()

	live := t0.Add(time.Hour)
	writes := []struct {
		name string
		run  func() error
	}{
		{"CreateSession (exec)", func() error {
			return s.CreateSession(ctx, &storage.Session{ID: "s1", UserID: "u1", ExpiresAt: live})
		}},
		{"TakePendingSignIn (writeRow)", func() error {
			_, err := s.TakePendingSignIn(ctx, "none", t0)
			if errors.Is(err, storage.ErrNotFound) {
				return nil
			}
			return err
		}},
		{"DeleteUserSessions", func() error {
			_, err := s.DeleteUserSessions(ctx, "nobody")
			return err
		}},
		{"ReserveLoginAttempt (transaction)", func() error {
			_, _, err := s.ReserveLoginAttempt(ctx, []storage.ThrottleLimit{{Key: "k", Free: 1}}, t0, time.Minute)
			return err
		}},
	}
	done := make(chan string, len(writes))
	errs := make(chan error, len(writes))
	for _, w := range writes {
		go func() {
			err := w.run()
			if err != nil {
				err = fmt.Errorf("%s: %w", w.name, err)
			}
			errs <- err
			done <- w.name
		}()
	}

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := s.CreateSession(short, &storage.Session{ID: "s2", UserID: "u2", ExpiresAt: live}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CreateSession whose context ends while it waits: got %v, want context.DeadlineExceeded", err)
	}

	time.Sleep(5500 * time.Millisecond) // past busy_timeout
	select {
	case name := <-done:
		t.Fatalf("%s finished while the transaction held the write lock", name)
	default:
	}
	in.end(ctx)
	ended = true
	for range writes {
		if err := <-errs; err != nil {
			t.Errorf("write queued behind the transaction: %v", err)
		}
	}
	for id, want := range map[string]bool{"s1": true, "s2": false} {
		got, err := s.Session(ctx, id, t0)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Session %s: %v", id, err)
		}
		if (got != nil) != want {
			t.Errorf("session %s stored: %v, want %v", id, got != nil, want)
		}
	}
}
