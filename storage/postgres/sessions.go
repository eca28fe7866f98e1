package postgres

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const sessionColumns = `id, user_id, auth_time, amr, user_agent, ip, created_at, last_seen, expires_at,
	absolute_expires_at, remember, clients`

// CreateSession inserts sess; ErrConflict if the id exists.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		sess.ID, sess.UserID, ts(sess.AuthTime), list(sess.AMR), sess.UserAgent, sess.IP,
		ts(sess.CreatedAt), ts(sess.LastSeen), ts(sess.ExpiresAt),
		ts(sess.AbsoluteExpiresAt), sess.Remember, list(sess.Clients))
	if err != nil {
		return wrap("create session", err)
	}
	return nil
}

// Session returns the session if it exists and now is before ExpiresAt;
// otherwise ErrNotFound.
func (s *Store) Session(ctx context.Context, id string, now time.Time) (*storage.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	sess, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE id = $1 AND expires_at > $2`, id, ts(now)))
	if err != nil {
		return nil, wrap("session", err)
	}
	return sess, nil
}

// UpdateSession overwrites LastSeen, IP, UserAgent, Clients and ExpiresAt
// of the session sess.ID if it is live at now, in one statement. The new
// ExpiresAt is capped at the stored AbsoluteExpiresAt, or, for a session
// stored without one, at its stored ExpiresAt (which can then only
// shrink). ErrNotFound if the session is gone or expired at now: an update
// never recreates a session.
func (s *Store) UpdateSession(ctx context.Context, sess *storage.Session, now time.Time) error {
	const op = "update session"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// In an UPDATE, expires_at on the right-hand side is the stored value.
	// A NULL new expiry compares as unknown and is stored: never live.
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen = $1, ip = $2, user_agent = $3, clients = $4,
		expires_at = CASE WHEN $5::timestamptz > coalesce(absolute_expires_at, expires_at)
			THEN coalesce(absolute_expires_at, expires_at) ELSE $5::timestamptz END
		WHERE id = $6 AND expires_at > $7`,
		ts(sess.LastSeen), sess.IP, sess.UserAgent, list(sess.Clients), ts(sess.ExpiresAt), sess.ID, ts(now))
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(tag, op)
}

// AuthenticateSession sets AuthTime and AMR of the session id if it is
// live at now, in one statement; every other field keeps its value.
// ErrNotFound if the session is gone or expired at now.
func (s *Store) AuthenticateSession(ctx context.Context, id string, authTime time.Time, amr []string, now time.Time) error {
	const op = "authenticate session"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET auth_time = $1, amr = $2 WHERE id = $3 AND expires_at > $4`,
		ts(authTime), list(amr), id, ts(now))
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(tag, op)
}

func scanSession(row scanner) (*storage.Session, error) {
	var (
		sess                             storage.Session
		authTime, created, seen, expires pgtype.Timestamptz
		absolute                         pgtype.Timestamptz
	)
	err := row.Scan(&sess.ID, &sess.UserID, &authTime, &sess.AMR, &sess.UserAgent, &sess.IP,
		&created, &seen, &expires, &absolute, &sess.Remember, &sess.Clients)
	if err != nil {
		return nil, err
	}
	sess.AuthTime = timeOf(authTime)
	sess.CreatedAt = timeOf(created)
	sess.LastSeen = timeOf(seen)
	sess.ExpiresAt = timeOf(expires)
	sess.AbsoluteExpiresAt = timeOf(absolute)
	return &sess, nil
}

// UserSessions returns the user's live sessions at now, oldest first (then
// by id), through the index on user_id.
func (s *Store) UserSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at NULLS FIRST, id`, userID, ts(now))
	if err != nil {
		return nil, wrap("user sessions", err)
	}
	return scanSessions(rows)
}

// scanSessions reads and closes rows of sessionColumns.
func scanSessions(rows pgx.Rows) ([]storage.Session, error) {
	defer rows.Close()
	var list []storage.Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, wrap("scan session", err)
		}
		list = append(list, *sess)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("scan sessions", err)
	}
	return list, nil
}

// DeleteUserSessions removes every session of the user, live or expired,
// and returns them ordered by CreatedAt then ID, in one statement.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) ([]storage.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `DELETE FROM sessions WHERE user_id = $1 RETURNING `+sessionColumns, userID)
	if err != nil {
		return nil, wrap("delete user sessions", err)
	}
	list, err := scanSessions(rows)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(list, func(a, b storage.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}

// DeleteSession removes the session and returns what it held, or (nil,
// nil) if there was none. One statement (DELETE ... RETURNING): of
// concurrent deletes, the others wait for the first one's row lock and
// then find the row gone.
func (s *Store) DeleteSession(ctx context.Context, id string) (*storage.Session, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `DELETE FROM sessions WHERE id = $1 RETURNING `+sessionColumns, id)
	if err != nil {
		return nil, wrap("delete session", err)
	}
	list, err := scanSessions(rows)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return &list[0], nil
}

// ActiveSessions returns how many sessions are live at now. One count on
// the expires_at index (sessions_expires_at): its cost grows with the
// number of live sessions, so the metrics that call it read it at most
// every 10 s.
func (s *Store) ActiveSessions(ctx context.Context, now time.Time) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE expires_at > $1`, ts(now)).Scan(&n); err != nil {
		return 0, wrap("active sessions", err)
	}
	return n, nil
}
