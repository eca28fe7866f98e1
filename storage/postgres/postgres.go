// Package postgres is Gatehouse's production storage backend: every store
// in one Postgres database, through pgx v5 and its connection pool.
//
// The schema is created and upgraded by Migrate (the `gatehouse migrate`
// command), from migrations embedded in the binary; Open never migrates, it
// refuses a database whose schema is older than this binary needs. Tables
// live in the first schema of the DSN's search_path, so one database can
// hold several Gatehouse installations (tests use one schema each).
//
// Times are stored as timestamptz, which keeps microseconds: a time's
// sub-microsecond part is dropped on the way in (the now argument of every
// method included, which is exact for expiry checks since stored times are
// whole microseconds). The zero time is stored as NULL. String lists are
// text[]. Postgres text cannot hold NUL bytes or invalid UTF-8, so strings
// with either are refused with an error.
//
// Statements run in pgx's default mode, QueryExecModeCacheStatement: each
// pooled connection prepares a statement (by name, on the server) the first
// time it runs it and then reuses it, up to pgx's 512 statements per
// connection; Gatehouse's statement texts are a small, bounded set, so the
// cache never churns. Nothing here changes the mode. A DSN may
// (default_query_exec_mode, statement_cache_capacity), for a connection
// pooler that cannot keep prepared statements; each statement is then
// planned again on every call.
//
// Every method bounds its work with Options.Timeout, so a server that stops
// answering fails a call instead of hanging it. Driver errors are translated
// at this edge: no rows is storage.ErrNotFound, a unique violation
// storage.ErrConflict; everything else is wrapped as it is.
//
// Expired sessions, auth requests, refresh grants, pending sign-ins and
// WebAuthn ceremonies are never returned, but stay in the database until
// Prune deletes them; so do revoked-family records (FamilyRevoked reports
// them until then), logout notices past their deadline and expired
// login-failure counters.
//
// A user's second factors (TOTP generator, recovery codes), passkeys,
// password-reset links and group memberships go with the user: their tables reference users with ON
// DELETE CASCADE. A group's memberships go with the group the same way.
//
// Audit events are kept until PruneAudit deletes them (the server prunes
// those older than its audit_retention).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

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

// Defaults for the zero fields of Options.
const (
	DefaultMaxConns = 20
	DefaultTimeout  = 3 * time.Second
)

// Options tune a Store. The zero value is usable: every zero field takes its
// default.
type Options struct {
	// MaxConns bounds the connection pool (default DefaultMaxConns). It
	// overrides a pool_max_conns given in the DSN.
	MaxConns int32
	// Timeout bounds every call to the store, transactions included, and
	// each step of Open (default DefaultTimeout).
	Timeout time.Duration
	// Observer, when set, is told of every statement and batch the store
	// runs (backend "postgres", op the statement's first keyword or
	// "batch").
	Observer storage.CallObserver
}

// Store holds every Gatehouse store in one Postgres database. It is safe for
// concurrent use. Create it with Open and release it with Close.
type Store struct {
	pool    *pgxpool.Pool
	timeout time.Duration
}

// Open connects to the database at dsn (a postgres:// URL or a keyword/value
// string, as pgx accepts), checks that it answers and that its schema is the
// one this binary needs, and returns the store. It never migrates: a schema
// that is missing or older fails with an error saying to run `gatehouse
// migrate`. A newer schema is accepted, so that instances of the previous
// release keep running while a rolling upgrade is under way. Each step is
// bounded by opts.Timeout as well as by ctx. Errors never include the DSN,
// which may hold a password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	if opts.Observer != nil {
		cfg.ConnConfig.Tracer = tracer{opts.Observer}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{pool: pool, timeout: opts.Timeout}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := s.checkSchema(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return s, nil
}

// Reachable connects to the database at dsn once, outside any pool, and
// checks that it answers, all within ctx. Run it before Migrate, which waits
// as long as its context lets it, to tell a database that is not there or
// not answering from a migration that takes long. Errors never include the
// DSN's password.
func Reachable(ctx context.Context, dsn string) error {
	cfg, err := pgxpool.ParseConfig(dsn) // strips pool_* settings, as Migrate does
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return fmt.Errorf("postgres: connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if err := conn.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// checkSchema fails unless the database's schema is at least at the latest
// embedded migration.
func (s *Store) checkSchema(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	want, err := latestVersion()
	if err != nil {
		return err
	}
	var (
		have   int64
		exists bool
	)
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('`+versionTable+`') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if exists {
		err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version_id), 0) FROM `+versionTable+` WHERE is_applied`).Scan(&have)
		if err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
	}
	if have < want {
		return fmt.Errorf("database schema is at version %d, this Gatehouse needs %d: run `gatehouse migrate`", have, want)
	}
	return nil
}

// latestVersion returns the version of the newest embedded migration, from
// its file name (goose's NNNNN_name.sql).
func latestVersion() (int64, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return 0, fmt.Errorf("embedded migrations: %w", err)
	}
	var latest int64
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		digits, _, _ := strings.Cut(base, "_")
		v, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("embedded migration %s: no version number", base)
		}
		latest = max(latest, v)
	}
	return latest, nil
}

// Close closes every connection of the pool, waiting for calls in flight to
// return theirs. Calls after Close fail. A connection whose call timed out
// against a server that stopped answering is given up to 15 seconds (pgx's
// bound) to close cleanly, and Close waits for that.
func (s *Store) Close() { s.pool.Close() }

// Ping reports whether the database answers, within the store's timeout.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Prune deletes sessions, auth requests, refresh grants, revoked-family
// records, client assertion ids, login-failure counters, pending sign-ins,
// WebAuthn ceremonies and password-reset links that have expired at now (used and revoked
// refresh grants are kept until they expire), and logout notices whose
// deadline has passed, at most batch rows in all, and returns how many it
// deleted. Each table is pruned in one short statement that skips rows
// other transactions hold locked, so concurrent Prunes on several
// instances do not queue behind each other; a caller that gets batch back
// should call again.
//
// A session expires when its ExpiresAt is at or before now. The statement
// that deletes it also queues one back-channel logout notice (due at once,
// dropped after storage.LogoutNoticeTTL) for each of its Clients that still
// exists, is enabled and registered a backchannel_logout_uri: a session
// that times out is reported at the next Prune, just as one a person ends
// is reported by signout.QueueNotices. The notices are made from the
// rows the delete returns, so of concurrent Prunes (or a Prune and a
// DeleteSession) only the one that deletes a session reports it. Notices
// are not counted in the result.
func (s *Store) Prune(ctx context.Context, now time.Time, batch int) (int, error) {
	if batch <= 0 {
		return 0, fmt.Errorf("postgres: prune: batch %d, want > 0", batch)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	n := ts(now)
	// The notice id is 122 random bits (a version 4 UUID, from the
	// server's strong random source) in unpadded base64url.
	var total int
	err := s.pool.QueryRow(ctx, `WITH ended AS (
			DELETE FROM sessions WHERE id IN (
				SELECT id FROM sessions WHERE expires_at IS NULL OR expires_at <= $1
				LIMIT $2 FOR UPDATE SKIP LOCKED)
			RETURNING id, user_id, clients
		), queued AS (
			INSERT INTO logout_notices (id, client_id, user_id, session_id, created_at, deadline,
				attempts, next_attempt)
			SELECT rtrim(translate(encode(uuid_send(gen_random_uuid()), 'base64'), '+/', '-_'), '='),
				c.id, e.user_id, e.id, $1, $3, 0, $1
			FROM ended e CROSS JOIN LATERAL unnest(e.clients) AS sc(client_id)
				JOIN clients c ON c.id = sc.client_id
			WHERE NOT c.disabled AND c.backchannel_logout_uri <> ''
		)
		SELECT count(*) FROM ended`, n, batch, ts(now.Add(storage.LogoutNoticeTTL))).Scan(&total)
	if err != nil {
		return 0, wrap("prune sessions", err)
	}
	for _, t := range []struct{ table, key, cols, expiry string }{
		{"auth_requests", "id", "id", "expires_at"},
		{"refresh_grants", "token_hash", "token_hash", "expires_at"}, {"revoked_families", "id", "id", "expires_at"},
		{"client_assertions", "(client_id, jti)", "client_id, jti", "expires_at"},
		{"logout_notices", "id", "id", "deadline"}, {"login_failures", "key", "key", "expires_at"},
		{"pending_sign_ins", "id", "id", "expires_at"}, {"webauthn_ceremonies", "id", "id", "expires_at"},
		{"initial_access_tokens", "id", "id", "expires_at"},
		{"password_resets", "id", "id", "expires_at"}, {"pushed_requests", "id", "id", "expires_at"},
		{"device_authorizations", "device_code_hash", "device_code_hash", "keep_until"},
		{"dpop_proofs", "(jkt, jti)", "jkt, jti", "expires_at"},
	} {
		if total >= batch {
			break
		}
		tag, err := s.pool.Exec(ctx, `DELETE FROM `+t.table+` WHERE `+t.key+` IN (
			SELECT `+t.cols+` FROM `+t.table+` WHERE `+t.expiry+` IS NULL OR `+t.expiry+` <= $1
			LIMIT $2 FOR UPDATE SKIP LOCKED)`, n, batch-total)
		if err != nil {
			return total, wrap("prune "+t.table, err)
		}
		total += int(tag.RowsAffected())
	}
	if total < batch {
		// A rotated token's kept answer (about 2 KB) is only replayed
		// within its grace window; after it, reuse detection needs only
		// the hash, so the bytes go.
		tag, err := s.pool.Exec(ctx, `UPDATE refresh_grants SET replay = NULL, replay_until = NULL WHERE token_hash IN (
			SELECT token_hash FROM refresh_grants WHERE replay IS NOT NULL AND replay_until <= $1
			LIMIT $2 FOR UPDATE SKIP LOCKED)`, n, batch-total)
		if err != nil {
			return total, wrap("prune refresh replays", err)
		}
		total += int(tag.RowsAffected())
	}
	return total, nil
}

// bound returns ctx limited by the store's timeout.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// querier is what the pool and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// SQLSTATEs wrap translates.
const (
	uniqueViolation     = "23505" // a unique or primary key violation
	foreignKeyViolation = "23503"
)

// wrap translates a driver error into the storage sentinels, with op as
// context: no rows is ErrNotFound, a unique violation is ErrConflict, a
// foreign key violation (a second factor for a user that does not exist)
// ErrNotFound. Other errors, a timeout included, are wrapped as they are.
func wrap(op string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound(op)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == uniqueViolation {
		return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrConflict, err)
	}
	if errors.As(err, &pe) && pe.Code == foreignKeyViolation {
		return fmt.Errorf("postgres: %s: %w: %w", op, storage.ErrNotFound, err)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// notFound is ErrNotFound with op as context.
func notFound(op string) error {
	return fmt.Errorf("postgres: %s: %w", op, storage.ErrNotFound)
}

// ts encodes t as a timestamptz, NULL for the zero time. The sub-microsecond
// part is dropped (rounding down, as pgx would), which keeps "now is before
// expiry" exact against stored whole microseconds.
func ts(t time.Time) pgtype.Timestamptz {
	if t.IsZero() {
		return pgtype.Timestamptz{}
	}
	return pgtype.Timestamptz{Time: t.Truncate(time.Microsecond), Valid: true}
}

// tsPtr encodes a nil time as NULL.
func tsPtr(t *time.Time) pgtype.Timestamptz {
	if t == nil {
		return pgtype.Timestamptz{}
	}
	return ts(*t)
}

// timeOf decodes a timestamptz, NULL as the zero time, in UTC.
func timeOf(v pgtype.Timestamptz) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return v.Time.UTC()
}

// timePtrOf decodes a NULL timestamptz as nil.
func timePtrOf(v pgtype.Timestamptz) *time.Time {
	if !v.Valid {
		return nil
	}
	t := v.Time.UTC()
	return &t
}

// list encodes nil as an empty list, for NOT NULL text[] columns.
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// blob encodes nil as an empty bytea, for NOT NULL columns.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// nullBlob encodes an empty or nil value as NULL, for nullable bytea
// columns; it reads back as nil.
func nullBlob(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nullString encodes "" as NULL.
func nullString(s string) pgtype.Text {
	return pgtype.Text{String: s, Valid: s != ""}
}
