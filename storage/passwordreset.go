package storage

import (
	"context"
	"time"
)

// PasswordReset is a password-reset link sent by email. The link holds a
// random token; the store only sees ID, the token's SHA-256 (hex).
type PasswordReset struct {
	ID     string
	UserID string
	// PasswordStamp is the SHA-256 (hex) of the user's password hash when
	// the link was made: a link whose user's password has changed since,
	// by any means, no longer matches and is refused by its consumer.
	PasswordStamp string
	CreatedAt     time.Time
	// ExpiresAt is when the store stops returning it.
	ExpiresAt time.Time
}

// PasswordResets keeps password-reset links (SQL). A user's links go with
// the user (DeleteUser); Prune deletes expired ones.
type PasswordResets interface {
	// CreatePasswordReset stores p; ErrConflict if the id exists,
	// ErrNotFound if the user does not.
	CreatePasswordReset(ctx context.Context, p *PasswordReset) error
	// PasswordReset returns p if it exists and now is before its
	// ExpiresAt; otherwise ErrNotFound.
	PasswordReset(ctx context.Context, id string, now time.Time) (*PasswordReset, error)
	// TakePasswordReset deletes the live p and returns it, in one atomic
	// step: of concurrent takes exactly one gets it, the others (and any
	// take after it expired) get ErrNotFound.
	TakePasswordReset(ctx context.Context, id string, now time.Time) (*PasswordReset, error)
	// DeleteUserPasswordResets removes every link of the user and returns
	// how many there were.
	DeleteUserPasswordResets(ctx context.Context, userID string) (int, error)
	// UsersByEmail returns the users (disabled ones too) whose email equals
	// email ignoring ASCII case, ordered by username; none when no user
	// has it. Emails are not unique.
	UsersByEmail(ctx context.Context, email string) ([]User, error)
}
