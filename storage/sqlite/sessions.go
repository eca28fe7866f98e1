package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const sessionColumns = `id, user_id, auth_time, amr, user_agent, ip, created_at, last_seen, expires_at`

// CreateSession inserts sess; ErrConflict if the id exists.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	var e encoder
	args := []any{sess.ID, sess.UserID, e.time(sess.AuthTime), e.strings(sess.AMR), sess.UserAgent, sess.IP,
		e.time(sess.CreatedAt), e.time(sess.LastSeen), e.time(sess.ExpiresAt)}
	if e.err != nil {
		return fmt.Errorf("sqlite: create session: %w", e.err)
	}
	_, err := s.exec(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
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

// scanSessions reads and closes rows of sessionColumns.
func scanSessions(rows *sql.Rows) ([]storage.Session, error) {
	defer rows.Close()
	var list []storage.Session
	for rows.Next() {
		var (
			sess                             storage.Session
			amr                              string
			authTime, created, seen, expires sql.NullInt64
		)
		if err := rows.Scan(&sess.ID, &sess.UserID, &authTime, &amr, &sess.UserAgent, &sess.IP, &created, &seen, &expires); err != nil {
			return nil, wrap("scan session", err)
		}
		var d decoder
		sess.AuthTime = d.time(authTime)
		sess.AMR = d.strings(amr)
		sess.CreatedAt = d.time(created)
		sess.LastSeen = d.time(seen)
		sess.ExpiresAt = d.time(expires)
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

// DeleteUserSessions removes every session of the user.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
	if err != nil {
		return 0, wrap("delete user sessions", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap("delete user sessions", err)
	}
	return int(n), nil
}

// DeleteSession removes the session; deleting an absent one is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if _, err := s.exec(ctx, `DELETE FROM sessions WHERE id = ?`, id); err != nil {
		return wrap("delete session", err)
	}
	return nil
}
