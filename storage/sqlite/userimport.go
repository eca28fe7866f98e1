package sqlite

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// importChunk is how many rows one INSERT of ImportUsers writes: 100 users
// are 900 parameters, well under SQLite's limit (32,766), and a statement
// of that size compiles once and is reused.
const importChunk = 100

// ReplacePasswordHash sets the password hash and updated-at of the user
// with that id, only while its hash is still oldHash, and reports whether
// it did.
func (s *Store) ReplacePasswordHash(ctx context.Context, id, oldHash, newHash string, updatedAt time.Time) (bool, error) {
	op := "replace password hash of " + id
	var e encoder
	updated := e.time(updatedAt)
	if e.err != nil {
		return false, fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	res, err := s.exec(ctx, `UPDATE users SET password_hash = ?, updated_at = ?
		WHERE id = ? AND password_hash = ?`, newHash, updated, id, oldHash)
	if err != nil {
		return false, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(op, err)
	}
	return n > 0, nil
}

// ImportUsers stores the groups, the users and the memberships of imp in
// one write transaction, the users and memberships by multi-row INSERTs of
// importChunk rows. A constraint (a username or id taken, a membership
// naming nothing) fails its statement, and the transaction is rolled back.
func (s *Store) ImportUsers(ctx context.Context, imp storage.UserImport) error {
	const op = "import users"
	if len(imp.Users) == 0 && len(imp.Groups) == 0 && len(imp.Members) == 0 {
		return nil
	}
	var e encoder
	users := make([]any, 0, 9*len(imp.Users))
	for i := range imp.Users {
		u := &imp.Users[i]
		users = append(users, u.ID, u.Username, u.Email, u.EmailVerified, u.Name, u.PasswordHash,
			u.Disabled, e.time(u.CreatedAt), e.time(u.UpdatedAt))
	}
	groups := make([]any, 0, 2*len(imp.Groups))
	for _, g := range imp.Groups {
		groups = append(groups, g.Name, e.time(g.CreatedAt))
	}
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	members := make([]any, 0, 2*len(imp.Members))
	for _, m := range imp.Members {
		members = append(members, m.Group, m.UserID)
	}

	in, err := s.begin(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer in.end(ctx)
	if err := insertRows(ctx, in, `groups (name, created_at)`, 2, groups); err != nil {
		return wrap(op+": groups", err)
	}
	if err := insertRows(ctx, in, `users (`+userColumns+`)`, 9, users); err != nil {
		return wrap(op+": users", err)
	}
	if err := insertRows(ctx, in, `group_members (group_name, user_id)`, 2, members); err != nil {
		return wrap(op+": group members", err)
	}
	if err := in.tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// insertRows inserts args, cols values a row, into table (its name and
// column list) inside the transaction of in: full chunks of importChunk
// rows through one cached statement, the rows left over through a
// statement of their own, prepared for this once and not cached (its
// text depends on their number).
func insertRows(ctx context.Context, in runner, table string, cols int, args []any) error {
	rows := len(args) / cols
	full := rows / importChunk * importChunk
	if full > 0 {
		st, err := in.stmt(ctx, insertText(table, cols, importChunk))
		if err != nil {
			return err
		}
		for i := 0; i < full; i += importChunk {
			if _, err := st.ExecContext(ctx, args[i*cols:(i+importChunk)*cols]...); err != nil {
				return err
			}
		}
	}
	if rest := rows - full; rest > 0 {
		if _, err := in.tx.ExecContext(ctx, insertText(table, cols, rest), args[full*cols:]...); err != nil {
			return err
		}
	}
	return nil
}

// insertText is "INSERT INTO table VALUES (?, …), …" for rows rows of
// cols columns.
func insertText(table string, cols, rows int) string {
	row := "(" + strings.Repeat("?, ", cols-1) + "?)"
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}
