package admin

import (
	"context"
	"fmt"

	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// UserDeletion is what DeleteUser did.
type UserDeletion struct {
	SignedOut signout.Result
	// Deleted is false when the user was deleted meanwhile by someone
	// else.
	Deleted bool
}

// DeleteUser signs u out everywhere (sessions end, apps are told, refresh
// tokens are revoked), records user_deleted, then deletes u and what is
// theirs in SQL (storage.UserDeleter): the audit trail keeps the sub.
// Sessions end before the delete, so that no session outlives its user; a
// failure after them leaves a user signed out and still there, and calling
// it again finishes.
func (s *Service) DeleteUser(ctx context.Context, who Actor, u *storage.User) (UserDeletion, error) {
	var res UserDeletion
	r, err := s.EndUserSessions(ctx, who, u.ID, "user deleted", true)
	res.SignedOut = r
	if err != nil {
		return res, err
	}
	if err := s.record(ctx, who, storage.AuditEvent{Kind: EventUserDeleted, UserID: u.ID, Detail: "username=" + u.Username}); err != nil {
		return res, fmt.Errorf("nothing was deleted: %w", err)
	}
	if res.Deleted, err = s.cfg.Store.DeleteUser(ctx, u.ID); err != nil {
		return res, fmt.Errorf("delete %s: %w", u.Username, err)
	}
	return res, nil
}
