package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const logoutNoticeColumns = `id, client_id, user_id, session_id, created_at, deadline, attempts,
	next_attempt, last_error`

func scanLogoutNotice(row scanner) (*storage.LogoutNotice, error) {
	var (
		n                       storage.LogoutNotice
		created, deadline, next sql.NullInt64
	)
	err := row.Scan(&n.ID, &n.ClientID, &n.UserID, &n.SessionID, &created, &deadline, &n.Attempts, &next, &n.LastError)
	if err != nil {
		return nil, err
	}
	var d decoder
	n.CreatedAt = d.time(created)
	n.Deadline = d.time(deadline)
	n.NextAttempt = d.time(next)
	return &n, d.err
}

// EnqueueLogoutNotices inserts the notices in one write transaction;
// ErrConflict if an id exists, and then none is inserted.
func (s *Store) EnqueueLogoutNotices(ctx context.Context, notices []storage.LogoutNotice) error {
	const op = "enqueue logout notices"
	if len(notices) == 0 {
		return nil
	}
	args := make([][]any, len(notices))
	var e encoder
	for i, n := range notices {
		args[i] = []any{n.ID, n.ClientID, n.UserID, n.SessionID, e.time(n.CreatedAt), e.time(n.Deadline),
			n.Attempts, e.time(n.NextAttempt), n.LastError}
	}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer in.end(ctx)
	for i := range args {
		if _, err := in.exec(ctx, `INSERT INTO logout_notices (`+logoutNoticeColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, args[i]...); err != nil {
			return wrap(op+" "+notices[i].ID, err)
		}
	}
	if err := in.tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// ClaimLogoutNotices returns up to n notices due at now (NextAttempt zero
// or not after now) whose Deadline is after now, oldest NextAttempt first
// (then by id), and moves their NextAttempt to now+lease, in one write
// transaction: SQLite's single writer keeps concurrent claimers from
// claiming one notice twice. The notices are returned as stored after the
// claim, NextAttempt included. n <= 0 claims nothing.
func (s *Store) ClaimLogoutNotices(ctx context.Context, now time.Time, lease time.Duration, n int) ([]storage.LogoutNotice, error) {
	const op = "claim logout notices"
	if n <= 0 {
		return nil, nil
	}
	var e encoder
	at, until := e.time(now), e.time(now.Add(lease))
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	in, err := s.begin(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer in.end(ctx)
	rows, err := in.query(ctx, `SELECT `+logoutNoticeColumns+` FROM logout_notices
		WHERE (next_attempt IS NULL OR next_attempt <= ?1) AND deadline > ?1
		ORDER BY next_attempt, id LIMIT ?2`, at, n)
	if err != nil {
		return nil, wrap(op, err)
	}
	var list []storage.LogoutNotice
	for rows.Next() {
		ln, err := scanLogoutNotice(rows)
		if err != nil {
			rows.Close()
			return nil, wrap(op, err)
		}
		list = append(list, *ln)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	for i := range list {
		if _, err := in.exec(ctx, `UPDATE logout_notices SET next_attempt = ? WHERE id = ?`, until, list[i].ID); err != nil {
			return nil, wrap(op, err)
		}
		list[i].NextAttempt = now.Add(lease).UTC()
	}
	if err := in.tx.Commit(); err != nil {
		return nil, wrap(op, err)
	}
	return list, nil
}

// RetryLogoutNotice overwrites Attempts, NextAttempt and LastError of the
// notice; ErrNotFound if it is gone.
func (s *Store) RetryLogoutNotice(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error {
	const op = "retry logout notice"
	var e encoder
	nx := e.time(next)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	res, err := s.exec(ctx, `UPDATE logout_notices SET attempts = ?, next_attempt = ?, last_error = ? WHERE id = ?`,
		attempts, nx, lastErr, id)
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(res, op)
}

// DeleteLogoutNotice removes the notice; absent is not an error.
func (s *Store) DeleteLogoutNotice(ctx context.Context, id string) error {
	if _, err := s.exec(ctx, `DELETE FROM logout_notices WHERE id = ?`, id); err != nil {
		return wrap("delete logout notice", err)
	}
	return nil
}
