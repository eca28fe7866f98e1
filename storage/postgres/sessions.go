package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const sessionColumns = `id, user_id, auth_time, amr, user_agent, ip, created_at, last_seen, expires_at`

// CreateSession inserts sess; ErrConflict if the id exists.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		sess.ID, sess.UserID, ts(sess.AuthTime), list(sess.AMR), sess.UserAgent, sess.IP,
		ts(sess.CreatedAt), ts(sess.LastSeen), ts(sess.ExpiresAt))
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

func scanSession(row scanner) (*storage.Session, error) {
	var (
		sess                             storage.Session
		authTime, created, seen, expires pgtype.Timestamptz
	)
	err := row.Scan(&sess.ID, &sess.UserID, &authTime, &sess.AMR, &sess.UserAgent, &sess.IP,
		&created, &seen, &expires)
	if err != nil {
		return nil, err
	}
	sess.AuthTime = timeOf(authTime)
	sess.CreatedAt = timeOf(created)
	sess.LastSeen = timeOf(seen)
	sess.ExpiresAt = timeOf(expires)
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
// and returns how many it removed.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
	if err != nil {
		return 0, wrap("delete user sessions", err)
	}
	return int(tag.RowsAffected()), nil
}

// DeleteSession removes the session; deleting an absent one is not an error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id = $1`, id); err != nil {
		return wrap("delete session", err)
	}
	return nil
}
