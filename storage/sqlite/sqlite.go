// Package sqlite is Gatehouse's embedded storage backend: every store in one
// SQLite file, through modernc.org/sqlite (pure Go, no cgo).
//
// The schema is created and upgraded by Open from migrations embedded in the
// binary. Times are stored as Unix nanoseconds in UTC, so they round-trip
// exactly but must lie between the years 1678 and 2262; the zero time is
// stored as NULL. String lists are stored as JSON arrays.
//
// The database runs in WAL mode with a busy timeout, and every write
// transaction takes the write lock when it begins. Writers of one process
// first queue for it in Go, first come first served and for as long as
// their context allows (Store.lockWrites), so a burst of concurrent writes
// never fails with SQLITE_BUSY; the busy timeout is left to arbitrate
// between processes. Several Gatehouse processes may
// share one file on one machine, but not over a network file system; and
// since goose has no migration lock for SQLite, two processes that upgrade
// the same file at the same instant may see one of their Opens fail (the
// schema stays sound, and opening again succeeds).
//
// Expired sessions, auth requests, refresh grants, pending sign-ins and
// WebAuthn ceremonies are never returned, but stay in the file until Prune
// deletes them; so do revoked-family records (FamilyRevoked reports them
// until then), logout notices past their deadline and expired
// login-failure counters.
//
// A user's second factors (TOTP generator, recovery codes), passkeys,
// password-reset links and group memberships go with the user: their tables reference users with ON
// DELETE CASCADE, and foreign keys are on (connParams). A group's
// memberships go with the group the same way.
//
// Audit events are kept until PruneAudit deletes them (the server prunes
// those older than its audit_retention).
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Conformance to the store interfaces.
var (
	_ storage.Clients              = (*Store)(nil)
	_ storage.Users                = (*Store)(nil)
	_ storage.UserDeleter          = (*Store)(nil)
	_ storage.UserSwapper          = (*Store)(nil)
	_ storage.UserImporter         = (*Store)(nil)
	_ storage.Sessions             = (*Store)(nil)
	_ storage.SessionCounter       = (*Store)(nil)
	_ storage.AuthRequests         = (*Store)(nil)
	_ storage.RefreshGrants        = (*Store)(nil)
	_ storage.TokenFamilies        = (*Store)(nil)
	_ storage.SigningKeys          = (*Store)(nil)
	_ storage.Secrets              = (*Store)(nil)
	_ storage.ClientAssertions     = (*Store)(nil)
	_ storage.Consents             = (*Store)(nil)
	_ storage.LogoutNotices        = (*Store)(nil)
	_ storage.LoginThrottle        = (*Store)(nil)
	_ storage.AuditLog             = (*Store)(nil)
	_ storage.SecondFactors        = (*Store)(nil)
	_ storage.PendingSignIns       = (*Store)(nil)
	_ storage.SessionAuthenticator = (*Store)(nil)
	_ storage.Passkeys             = (*Store)(nil)
	_ storage.WebAuthnCeremonies   = (*Store)(nil)
	_ storage.Groups               = (*Store)(nil)
	_ storage.PasswordResets       = (*Store)(nil)
	_ storage.DeviceAuthorizations = (*Store)(nil)
	_ storage.ClientWriter         = (*Store)(nil)
	_ storage.ClientRegistries     = (*Store)(nil)
	_ storage.UserPager            = (*Store)(nil)
	_ storage.Registrations        = (*Store)(nil)
	_ storage.PushedRequests       = (*Store)(nil)
	_ storage.DPoPProofs           = (*Store)(nil)
)

//go:embed migrations/*.sql
var migrations embed.FS

// maxOpenConns bounds the connection pool, which readers share (WAL lets
// them read beside the one writer). Writers queue for SQLite's one write
// lock before they take a connection (Store.lockWrites).
const maxOpenConns = 8

// connParams are the DSN parameters every connection opens with. busy_timeout
// comes first so that the pragmas after it wait for locks too; _txlock makes
// BeginTx issue BEGIN IMMEDIATE.
//
// The write-ahead log is copied back into the database (checkpointed) by the
// commit that takes it past wal_autocheckpoint pages. A page written many
// times between two checkpoints is copied once, so a longer interval than
// SQLite's 1,000 pages (4 MiB) copies less: at 10,000 pages (40 MiB) a
// refresh costs about 6 % less CPU (docs/performance.md); more gained
// nothing measurable. journal_size_limit then truncates the log file back
// to 64 MiB once a checkpoint lets it restart, where it would otherwise
// keep the largest size it ever reached (2 GB seen under bulk writes).
const connParams = "_pragma=busy_timeout(5000)" +
	"&_pragma=foreign_keys(1)" +
	"&_pragma=journal_mode(WAL)" +
	"&_pragma=synchronous(NORMAL)" +
	"&_pragma=wal_autocheckpoint(10000)" +
	"&_pragma=journal_size_limit(67108864)" +
	"&_txlock=immediate"

// Store holds every Gatehouse store in one SQLite database. It is safe for
// concurrent use. Create it with Open and release it with Close.
type Store struct {
	db *sql.DB

	// writer holds a token while a writer of this process holds, or is
	// about to take, SQLite's write lock. Goroutines blocked sending to a
	// channel are woken in the order they came.
	writer chan struct{}

	mu    sync.Mutex
	stmts map[string]*sql.Stmt // by query text; see prepared
}

// Open opens the SQLite database at path, creating the file if it does not
// exist, and brings its schema up to date. path is a file path, optionally
// prefixed with "sqlite:"; in-memory databases are refused, since each pooled
// connection would see a database of its own. Open fails if the file is not
// a SQLite database or holds a schema newer than this binary knows.
func Open(ctx context.Context, path string) (*Store, error) {
	path = strings.TrimPrefix(path, "sqlite:")
	switch {
	case path == "":
		return nil, errors.New("sqlite: open: empty path")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return nil, fmt.Errorf("sqlite: open %q: want a file path", path)
	}
	db, err := sql.Open("sqlite", "file:"+escapePath(path)+"?"+connParams)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return &Store{db: db, writer: make(chan struct{}, 1), stmts: make(map[string]*sql.Stmt)}, nil
}

// escapePath makes a file path safe inside a SQLite URI filename, where '?'
// starts the parameters, '#' a fragment, and '%' an escape.
func escapePath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

// migrate applies the embedded migrations that db has not seen yet, each in
// its own transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	current, latest, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current != latest {
		return fmt.Errorf("migrate: database schema is at version %d, this binary knows up to %d", current, latest)
	}
	return nil
}

// Close closes the database. Calls in flight may fail.
func (s *Store) Close() error {
	s.mu.Lock()
	var errs []error
	for q, st := range s.stmts {
		errs = append(errs, st.Close())
		delete(s.stmts, q)
	}
	s.mu.Unlock()
	errs = append(errs, s.db.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// prepared returns the prepared statement for query, preparing it on first
// use: SQLite spends more time compiling a short statement than running it.
// Queries are constant strings, so the cache is bounded.
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	st, ok := s.stmts[query]
	s.mu.Unlock()
	if ok {
		return st, nil
	}
	// Prepare without the lock: it may wait for a pooled connection.
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.stmts[query]; ok {
		st.Close()
		return prev, nil
	}
	s.stmts[query] = st
	return st, nil
}

// runner runs statements through the store's statement cache, on the pool
// or, when tx is set, inside that transaction. Start a transaction's runner
// with begin.
type runner struct {
	s  *Store
	tx *sql.Tx
	// missed collects, in a transaction, the queries not in the cache yet,
	// which the transaction prepared on its own connection; end prepares
	// them on the pool.
	missed *[]string
	// unlock lets the next writer of this process in (see lockWrites).
	unlock func()
}

// lockWrites waits, in the order writers came and for as long as ctx
// allows, until no other writer of this process holds SQLite's write
// lock; call the returned unlock once the write is committed or rolled
// back. Left to SQLite's busy handler, writers are not served in turn: a
// waiter polls at up to 100 ms intervals while a writer that just came
// takes the lock the moment it is free, so under a burst a waiter could
// lose for the whole busy timeout and fail with SQLITE_BUSY (64
// concurrent sign-ins did, on a loaded machine).
//
// Every write takes it: begin for transactions, exec and writeRow for
// single statements. A writer must not wait for it again before unlock.
func (s *Store) lockWrites(ctx context.Context) (unlock func(), err error) {
	select {
	case s.writer <- struct{}{}:
		return func() { <-s.writer }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// begin starts a write transaction (BEGIN IMMEDIATE, see connParams) when
// it is this writer's turn (lockWrites), and returns its runner. Defer end
// right after: it rolls back what was not committed (in.tx.Commit), lets
// the next writer in, then caches the transaction's statements.
func (s *Store) begin(ctx context.Context) (runner, error) {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return runner{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		unlock()
		return runner{}, err
	}
	return runner{s: s, tx: tx, missed: new([]string), unlock: unlock}, nil
}

// end ends a transaction from begin: it rolls it back unless it was
// committed, and prepares on the pool the queries it had to prepare on
// its own connection, so that the next transaction finds them in the
// cache. That happens after the transaction, which then no longer holds
// a connection or the write lock; a failure only means the next
// transaction prepares the query again, so it is not reported.
func (r runner) end(ctx context.Context) {
	r.tx.Rollback()
	r.unlock()
	for _, q := range *r.missed {
		r.s.prepared(ctx, q)
	}
}

func (r runner) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if r.tx == nil {
		return r.s.prepared(ctx, query)
	}
	// Inside a transaction only its own connection may be used: preparing
	// on the pool could wait for a connection whose owner waits for this
	// transaction's write lock. A cached statement is bound to the
	// transaction (tx.StmtContext reuses it as already prepared on the
	// transaction's connection, or prepares it there once and keeps it
	// with the statement).
	r.s.mu.Lock()
	st, ok := r.s.stmts[query]
	r.s.mu.Unlock()
	if ok {
		return r.tx.StmtContext(ctx, st), nil
	}
	if r.missed != nil {
		*r.missed = append(*r.missed, query)
	}
	return r.tx.PrepareContext(ctx, query)
}

func (r runner) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (r runner) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (r runner) queryRow(ctx context.Context, query string, args ...any) scanner {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// errRow is a row that failed before its query ran.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// Shorthands for statements on the pool. exec is for writes, so it waits
// its turn (lockWrites); query and queryRow are for reads.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return runner{s: s}.exec(ctx, query, args...)
}

// writeRow runs a single-statement write that returns one row (DELETE or
// UPDATE ... RETURNING) in its turn (lockWrites); the turn ends when the
// row is scanned, so scan it at once.
func (s *Store) writeRow(ctx context.Context, query string, args ...any) scanner {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return errRow{err}
	}
	return lockedRow{runner{s: s}.queryRow(ctx, query, args...), unlock}
}

// lockedRow is a row from writeRow: Scan reads it, then ends the turn.
type lockedRow struct {
	row    scanner
	unlock func()
}

func (r lockedRow) Scan(dest ...any) error {
	defer r.unlock()
	return r.row.Scan(dest...)
}

func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return runner{s: s}.query(ctx, query, args...)
}

func (s *Store) queryRow(ctx context.Context, query string, args ...any) scanner {
	return runner{s: s}.queryRow(ctx, query, args...)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Prune deletes sessions, auth requests, refresh grants, revoked-family
// records, client assertion ids, login-failure counters, pending sign-ins,
// WebAuthn ceremonies and password-reset links that have expired at now, and logout notices
// whose deadline has passed, at most batch rows in all, and returns how
// many it deleted. Each table is pruned in one short transaction, so the
// write lock is never held for long; a caller that gets batch back should
// call again.
//
// A session expires when its ExpiresAt is at or before now. In the
// transaction that deletes it, Prune queues one back-channel logout notice
// (due at once, dropped after storage.LogoutNoticeTTL) for each of its
// Clients that still exists, is enabled and registered a
// backchannel_logout_uri: a session that times out is reported at the next
// Prune, just as one a person ends is reported by
// signout.QueueNotices. Transactions take the write lock when they
// begin, so of concurrent Prunes (or a Prune and a DeleteSession) only the
// one that deletes a session reports it. Notices are not counted in the
// result.
func (s *Store) Prune(ctx context.Context, now time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, fmt.Errorf("sqlite: prune: batch %d, want > 0", batch)
	}
	var e encoder
	n, deadline := e.time(now), e.time(now.Add(storage.LogoutNoticeTTL))
	if e.err != nil {
		return 0, fmt.Errorf("sqlite: prune: %w", e.err)
	}
	total, err := s.pruneSessions(ctx, n, deadline, batch)
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune sessions: %w", err)
	}
	for _, t := range []struct{ table, expiry string }{
		{"auth_requests", "expires_at"}, {"refresh_grants", "expires_at"},
		{"revoked_families", "expires_at"}, {"client_assertions", "expires_at"},
		{"logout_notices", "deadline"}, {"login_failures", "expires_at"},
		{"pending_sign_ins", "expires_at"}, {"webauthn_ceremonies", "expires_at"},
		{"initial_access_tokens", "expires_at"},
		{"password_resets", "expires_at"}, {"pushed_requests", "expires_at"},
		{"device_authorizations", "keep_until"}, {"dpop_proofs", "expires_at"},
	} {
		if total >= batch {
			break
		}
		res, err := s.exec(ctx, `DELETE FROM `+t.table+` WHERE rowid IN (
			SELECT rowid FROM `+t.table+` WHERE `+t.expiry+` IS NULL OR `+t.expiry+` <= ? LIMIT ?)`,
			n, batch-total)
		if err != nil {
			return total, fmt.Errorf("sqlite: prune %s: %w", t.table, err)
		}
		deleted, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlite: prune %s: %w", t.table, err)
		}
		total += int(deleted)
	}
	if total < batch {
		// A rotated token's kept answer (about 2 KB) is only replayed
		// within its grace window; after it, reuse detection needs only
		// the hash, so the bytes go.
		res, err := s.exec(ctx, `UPDATE refresh_grants SET replay = NULL, replay_until = NULL WHERE rowid IN (
			SELECT rowid FROM refresh_grants WHERE replay IS NOT NULL AND replay_until <= ? LIMIT ?)`,
			n, batch-total)
		if err != nil {
			return total, fmt.Errorf("sqlite: prune refresh replays: %w", err)
		}
		cleared, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("sqlite: prune refresh replays: %w", err)
		}
		total += int(cleared)
	}
	return total, nil
}

// pruneSessions deletes up to limit sessions expired at now (encoded) and
// queues their back-channel logout notices, due at now and dropped at
// deadline, in one write transaction, and returns how many sessions it
// deleted. The batch is fixed by rowid first, so the notices and the
// delete cover the same sessions.
func (s *Store) pruneSessions(ctx context.Context, now, deadline any, limit int) (int, error) {
	in, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer in.end(ctx)
	rows, err := in.query(ctx, `SELECT rowid FROM sessions WHERE expires_at IS NULL OR expires_at <= ? LIMIT ?`,
		now, limit)
	if err != nil {
		return 0, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if len(ids) == 0 {
		return 0, nil
	}
	batch, err := json.Marshal(ids)
	if err != nil {
		return 0, err
	}
	// sessions.clients is a JSON array of client ids; one notice per
	// element that names an enabled client with a back-channel URI.
	if _, err := in.exec(ctx, `INSERT INTO logout_notices (id, client_id, user_id, session_id, created_at,
			deadline, attempts, next_attempt)
		SELECT lower(hex(randomblob(16))), c.id, s.user_id, s.id, ?1, ?2, 0, ?1
		FROM sessions s, json_each(s.clients) sc JOIN clients c ON c.id = sc.value
		WHERE s.rowid IN (SELECT value FROM json_each(?3))
			AND NOT c.disabled AND c.backchannel_logout_uri <> ''`,
		now, deadline, string(batch)); err != nil {
		return 0, fmt.Errorf("queue logout notices: %w", err)
	}
	res, err := in.exec(ctx, `DELETE FROM sessions WHERE rowid IN (SELECT value FROM json_each(?))`, string(batch))
	if err != nil {
		return 0, err
	}
	deleted, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if err := in.tx.Commit(); err != nil {
		return 0, err
	}
	return int(deleted), nil
}

// wrap translates a driver error into the storage sentinels, with op as
// context: no rows is ErrNotFound, a unique or primary key violation is
// ErrConflict, a foreign key violation (a second factor for a user that
// does not exist) ErrNotFound. Other errors are wrapped as they are.
func wrap(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: %s: %w", op, storage.ErrNotFound)
	}
	var se *msqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("sqlite: %s: %w: %w", op, storage.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("sqlite: %s: %w: %w", op, storage.ErrNotFound, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

// notFound is ErrNotFound with op as context.
func notFound(op string) error {
	return fmt.Errorf("sqlite: %s: %w", op, storage.ErrNotFound)
}

// encoder turns Go values into column values and keeps the first error, so
// that a statement's arguments can be built in one expression and checked
// once.
type encoder struct {
	err error
}

// time encodes t as Unix nanoseconds, or NULL for the zero time.
func (e *encoder) time(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
		if e.err == nil {
			e.err = fmt.Errorf("time %s is outside the years 1678 to 2262", t.Format(time.RFC3339))
		}
		return nil
	}
	return t.UnixNano()
}

// timePtr encodes a nil time as NULL.
func (e *encoder) timePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return e.time(*t)
}

// strings encodes a list as a JSON array; nil as JSON null, so that it
// decodes back to nil.
func (e *encoder) strings(list []string) string {
	b, err := json.Marshal(list)
	if err != nil && e.err == nil {
		e.err = err
	}
	return string(b)
}

// nullString encodes "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// blob encodes nil as an empty blob, for NOT NULL columns.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nullBlob encodes an empty or nil value as NULL, for nullable BLOB columns;
// it reads back as nil.
func nullBlob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// decoder turns column values back into Go values and keeps the first error.
type decoder struct {
	err error
}

func (d *decoder) time(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.Unix(0, n.Int64).UTC()
}

func (d *decoder) timePtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := d.time(n)
	return &t
}

func (d *decoder) strings(s string) []string {
	var list []string
	if err := json.Unmarshal([]byte(s), &list); err != nil && d.err == nil {
		d.err = fmt.Errorf("decode string list %q: %w", s, err)
	}
	return list
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}
