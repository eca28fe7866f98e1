package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const passwordResetColumns = `id, user_id, password_stamp, created_at, expires_at`

// CreatePasswordReset stores p; ErrConflict if the id exists, ErrNotFound
// if the user does not (the foreign key).
func (s *Store) CreatePasswordReset(ctx context.Context, p *storage.PasswordReset) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO password_resets (`+passwordResetColumns+`) VALUES ($1, $2, $3, $4, $5)`,
		p.ID, p.UserID, p.PasswordStamp, ts(p.CreatedAt), ts(p.ExpiresAt))
	if err != nil {
		return wrap("create password reset", err)
	}
	return nil
}

// PasswordReset returns p if it exists and now is before its ExpiresAt;
// otherwise ErrNotFound.
func (s *Store) PasswordReset(ctx context.Context, id string, now time.Time) (*storage.PasswordReset, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	p, err := scanPasswordReset(s.pool.QueryRow(ctx, `SELECT `+passwordResetColumns+` FROM password_resets
		WHERE id = $1 AND expires_at > $2`, id, ts(now)))
	if err != nil {
		return nil, wrap("password reset", err)
	}
	return p, nil
}

// TakePasswordReset deletes the live p and returns it, in one statement
// (DELETE ... RETURNING): of concurrent takes the others wait for the
// first one's row lock, then find the row gone. An expired one is left for
// Prune.
func (s *Store) TakePasswordReset(ctx context.Context, id string, now time.Time) (*storage.PasswordReset, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	p, err := scanPasswordReset(s.pool.QueryRow(ctx, `DELETE FROM password_resets
		WHERE id = $1 AND expires_at > $2 RETURNING `+passwordResetColumns, id, ts(now)))
	if err != nil {
		return nil, wrap("take password reset", err)
	}
	return p, nil
}

// DeleteUserPasswordResets removes every link of the user and returns how
// many there were.
func (s *Store) DeleteUserPasswordResets(ctx context.Context, userID string) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM password_resets WHERE user_id = $1`, userID)
	if err != nil {
		return 0, wrap("delete user password resets", err)
	}
	return int(tag.RowsAffected()), nil
}

// UsersByEmail returns the users whose email equals email ignoring ASCII
// case (lower under the "C" collation, the users_email index), ordered by
// username byte for byte; none for "".
func (s *Store) UsersByEmail(ctx context.Context, email string) ([]storage.User, error) {
	return s.queryUsers(ctx, "users by email", `SELECT `+userColumns+` FROM users
		WHERE lower(email COLLATE "C") = lower($1::text COLLATE "C") AND email <> '' ORDER BY username`, email)
}

func scanPasswordReset(row pgx.Row) (*storage.PasswordReset, error) {
	var (
		p                storage.PasswordReset
		created, expires pgtype.Timestamptz
	)
	if err := row.Scan(&p.ID, &p.UserID, &p.PasswordStamp, &created, &expires); err != nil {
		return nil, err
	}
	p.CreatedAt, p.ExpiresAt = timeOf(created), timeOf(expires)
	return &p, nil
}
