package postgres

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
	"github.com/gatehouse-idp/gatehouse/storage/postgres/pgtest"
	"github.com/gatehouse-idp/gatehouse/storage/storagetest"
)

var (
	_ storagetest.Store = (*Store)(nil)
	_ storage.Pruner    = (*Store)(nil)
)

func TestContract(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storagetest.Store {
		return openTest(t, Options{})
	})
}

// openTest migrates a fresh schema and opens a store on it that is closed
// when the test ends (before the schema is dropped).
func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	return openAt(t, migrated(t), opts)
}

// migrated returns the DSN of a fresh, migrated schema.
func migrated(t testing.TB) string {
	t.Helper()
	dsn := pgtest.DSN(t)
	if err := Migrate(t.Context(), dsn); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return dsn
}

func openAt(t testing.TB, dsn string, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

var t0 = time.Date(2031, time.March, 4, 5, 6, 7, 123456000, time.UTC)

// embeddedMigrations counts the migration files in the binary.
func embeddedMigrations(t testing.TB) int {
	t.Helper()
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("embedded migrations: got %d files, %v", len(names), err)
	}
	return len(names)
}

// wantApplied checks that every embedded migration is recorded as applied
// exactly once, and goose's initial row written once.
func wantApplied(t *testing.T, s *Store) {
	t.Helper()
	var applied, initial int
	err := s.pool.QueryRow(t.Context(), `SELECT count(*) FILTER (WHERE version_id > 0),
		count(*) FILTER (WHERE version_id = 0) FROM `+versionTable).Scan(&applied, &initial)
	if err != nil {
		t.Fatalf("counting applied migrations: %v", err)
	}
	if want := embeddedMigrations(t); applied != want {
		t.Errorf("applied migrations: got %d rows, want %d", applied, want)
	}
	if initial != 1 {
		t.Errorf("goose's version-0 rows: got %d, want 1", initial)
	}
}

func TestMigrateTwice(t *testing.T) {
	dsn := migrated(t)
	// Pool settings in the DSN are not sent to the server.
	if err := Migrate(t.Context(), pgtest.WithParam(dsn, "pool_max_conns", "2")); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	s := openAt(t, dsn, Options{})
	wantApplied(t, s)
	u := storage.User{ID: "u1", Username: "alice"}
	if err := s.CreateUser(t.Context(), &u); err != nil {
		t.Fatalf("CreateUser after two Migrates: %v", err)
	}
}

func TestConcurrentMigrate(t *testing.T) {
	dsn := pgtest.DSN(t)
	const instances = 5
	errs := make([]error, instances)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() {
			<-start
			errs[i] = Migrate(t.Context(), dsn)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d of %d concurrent: %v", i, instances, err)
		}
	}
	wantApplied(t, openAt(t, dsn, Options{}))
}

func TestMigrateWithoutSchema(t *testing.T) {
	dsn := pgtest.WithParam(pgtest.DSN(t), "search_path", "gh_test_no_such_schema")
	err := Migrate(t.Context(), dsn)
	if err == nil || !strings.Contains(err.Error(), "no schema") {
		t.Errorf("Migrate with a search_path naming no schema: got error %v, want one saying there is no schema", err)
	}
}

func TestOpenUnmigrated(t *testing.T) {
	dsn := pgtest.DSN(t)
	s, err := Open(t.Context(), dsn, Options{})
	if err == nil {
		s.Close()
		t.Fatalf("Open on an unmigrated schema: got nil error, want one")
	}
	// The newest version, not the number of files: versions may have gaps
	// (migrations written on branches merged in another order).
	latest, lerr := latestVersion()
	if lerr != nil {
		t.Fatal(lerr)
	}
	want := fmt.Sprintf("database schema is at version 0, this Gatehouse needs %d: run `gatehouse migrate`", latest)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("Open on an unmigrated schema: got error %q, want it to contain %q", err, want)
	}
	// Open did not migrate.
	if err := Migrate(t.Context(), dsn); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	wantApplied(t, openAt(t, dsn, Options{}))
}

func TestOpenBadDSN(t *testing.T) {
	s, err := Open(t.Context(), "postgres://user:hunter2@127.0.0.1:5432/test?sslmode=bogus", Options{})
	if err == nil {
		s.Close()
		t.Fatalf("Open with a malformed DSN: got nil error, want one")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Open with a malformed DSN: error %q shows the password", err)
	}
}

func TestPing(t *testing.T) {
	s, err := Open(t.Context(), migrated(t), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping on an open store: %v", err)
	}
	s.Close()
	if err := s.Ping(t.Context()); err == nil {
		t.Fatalf("Ping on a closed store: got nil error, want one")
	}
}

func TestPrune(t *testing.T) {
	s := openTest(t, Options{})
	ctx := t.Context()
	now := t0

	// Per table: 3 expired (one at exactly now) and 2 live rows; revoked
	// families expire at their keepUntil.
	expiries := []time.Duration{-time.Hour, -time.Microsecond, 0, time.Microsecond, time.Hour}
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
	if want := []int{4, 4, 4, 0}; fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("rows deleted per Prune call with batch 4: got %v, want %v", calls, want)
	}

	remaining := map[string]bool{}
	for _, q := range []string{
		`SELECT id FROM sessions`, `SELECT id FROM auth_requests`, `SELECT token_hash FROM refresh_grants`,
		`SELECT id FROM revoked_families`,
	} {
		rows, err := s.pool.Query(ctx, q)
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
		rows.Close()
		if err := rows.Err(); err != nil {
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

// TestTimestamptz checks that times are stored as instants an operator can
// read, and the zero time as NULL.
func TestTimestamptz(t *testing.T) {
	s := openTest(t, Options{})
	sess := storage.Session{ID: "s1", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateSession(t.Context(), &sess); err != nil {
		t.Fatal(err)
	}
	var created string
	var authTimeNull bool
	err := s.pool.QueryRow(t.Context(), `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'),
		auth_time IS NULL FROM sessions WHERE id = 's1'`).Scan(&created, &authTimeNull)
	if err != nil {
		t.Fatal(err)
	}
	if want := "2031-03-04 05:06:07.123456"; created != want {
		t.Errorf("created_at in UTC: got %s, want %s", created, want)
	}
	if !authTimeNull {
		t.Errorf("auth_time of a zero AuthTime: got non-NULL, want NULL")
	}
}

// blackHole is a TCP listener that accepts connections and never answers.
func blackHole(t *testing.T) string {
	t.Helper()
	p := newProxy(t, "")
	p.frozen.Store(true)
	return p.addr()
}

// proxy relays TCP connections to a Postgres server until frozen; from then
// on it swallows every byte in both directions and answers nothing, as a
// server that hangs or a network that drops packets would.
type proxy struct {
	ln             net.Listener
	network, upstr string
	frozen         atomic.Bool

	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

// close stops the proxy and closes every connection, as a dead server's
// host finally would; it may be called more than once.
func (p *proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// newProxy starts a proxy to upstream (network "tcp" or "unix"; upstream ""
// relays nowhere) that stops when t ends.
func newProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, network: "tcp", upstr: upstream}
	if strings.HasPrefix(upstream, "/") {
		p.network = "unix"
	}
	t.Cleanup(p.close)
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !p.track(c) {
				return
			}
			if p.frozen.Load() || upstream == "" {
				p.wg.Go(func() { p.pipe(nil, c) })
				continue
			}
			up, err := net.Dial(p.network, upstream)
			if err != nil || !p.track(up) {
				c.Close()
				continue
			}
			p.wg.Go(func() { p.pipe(up, c) })
			p.wg.Go(func() { p.pipe(c, up) })
		}
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// track records c for closing at the end; if the proxy is closing already
// it closes c and returns false.
func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

// pipe copies src to dst (nil: nowhere) until src fails, dropping what it
// reads while the proxy is frozen.
func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && dst != nil && !p.frozen.Load() {
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			if dst != nil {
				dst.Close()
			}
			return
		}
	}
}

// upstream returns the address of the server dsn names, for a proxy.
func upstream(t *testing.T, dsn string) string {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(int(cfg.Port))
	if strings.HasPrefix(cfg.Host, "/") {
		return cfg.Host + "/.s.PGSQL." + port
	}
	return net.JoinHostPort(cfg.Host, port)
}

// through returns dsn pointed at addr.
func through(dsn, addr string) string {
	host, port, _ := net.SplitHostPort(addr)
	return pgtest.WithParam(pgtest.WithParam(dsn, "host", host), "port", port)
}

// withinAbout fails t if elapsed is far beyond timeout: a call that hangs
// would take the test's whole deadline.
func withinAbout(t *testing.T, what string, elapsed, timeout time.Duration) {
	t.Helper()
	if limit := timeout + 5*time.Second; elapsed > limit {
		t.Errorf("%s: took %v, want about %v (at most %v)", what, elapsed, timeout, limit)
	}
}

func TestOpenTimesOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	dsn := "postgres://root@" + blackHole(t) + "/test?sslmode=disable"
	start := time.Now()
	s, err := Open(t.Context(), dsn, Options{Timeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatalf("Open on a server that never answers: got nil error, want one")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Open on a server that never answers: got error %v, want one wrapping %v", err, context.DeadlineExceeded)
	}
	withinAbout(t, "Open on a server that never answers", elapsed, timeout)
}

func TestCallTimesOut(t *testing.T) {
	const timeout = 300 * time.Millisecond
	dsn := migrated(t)
	p := newProxy(t, upstream(t, dsn))
	s := openAt(t, through(dsn, p.addr()), Options{Timeout: timeout})
	// Close the proxy before the store: pgx gives a connection that timed
	// out up to 15 s to close cleanly, and Close waits for that.
	t.Cleanup(p.close)
	u := storage.User{ID: "u1", Username: "alice"}
	if err := s.CreateUser(t.Context(), &u); err != nil {
		t.Fatalf("CreateUser through the proxy: %v", err)
	}

	p.frozen.Store(true)
	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"UserByID", func(ctx context.Context) error { _, err := s.UserByID(ctx, "u1"); return err }},
		{"RotateRefreshGrant", func(ctx context.Context) error {
			return s.RotateRefreshGrant(ctx, "h1", &storage.RefreshGrant{TokenHash: "h2"}, nil, time.Time{}, t0)
		}},
		{"Ping", s.Ping},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.call(t.Context())
		elapsed := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s on a server that stopped answering: got error %v, want one wrapping %v", c.name, err, context.DeadlineExceeded)
		}
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
			t.Errorf("%s on a server that stopped answering: got error %v, want neither sentinel", c.name, err)
		}
		withinAbout(t, c.name+" on a server that stopped answering", elapsed, timeout)
	}
}

// Prune forgets client assertion ids once expired, and only then.
func TestPruneClientAssertions(t *testing.T) {
	s := openTest(t, Options{})
	ctx := t.Context()
	now := t0
	for i, d := range []time.Duration{-time.Minute, 0, time.Minute} {
		if err := s.UseAssertionID(ctx, "c", fmt.Sprintf("jti%d", i), now.Add(d), now.Add(-time.Hour)); err != nil {
			t.Fatalf("UseAssertionID: %v", err)
		}
	}
	if n, err := s.Prune(ctx, now, 100); err != nil || n != 2 {
		t.Fatalf("Prune: got %d, %v, want 2, nil", n, err)
	}
	var ids []string
	rows, err := s.pool.Query(ctx, `SELECT jti FROM client_assertions ORDER BY jti`)
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
	s := openTest(t, Options{})
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
		{`SELECT string_agg(id, ',') FROM logout_notices`, "n2"},
		{`SELECT string_agg(key, ',') FROM login_failures`, "k2"},
	} {
		var got string
		if err := s.pool.QueryRow(ctx, q.query).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != q.want {
			t.Errorf("%s after Prune: got %q, want %q", q.query, got, q.want)
		}
	}
}

// A session that times out is reported: the statement that deletes it
// queues one back-channel logout notice for each of its clients that
// exists, is enabled and registered a backchannel_logout_uri, and only for
// sessions it deleted.
func TestPruneQueuesLogoutNotices(t *testing.T) {
	s := openTest(t, Options{})
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
		{ID: "live", UserID: "u5", ExpiresAt: now.Add(time.Microsecond), Clients: []string{"bc"}},
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
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM logout_notices
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

	rows, err := s.pool.Query(ctx, `SELECT `+logoutNoticeColumns+` FROM logout_notices ORDER BY session_id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.LogoutNotice, error) {
		var (
			n                       storage.LogoutNotice
			created, deadline, next pgtype.Timestamptz
		)
		err := row.Scan(&n.ID, &n.ClientID, &n.UserID, &n.SessionID, &created, &deadline, &n.Attempts,
			&next, &n.LastError)
		n.CreatedAt, n.Deadline, n.NextAttempt = timeOf(created), timeOf(deadline), timeOf(next)
		return n, err
	})
	if err != nil {
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
		if b, err := base64.RawURLEncoding.DecodeString(got[i].ID); err != nil || len(b) != 16 {
			t.Errorf("notice id %q: want 16 bytes in unpadded base64url", got[i].ID)
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
	if err := s.pool.QueryRow(ctx, `SELECT string_agg(id, ',') FROM sessions`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != "live" {
		t.Errorf("sessions after Prune: got %q, want %q", left, "live")
	}
}

// Of concurrent Prunes on several instances, only the one whose delete
// takes a session queues its notice.
func TestConcurrentPruneQueuesOnce(t *testing.T) {
	dsn := migrated(t)
	ctx := t.Context()
	now := t0
	instances := []*Store{openAt(t, dsn, Options{}), openAt(t, dsn, Options{})}
	bc := storage.Client{ID: "bc", BackchannelLogoutURI: "https://bc.example/logout"}
	if _, err := instances[0].SyncClients(ctx, []storage.Client{bc}, now); err != nil {
		t.Fatalf("SyncClients: %v", err)
	}
	const sessions = 200
	for i := range sessions {
		sess := storage.Session{ID: fmt.Sprintf("s%03d", i), UserID: "u1", ExpiresAt: now.Add(-time.Minute), Clients: []string{"bc"}}
		if err := instances[0].CreateSession(ctx, &sess); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}

	var (
		deleted atomic.Int64
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for i := range 8 {
		s := instances[i%len(instances)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				n, err := s.Prune(ctx, now, 7)
				if err != nil {
					t.Errorf("Prune: %v", err)
					return
				}
				deleted.Add(int64(n))
				if n == 0 {
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()

	if got := deleted.Load(); got != sessions {
		t.Errorf("sessions deleted by all Prunes: got %d, want %d", got, sessions)
	}
	var notices, distinct int
	if err := instances[0].pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT session_id) FROM logout_notices`).
		Scan(&notices, &distinct); err != nil {
		t.Fatal(err)
	}
	if notices != sessions || distinct != sessions {
		t.Errorf("logout notices: got %d for %d sessions, want %d for %d", notices, distinct, sessions, sessions)
	}
}
