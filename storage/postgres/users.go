package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

const userColumns = `id, username, email, email_verified, name, password_hash,
	disabled, created_at, updated_at`

func scanUser(row scanner) (*storage.User, error) {
	var (
		u                storage.User
		created, updated pgtype.Timestamptz
	)
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.EmailVerified, &u.Name, &u.PasswordHash,
		&u.Disabled, &created, &updated)
	if err != nil {
		return nil, err
	}
	u.CreatedAt = timeOf(created)
	u.UpdatedAt = timeOf(updated)
	return &u, nil
}

// CreateUser inserts u; ErrConflict if the id or username is taken.
func (s *Store) CreateUser(ctx context.Context, u *storage.User) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO users (`+userColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		u.ID, u.Username, u.Email, u.EmailVerified, u.Name, u.PasswordHash,
		u.Disabled, ts(u.CreatedAt), ts(u.UpdatedAt))
	if err != nil {
		return wrap("create user "+u.ID, err)
	}
	return nil
}

// UserByID returns the user (disabled ones too), or ErrNotFound.
func (s *Store) UserByID(ctx context.Context, id string) (*storage.User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return nil, wrap("user "+id, err)
	}
	return u, nil
}

// UserByUsername returns the user (disabled ones too), or ErrNotFound. The
// lookup is exact: byte for byte, case included.
func (s *Store) UserByUsername(ctx context.Context, username string) (*storage.User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE username = $1`, username))
	if err != nil {
		return nil, wrap("user by username", err)
	}
	return u, nil
}

// ListUsers returns every user ordered by username, byte for byte.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	return s.queryUsers(ctx, "list users", `SELECT `+userColumns+` FROM users ORDER BY username`)
}

// queryUsers reads the users a query selects (its columns userColumns),
// under the store's timeout.
func (s *Store) queryUsers(ctx context.Context, op, query string, args ...any) ([]storage.User, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, query, args...)
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
	op := "update user " + u.ID
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE users SET email = $1, email_verified = $2, name = $3,
		password_hash = $4, disabled = $5, updated_at = $6 WHERE id = $7`,
		u.Email, u.EmailVerified, u.Name, u.PasswordHash, u.Disabled, ts(u.UpdatedAt), u.ID)
	if err != nil {
		return wrap(op, err)
	}
	return oneRow(tag, op)
}

// CountUsers returns how many users exist.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM users`).Scan(&n); err != nil {
		return 0, wrap("count users", err)
	}
	return n, nil
}

// DeleteUser deletes the user's consents, refresh grants and then the user,
// in one transaction, and reports whether the user existed. Every grant of
// a family carries the family's user, so deleting the user's grants
// removes each of their families whole, the kept answers (replay) of
// rotated grants with them. The second factors, passkeys and group
// memberships go with the user row (ON DELETE CASCADE). Kept: audit
// events, sessions, pending sign-ins, logout notices (the sessions'
// applications still have to be told), and revoked-family records, which
// hold no more than a family id and stop the access tokens those families
// issued until Prune deletes them.
//
// It first takes the advisory lock (see RotateRefreshGrant) of every
// family that still has a grant to rotate, in ascending order as
// revokeFamilies does: a rotation that committed before is seen and its
// new grant deleted, one that waited finds its old grant gone. A family
// whose first grant is created concurrently may survive; the token
// endpoint refuses it, since the user is gone.
func (s *Store) DeleteUser(ctx context.Context, id string) (bool, error) {
	op := "delete user " + id
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, wrap(op, err)
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, `SELECT DISTINCT family_id FROM refresh_grants
		WHERE user_id = $1 AND used_at IS NULL AND revoked_at IS NULL ORDER BY family_id`, id)
	if err != nil {
		return false, wrap(op, err)
	}
	families, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return false, wrap(op, err)
	}
	var b pgx.Batch
	for _, f := range families {
		b.Queue(familyLock, f)
	}
	b.Queue(`DELETE FROM refresh_grants WHERE user_id = $1`, id)
	b.Queue(`DELETE FROM consents WHERE user_id = $1`, id)
	b.Queue(`DELETE FROM users WHERE id = $1`, id)
	br := tx.SendBatch(ctx, &b)
	var tag pgconn.CommandTag
	for range b.Len() {
		if tag, err = br.Exec(); err != nil {
			break
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return false, wrap(op, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, wrap(op, err)
	}
	return tag.RowsAffected() > 0, nil
}

// oneRow returns ErrNotFound unless the statement affected a row.
func oneRow(tag pgconn.CommandTag, op string) error {
	if tag.RowsAffected() == 0 {
		return notFound(op)
	}
	return nil
}

// UpdateUserIfUnchanged is UpdateUser in one statement that also requires
// the stored updated_at to equal unchanged; ErrConflict when it differs,
// ErrNotFound when the user is absent.
func (s *Store) UpdateUserIfUnchanged(ctx context.Context, u *storage.User, unchanged time.Time) error {
	op := "update user " + u.ID + " if unchanged"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE users SET email = $1, email_verified = $2, name = $3,
		password_hash = $4, disabled = $5, updated_at = $6 WHERE id = $7 AND updated_at IS NOT DISTINCT FROM $8`,
		u.Email, u.EmailVerified, u.Name, u.PasswordHash, u.Disabled, ts(u.UpdatedAt), u.ID, ts(unchanged))
	if err != nil {
		return wrap(op, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var one int
	switch err := s.pool.QueryRow(ctx, `SELECT 1 FROM users WHERE id = $1`, u.ID).Scan(&one); {
	case errors.Is(err, pgx.ErrNoRows):
		return notFound(op)
	case err != nil:
		return wrap(op, err)
	}
	return fmt.Errorf("postgres: %s: changed since: %w", op, storage.ErrConflict)
}

// UsersPage returns a page of users by username, byte for byte: see
// storage.UserPager.
func (s *Store) UsersPage(ctx context.Context, q storage.UserPageQuery) ([]storage.User, error) {
	return s.queryUsers(ctx, "users page", `SELECT `+userColumns+` FROM users
		WHERE username > $1 AND ($2 = '' OR strpos(lower(username), $2) > 0 OR strpos(lower(name), $2) > 0
			OR strpos(lower(email), $2) > 0)
		ORDER BY username LIMIT $3`, q.After, strings.ToLower(q.Contains), max(q.Limit, 1))
}
