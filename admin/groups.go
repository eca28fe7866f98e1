package admin

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// GroupNameProblem is the problem with a name storage.ValidGroupName
// refuses.
func GroupNameProblem(name string) string {
	return fmt.Sprintf("%q: use 1–%d characters from a–z, 0–9 and . _ -", name, storage.MaxGroupNameLen)
}

// CreateGroup stores the group and records group_created; a bad name is
// Invalid, a taken one storage.ErrConflict.
func (s *Service) CreateGroup(ctx context.Context, who Actor, name string) (*storage.Group, error) {
	if !storage.ValidGroupName(name) {
		return nil, Invalid{{Field: "name", Msg: GroupNameProblem(name)}}
	}
	now := s.cfg.Now()
	g := &storage.Group{Name: name, CreatedAt: now.UTC().Truncate(time.Microsecond)}
	if err := s.cfg.Store.CreateGroup(ctx, g); err != nil {
		return nil, err
	}
	return g, s.record(ctx, who, storage.AuditEvent{Time: now, Kind: EventGroupCreated, Detail: "group=" + name})
}

// DeleteGroup removes the group and its memberships (not its users) and
// records group_deleted; storage.ErrNotFound when there is none.
func (s *Service) DeleteGroup(ctx context.Context, who Actor, name string) error {
	deleted, err := s.cfg.Store.DeleteGroup(ctx, name)
	if err != nil {
		return err
	}
	if !deleted {
		return fmt.Errorf("no group %q: %w", name, storage.ErrNotFound)
	}
	return s.record(ctx, who, storage.AuditEvent{Kind: EventGroupDeleted, Detail: "group=" + name})
}

// AddGroupMember makes the user a member of the group and records
// group_member_added; it reports false, and records nothing, for a member
// already. storage.ErrNotFound when the group is not there.
func (s *Service) AddGroupMember(ctx context.Context, who Actor, group, userID string) (bool, error) {
	groups, err := s.cfg.Store.UserGroups(ctx, userID)
	if err != nil {
		return false, err
	}
	if slices.Contains(groups, group) {
		return false, nil
	}
	if err := s.cfg.Store.AddGroupMember(ctx, group, userID); err != nil {
		return false, err
	}
	return true, s.record(ctx, who, storage.AuditEvent{Kind: EventGroupMemberAdded, UserID: userID, Detail: "group=" + group})
}

// RemoveGroupMember ends the user's membership of the group and records
// group_member_removed; it reports false, and records nothing, for a user
// who is not a member. storage.ErrNotFound when the group is not there.
func (s *Service) RemoveGroupMember(ctx context.Context, who Actor, group, userID string) (bool, error) {
	removed, err := s.cfg.Store.RemoveGroupMember(ctx, group, userID)
	if err != nil {
		return false, err
	}
	if !removed {
		if _, err := s.cfg.Store.GroupMembers(ctx, group); err != nil {
			return false, err
		}
		return false, nil
	}
	return true, s.record(ctx, who, storage.AuditEvent{Kind: EventGroupMemberRemoved, UserID: userID, Detail: "group=" + group})
}
