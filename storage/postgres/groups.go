package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// CreateGroup stores g; ErrConflict if the name is taken (the primary key).
func (s *Store) CreateGroup(ctx context.Context, g *storage.Group) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO groups (name, created_at) VALUES ($1, $2)`, g.Name, ts(g.CreatedAt))
	if err != nil {
		return wrap("create group", err)
	}
	return nil
}

// DeleteGroup removes the group; its memberships go with it (ON DELETE
// CASCADE). It reports whether there was one.
func (s *Store) DeleteGroup(ctx context.Context, name string) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM groups WHERE name = $1`, name)
	if err != nil {
		return false, wrap("delete group", err)
	}
	return tag.RowsAffected() > 0, nil
}

// ListGroups returns every group, ordered by name (bytewise: COLLATE "C").
func (s *Store) ListGroups(ctx context.Context) ([]storage.Group, error) {
	const op = "list groups"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT name, created_at FROM groups ORDER BY name`)
	if err != nil {
		return nil, wrap(op, err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.Group, error) {
		var (
			g       storage.Group
			created pgtype.Timestamptz
		)
		err := row.Scan(&g.Name, &created)
		g.CreatedAt = timeOf(created)
		return g, err
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return list, nil
}

// AddGroupMember makes the user a member of the group; a membership that
// exists already is left as it is. A missing group or user fails the
// foreign key, which wrap reports as ErrNotFound.
func (s *Store) AddGroupMember(ctx context.Context, group, userID string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO group_members (group_name, user_id) VALUES ($1, $2)
		ON CONFLICT (group_name, user_id) DO NOTHING`, group, userID)
	if err != nil {
		return wrap("add group member", err)
	}
	return nil
}

// RemoveGroupMember ends the membership and reports whether there was one.
func (s *Store) RemoveGroupMember(ctx context.Context, group, userID string) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	tag, err := s.pool.Exec(ctx, `DELETE FROM group_members WHERE group_name = $1 AND user_id = $2`, group, userID)
	if err != nil {
		return false, wrap("remove group member", err)
	}
	return tag.RowsAffected() > 0, nil
}

// GroupMembers returns the ids of the group's members, ordered bytewise;
// ErrNotFound when the group does not exist. One statement reads the group
// and its members (a group without members is one row with a NULL id), so
// the answer is of one snapshot.
func (s *Store) GroupMembers(ctx context.Context, group string) ([]string, error) {
	const op = "group members"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT m.user_id FROM groups g
		LEFT JOIN group_members m ON m.group_name = g.name
		WHERE g.name = $1 ORDER BY m.user_id`, group)
	if err != nil {
		return nil, wrap(op, err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[pgtype.Text])
	if err != nil {
		return nil, wrap(op, err)
	}
	if len(found) == 0 {
		return nil, notFound(op + " " + group)
	}
	var ids []string
	for _, id := range found {
		if id.Valid {
			ids = append(ids, id.String)
		}
	}
	return ids, nil
}

// UserGroups returns the names of the user's groups, ordered bytewise;
// none for an unknown user.
func (s *Store) UserGroups(ctx context.Context, userID string) ([]string, error) {
	const op = "user groups"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT group_name FROM group_members WHERE user_id = $1 ORDER BY group_name`, userID)
	if err != nil {
		return nil, wrap(op, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap(op, err)
	}
	return names, nil
}
