package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const userColumns = `id, username, email, email_verified, name, password_hash,
	disabled, created_at, updated_at`

func scanUser(row scanner) (*storage.User, error) {
	var (
		u                storage.User
		created, updated sql.NullInt64
	)
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.EmailVerified, &u.Name, &u.PasswordHash,
		&u.Disabled, &created, &updated)
	if err != nil {
		return nil, err
	}
	var d decoder
	u.CreatedAt = d.time(created)
	u.UpdatedAt = d.time(updated)
	return &u, d.err
}

// CreateUser inserts u; ErrConflict if the id or username is taken.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	var e encoder
	args := []any{u.ID, u.Username, u.Email, u.EmailVerified, u.Name, u.PasswordHash,
		u.Disabled, e.time(u.CreatedAt), e.time(u.UpdatedAt)}
	if e.err != nil {
		return fmt.Errorf("sqlite: create user %s: %w", u.ID, e.err)
	}
	_, err := s.exec(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
	if err != nil {
		return wrap("create user "+u.ID, err)
	}
	return nil
}

// UserByID returns the user (disabled ones too), or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (*storage.User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, wrap("user "+id, err)
	}
	return u, nil
}

// UserByUsername returns the user (disabled ones too), or ErrNotFound. The
// lookup is exact: byte for byte, case included.
func (s *Store) UserByUsername(ctx context.Context, username string) (*storage.User, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE username = ?`, username))
	if err != nil {
		return nil, wrap("user by username", err)
	}
	return u, nil
}

// ListUsers returns every user ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	return s.queryUsers(ctx, "list users", `SELECT `+userColumns+` FROM users ORDER BY username`)
}

// queryUsers reads the users a query selects (its columns userColumns).
func (s *Store) queryUsers(ctx context.Context, op, query string, args ...any) ([]storage.User, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []storage.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, *u)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// UpdateUser overwrites email, email-verified, name, password hash, disabled
// and updated-at of the user with u.ID; ErrNotFound if absent. The id,
// username and created-at never change.
func (s *Store) UpdateUser(ctx context.Context, u *storage.User) error {
	var e encoder
	updated := e.time(u.UpdatedAt)
	if e.err != nil {
		return fmt.Errorf("sqlite: update user %s: %w", u.ID, e.err)
	}
	res, err := s.exec(ctx, `UPDATE users SET email = ?, email_verified = ?, name = ?,
		password_hash = ?, disabled = ?, updated_at = ? WHERE id = ?`,
		u.Email, u.EmailVerified, u.Name, u.PasswordHash, u.Disabled, updated, u.ID)
	if err != nil {
		return wrap("update user "+u.ID, err)
	}
	return oneRow(res, "update user "+u.ID)
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, wrap("count users", err)
	}
	return n, nil
}

// DeleteUser deletes the user's consents, refresh grants and then the user,
// in one write transaction, and reports whether the user existed. Every
// grant of a family carries the family's user, so deleting the user's
// grants removes each of their families whole, the kept answers (replay)
// of rotated grants with them. The second factors, passkeys and group
// memberships go with the user row (ON DELETE CASCADE; foreign keys are on,
// see connParams). Kept: audit events, sessions, pending sign-ins, logout
// notices (the sessions' applications still have to be told), and
// revoked-family records, which hold no more than a family id and stop the
// access tokens those families issued until Prune deletes them. The write lock orders it with
// rotations: none can add a grant to the user's families after the delete.
func (s *Store) DeleteUser(ctx context.Context, id string) (bool, error) {
	op := "delete user " + id
	in, err := s.begin(ctx)
	if err != nil {
		return false, wrap(op, err)
	}
	defer in.end(ctx)
	if _, err := in.exec(ctx, `DELETE FROM consents WHERE user_id = ?`, id); err != nil {
		return false, wrap(op+": consents", err)
	}
	if _, err := in.exec(ctx, `DELETE FROM refresh_grants WHERE user_id = ?`, id); err != nil {
		return false, wrap(op+": refresh grants", err)
	}
	res, err := in.exec(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return false, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(op, err)
	}
	if err := in.tx.Commit(); err != nil {
		return false, wrap(op, err)
	}
	return n > 0, nil
}

// oneRow returns ErrNotFound unless res affected a row.
func oneRow(res sql.Result, op string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// UpdateUserIfUnchanged is UpdateUser in one statement that also requires
// the stored updated_at to equal unchanged; ErrConflict when it differs,
// ErrNotFound when the user is absent.
func (s *Store) UpdateUserIfUnchanged(ctx context.Context, u *storage.User, unchanged time.Time) error {
	op := "update user " + u.ID + " if unchanged"
	var e encoder
	updated, was := e.time(u.UpdatedAt), e.time(unchanged)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	res, err := s.exec(ctx, `UPDATE users SET email = ?, email_verified = ?, name = ?,
		password_hash = ?, disabled = ?, updated_at = ? WHERE id = ? AND updated_at IS ?`,
		u.Email, u.EmailVerified, u.Name, u.PasswordHash, u.Disabled, updated, u.ID, was)
	if err != nil {
		return wrap(op, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrap(op, err)
	} else if n == 1 {
		return nil
	}
	var one int
	switch err := s.queryRow(ctx, `SELECT 1 FROM users WHERE id = ?`, u.ID).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return notFound(op)
	case err != nil:
		return wrap(op, err)
	}
	return fmt.Errorf("sqlite: %s: changed since: %w", op, storage.ErrConflict)
}

// UsersPage returns a page of users by username: see storage.UserPager.
func (s *Store) UsersPage(ctx context.Context, q storage.UserPageQuery) ([]storage.User, error) {
	needle := strings.ToLower(q.Contains)
	return s.queryUsers(ctx, "users page", `SELECT `+userColumns+` FROM users
		WHERE username > ?1 AND (?2 = '' OR instr(lower(username), ?2) > 0 OR instr(lower(name), ?2) > 0
			OR instr(lower(email), ?2) > 0)
		ORDER BY username LIMIT ?3`, q.After, needle, max(q.Limit, 1))
}
