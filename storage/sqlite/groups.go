package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// CreateGroup stores g; ErrConflict if the name is taken (the primary key).
func (s *Store) CreateGroup(ctx context.Context, g *storage.Group) error {
	const op = "create group"
	var e encoder
	created := e.time(g.CreatedAt)
	if e.err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, e.err)
	}
	if _, err := s.exec(ctx, `INSERT INTO groups (name, created_at) VALUES (?, ?)`, g.Name, created); err != nil {
		return wrap(op, err)
	}
	return nil
}

// DeleteGroup removes the group; its memberships go with it (ON DELETE
// CASCADE). It reports whether there was one.
func (s *Store) DeleteGroup(ctx context.Context, name string) (bool, error) {
	const op = "delete group"
	res, err := s.exec(ctx, `DELETE FROM groups WHERE name = ?`, name)
	if err != nil {
		return false, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(op, err)
	}
	return n > 0, nil
}

// ListGroups returns every group, ordered by name (bytewise).
func (s *Store) ListGroups(ctx context.Context) ([]storage.Group, error) {
	const op = "list groups"
	rows, err := s.query(ctx, `SELECT name, created_at FROM groups ORDER BY name`)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var list []storage.Group
	for rows.Next() {
		var (
			g       storage.Group
			created sql.NullInt64
		)
		if err := rows.Scan(&g.Name, &created); err != nil {
			return nil, wrap(op, err)
		}
		var d decoder
		g.CreatedAt = d.time(created)
		list = append(list, g)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return list, nil
}

// AddGroupMember makes the user a member of the group; a membership that
// exists already is left as it is. A missing group or user fails the
// foreign key, which wrap reports as ErrNotFound.
func (s *Store) AddGroupMember(ctx context.Context, group, userID string) error {
	_, err := s.exec(ctx, `INSERT INTO group_members (group_name, user_id) VALUES (?, ?)
		ON CONFLICT (group_name, user_id) DO NOTHING`, group, userID)
	if err != nil {
		return wrap("add group member", err)
	}
	return nil
}

// RemoveGroupMember ends the membership and reports whether there was one.
func (s *Store) RemoveGroupMember(ctx context.Context, group, userID string) (bool, error) {
	const op = "remove group member"
	res, err := s.exec(ctx, `DELETE FROM group_members WHERE group_name = ? AND user_id = ?`, group, userID)
	if err != nil {
		return false, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(op, err)
	}
	return n > 0, nil
}

// GroupMembers returns the ids of the group's members, ordered bytewise;
// ErrNotFound when the group does not exist. One statement reads the group
// and its members (a group without members is one row with a NULL id), so
// the answer is of one moment.
func (s *Store) GroupMembers(ctx context.Context, group string) ([]string, error) {
	const op = "group members"
	rows, err := s.query(ctx, `SELECT m.user_id FROM groups g
		LEFT JOIN group_members m ON m.group_name = g.name
		WHERE g.name = ? ORDER BY m.user_id`, group)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	found := false
	var ids []string
	for rows.Next() {
		found = true
		var id sql.NullString
		if err := rows.Scan(&id); err != nil {
			return nil, wrap(op, err)
		}
		if id.Valid {
			ids = append(ids, id.String)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	if !found {
		return nil, notFound(op + " " + group)
	}
	return ids, nil
}

// UserGroups returns the names of the user's groups, ordered bytewise;
// none for an unknown user.
func (s *Store) UserGroups(ctx context.Context, userID string) ([]string, error) {
	const op = "user groups"
	rows, err := s.query(ctx, `SELECT group_name FROM group_members WHERE user_id = ? ORDER BY group_name`, userID)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, wrap(op, err)
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return names, nil
}
