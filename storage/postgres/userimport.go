package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// importRowsPerTimeout is how many users ImportUsers may write per store
// timeout: an import of n users is bounded by the timeout times
// 1 + n/importRowsPerTimeout (100,000 users take about a second, and
// are given 11 timeouts).
const importRowsPerTimeout = 10_000

// ReplacePasswordHash sets the password hash and updated-at of the user
// with that id, only while its hash is still oldHash, and reports whether
// it did.
func (s *Store) ReplacePasswordHash(ctx context.Context, id, oldHash, newHash string, updatedAt time.Time) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `UPDATE users SET password_hash = $1, updated_at = $2
		WHERE id = $3 AND password_hash = $4`, newHash, ts(updatedAt), id, oldHash)
	if err != nil {
		return false, wrap("replace password hash of "+id, err)
	}
	return tag.RowsAffected() > 0, nil
}

// ImportUsers stores the groups, the users and the memberships of imp in
// one transaction, each table by COPY (pgx CopyFrom). A constraint (a
// username or id taken, a membership naming nothing) fails its COPY, and
// the transaction is rolled back. The call is bounded by the store's
// timeout once per importRowsPerTimeout users, and once more.
func (s *Store) ImportUsers(ctx context.Context, imp storage.UserImport) error {
	const op = "import users"
	if len(imp.Users) == 0 && len(imp.Groups) == 0 && len(imp.Members) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout*time.Duration(1+len(imp.Users)/importRowsPerTimeout))
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback(ctx)
	err = copyRows(ctx, tx, "groups", []string{"name", "created_at"}, len(imp.Groups), func(i int) []any {
		return []any{imp.Groups[i].Name, ts(imp.Groups[i].CreatedAt)}
	})
	if err != nil {
		return wrap(op+": groups", err)
	}
	err = copyRows(ctx, tx, "users",
		[]string{"id", "username", "email", "email_verified", "name", "password_hash", "disabled", "created_at", "updated_at"},
		len(imp.Users), func(i int) []any {
			u := &imp.Users[i]
			return []any{u.ID, u.Username, u.Email, u.EmailVerified, u.Name, u.PasswordHash,
				u.Disabled, ts(u.CreatedAt), ts(u.UpdatedAt)}
		})
	if err != nil {
		return wrap(op+": users", err)
	}
	err = copyRows(ctx, tx, "group_members", []string{"group_name", "user_id"}, len(imp.Members), func(i int) []any {
		return []any{imp.Members[i].Group, imp.Members[i].UserID}
	})
	if err != nil {
		return wrap(op+": group members", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap(op, err)
	}
	return nil
}

// copyRows copies n rows, row(i) each, into the columns of table by COPY;
// none is no round trip.
func copyRows(ctx context.Context, tx pgx.Tx, table string, columns []string, n int, row func(i int) []any) error {
	if n == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, columns,
		pgx.CopyFromSlice(n, func(i int) ([]any, error) { return row(i), nil }))
	return err
}
