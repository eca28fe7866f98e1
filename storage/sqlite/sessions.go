package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const sessionColumns = `id, user_id, auth_time, amr, user_agent, ip, created_at, last_seen, expires_at,
	absolute_expires_at, remember, clients`

// CreateSession inserts sess; ErrConflict if the id exists.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	var e encoder
	args := []any{sess.ID, sess.UserID, e.time(sess.AuthTime), e.strings(sess.AMR), sess.UserAgent, sess.IP,
		e.time(sess.CreatedAt), e.time(sess.LastSeen), e.time(sess.ExpiresAt),
		e.time(sess.AbsoluteExpiresAt), sess.Remember, e.strings(sess.Clients)}
	if e.err != nil {
		return fmt.Errorf("sqlite: create session: %w", e.err)
	}
	_, err := s.exec(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	if err != nil {
		return wrap("create session", err)
	}
	return nil
}

// Session returns the session if it exists and now is before ExpiresAt;
// otherwise ErrNotFound.
func (s *Store) Session(ctx context.Context, id string, now time.Time) (*storage.Session, error) {
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: session: %w", e.err)
	}
	rows, err := s.query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE id = ? AND expires_at > ?`, id, n)
	if err != nil {
		return nil, wrap("session", err)
	}
	list, err := scanSessions(rows)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, notFound("session")
	}
	return &list[0], nil
}

// UpdateSession overwrites LastSeen, IP, UserAgent, Clients and ExpiresAt
// of the session sess.ID if it is live at now, in one statement. The new
// ExpiresAt is capped at the stored AbsoluteExpiresAt, or, for a session
// stored without one, at its stored ExpiresAt (which can then only
// shrink). ErrNotFound if the session is gone or expired at now: an update
// never recreates a session.
func (s *Store) UpdateSession(ctx context.Context, sess *storage.Session, now time.Time) error {
	const op = "update session"
	var e encoder
	args := []any{e.time(sess.LastSeen), sess.IP, sess.UserAgent, e.strings(sess.Clients),
		e.time(sess.ExpiresAt), sess.ID, e.time(now)}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	// In an UPDATE, expires_at on the right-hand side is the stored value.
	// A NULL new expiry compares as unknown and is stored: never live.
	res, err := s.exec(ctx, `UPDATE sessions SET last_seen = ?1, ip = ?2, user_agent = ?3, clients = ?4,
		expires_at = CASE WHEN ?5 > coalesce(absolute_expires_at, expires_at)
			THEN coalesce(absolute_expires_at, expires_at) ELSE ?5 END
		WHERE id = ?6 AND expires_at > ?7`, args...)
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(res, op)
}

// AuthenticateSession sets AuthTime and AMR of the session id if it is
// live at now, in one statement; every other field keeps its value.
// ErrNotFound if the session is gone or expired at now.
func (s *Store) AuthenticateSession(ctx context.Context, id string, authTime time.Time, amr []string, now time.Time) error {
	const op = "authenticate session"
	var e encoder
	args := []any{e.time(authTime), e.strings(amr), id, e.time(now)}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	res, err := s.exec(ctx, `UPDATE sessions SET auth_time = ?, amr = ? WHERE id = ? AND expires_at > ?`, args...)
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(res, op)
}

// scanSessions reads and closes rows of sessionColumns.
func scanSessions(rows *sql.Rows) ([]storage.Session, error) {
	defer rows.Close()
	var list []storage.Session
	for rows.Next() {
		var (
			sess                             storage.Session
			amr, clients                     string
			authTime, created, seen, expires sql.NullInt64
			absolute                         sql.NullInt64
		)
		if err := rows.Scan(&sess.ID, &sess.UserID, &authTime, &amr, &sess.UserAgent, &sess.IP, &created, &seen, &expires,
			&absolute, &sess.Remember, &clients); err != nil {
			return nil, wrap("scan session", err)
		}
		var d decoder
		sess.AuthTime = d.time(authTime)
		sess.AMR = d.strings(amr)
		sess.CreatedAt = d.time(created)
		sess.LastSeen = d.time(seen)
		sess.ExpiresAt = d.time(expires)
		sess.AbsoluteExpiresAt = d.time(absolute)
		sess.Clients = d.strings(clients)
		if d.err != nil {
			return nil, fmt.Errorf("sqlite: session: %w", d.err)
		}
		list = append(list, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("scan sessions", err)
	}
	return list, nil
}

// UserSessions returns the user's live sessions, oldest first, through the
// index on user_id.
func (s *Store) UserSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: user sessions: %w", e.err)
	}
	rows, err := s.query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = ? AND expires_at > ? ORDER BY created_at, id`, userID, n)
	if err != nil {
		return nil, wrap("user sessions", err)
	}
	return scanSessions(rows)
}

// DeleteUserSessions removes every session of the user, live or expired,
// and returns them ordered by CreatedAt then ID, in one statement.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) ([]storage.Session, error) {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return nil, wrap("delete user sessions", err)
	}
	defer unlock()
	rows, err := s.query(ctx, `DELETE FROM sessions WHERE user_id = ? RETURNING `+sessionColumns, userID)
	if err != nil {
		return nil, wrap("delete user sessions", err)
	}
	list, err := scanSessions(rows)
	if err != nil {
		return nil, err
	}
	sortSessions(list)
	return list, nil
}

// DeleteSession removes the session and returns what it held, or (nil,
// nil) if there was none. One statement (DELETE ... RETURNING) under the
// write lock, so of concurrent deletes exactly one gets the session.
func (s *Store) DeleteSession(ctx context.Context, id string) (*storage.Session, error) {
	unlock, err := s.lockWrites(ctx)
	if err != nil {
		return nil, wrap("delete session", err)
	}
	defer unlock()
	rows, err := s.query(ctx, `DELETE FROM sessions WHERE id = ? RETURNING `+sessionColumns, id)
	if err != nil {
		return nil, wrap("delete session", err)
	}
	list, err := scanSessions(rows)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return &list[0], nil
}

// sortSessions orders sessions by CreatedAt, then ID: RETURNING rows come
// in no defined order.
func sortSessions(list []storage.Session) {
	slices.SortFunc(list, func(a, b storage.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
}

// ActiveSessions returns how many sessions are live at now. One count on
// the expires_at index (sessions_expires_at): its cost grows with the
// number of live sessions, so the metrics that call it read it at most
// every 10 s.
func (s *Store) ActiveSessions(ctx context.Context, now time.Time) (int64, error) {
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return 0, fmt.Errorf("sqlite: active sessions: %w", e.err)
	}
	var count int64
	if err := s.queryRow(ctx, `SELECT count(*) FROM sessions WHERE expires_at > ?`, n).Scan(&count); err != nil {
		return 0, wrap("active sessions", err)
	}
	return count, nil
}
