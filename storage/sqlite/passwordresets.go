package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const passwordResetColumns = `id, user_id, password_stamp, created_at, expires_at`

// CreatePasswordReset stores p; ErrConflict if the id exists, ErrNotFound
// if the user does not (the foreign key).
func (s *Store) CreatePasswordReset(ctx context.Context, p *storage.PasswordReset) error {
	const op = "create password reset"
	var e encoder
	created, expires := e.time(p.CreatedAt), e.time(p.ExpiresAt)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	_, err := s.exec(ctx, `INSERT INTO password_resets (`+passwordResetColumns+`) VALUES (?, ?, ?, ?, ?)`,
		p.ID, p.UserID, p.PasswordStamp, created, expires)
	if err != nil {
		return wrap(op, err)
	}
	return nil
}

// PasswordReset returns p if it exists and now is before its ExpiresAt;
// otherwise ErrNotFound.
func (s *Store) PasswordReset(ctx context.Context, id string, now time.Time) (*storage.PasswordReset, error) {
	const op = "password reset"
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	p, err := scanPasswordReset(s.queryRow(ctx, `SELECT `+passwordResetColumns+` FROM password_resets
		WHERE id = ? AND expires_at > ?`, id, n))
	if err != nil {
		return nil, wrap(op, err)
	}
	return p, nil
}

// TakePasswordReset deletes the live p and returns it, in one statement
// (DELETE ... RETURNING) under the write lock: of concurrent takes exactly
// one gets it. An expired one is left for Prune.
func (s *Store) TakePasswordReset(ctx context.Context, id string, now time.Time) (*storage.PasswordReset, error) {
	const op = "take password reset"
	var e encoder
	n := e.time(now)
	if e.err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	p, err := scanPasswordReset(s.writeRow(ctx, `DELETE FROM password_resets
		WHERE id = ? AND expires_at > ? RETURNING `+passwordResetColumns, id, n))
	if err != nil {
		return nil, wrap(op, err)
	}
	return p, nil
}

// DeleteUserPasswordResets removes every link of the user and returns how
// many there were.
func (s *Store) DeleteUserPasswordResets(ctx context.Context, userID string) (int, error) {
	const op = "delete user password resets"
	res, err := s.exec(ctx, `DELETE FROM password_resets WHERE user_id = ?`, userID)
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(op, err)
	}
	return int(n), nil
}

// UsersByEmail returns the users whose email equals email ignoring ASCII
// case (NOCASE, the users_email index), ordered by username; none for "".
func (s *Store) UsersByEmail(ctx context.Context, email string) ([]storage.User, error) {
	return s.queryUsers(ctx, "users by email", `SELECT `+userColumns+` FROM users
		WHERE email = ? COLLATE NOCASE AND email <> '' ORDER BY username`, email)
}

func scanPasswordReset(row scanner) (*storage.PasswordReset, error) {
	var (
		p                storage.PasswordReset
		created, expires sql.NullInt64
	)
	if err := row.Scan(&p.ID, &p.UserID, &p.PasswordStamp, &created, &expires); err != nil {
		return nil, err
	}
	var d decoder
	p.CreatedAt, p.ExpiresAt = d.time(created), d.time(expires)
	if d.err != nil {
		return nil, d.err
	}
	return &p, nil
}
