package admin

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Bounds of a user's fields.
const (
	MaxEmailBytes = 254 // RFC 5321's path limit
	MaxNameBytes  = 256
)

// NewUser is what CreateUser needs.
type NewUser struct {
	Username, Email, Name, Password string
	EmailVerified                   bool
}

// CheckEmail returns the problem with an email address ("" removes it),
// or "".
func CheckEmail(email string) string {
	if len(email) > MaxEmailBytes || !utf8.ValidString(email) || (email != "" && !strings.Contains(email, "@")) {
		return fmt.Sprintf("%q is not an email address (at most %d bytes, with an @; \"\" removes it)", email, MaxEmailBytes)
	}
	return ""
}

// CheckName returns the problem with a full name, or "".
func CheckName(name string) string {
	if len(name) > MaxNameBytes || !utf8.ValidString(name) {
		return fmt.Sprintf("at most %d bytes of UTF-8", MaxNameBytes)
	}
	return ""
}

// CheckPassword returns the problem with a new password, or "".
func CheckPassword(password string) string {
	switch n := utf8.RuneCountInString(password); {
	case !utf8.ValidString(password):
		return "not valid UTF-8"
	case n < loginui.MinPasswordLength:
		return fmt.Sprintf("at least %d characters, please (got %d)", loginui.MinPasswordLength, n)
	case len(password) > loginui.MaxPasswordBytes:
		return fmt.Sprintf("at most %d bytes", loginui.MaxPasswordBytes)
	}
	return ""
}

// Check returns every problem of n (Invalid), or nil.
func (n NewUser) Check() error {
	var bad Invalid
	if !loginui.ValidUsername(loginui.CanonicalUsername(n.Username)) {
		bad = append(bad, clientpolicy.Problem{Field: "username", Msg: fmt.Sprintf("%q: use 1–128 characters from a–z, 0–9 and . _ - @ +", n.Username)})
	}
	for _, c := range []struct{ field, msg string }{
		{"email", CheckEmail(n.Email)}, {"name", CheckName(n.Name)}, {"password", CheckPassword(n.Password)},
	} {
		if c.msg != "" {
			bad = append(bad, clientpolicy.Problem{Field: c.field, Msg: c.msg})
		}
	}
	if bad != nil {
		return bad
	}
	return nil
}

// BuildUser validates n (every problem: Invalid) and returns the user it
// describes, not stored: a fresh id from random, the canonical username,
// an argon2id hash of the password, created and updated at now.
func BuildUser(n NewUser, now time.Time, random io.Reader) (*storage.User, error) {
	if err := n.Check(); err != nil {
		return nil, err
	}
	username := loginui.CanonicalUsername(n.Username)
	hash, err := loginui.HashPassword(n.Password, loginui.DefaultArgon2Params, random)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	if _, err := io.ReadFull(random, id); err != nil {
		return nil, err
	}
	now = now.UTC().Truncate(time.Microsecond)
	return &storage.User{
		ID: base64.RawURLEncoding.EncodeToString(id), Username: username, Email: n.Email,
		EmailVerified: n.EmailVerified && n.Email != "", Name: n.Name, PasswordHash: hash, CreatedAt: now, UpdatedAt: now,
	}, nil
}

// CreateUser stores the user n describes (BuildUser: Invalid for bad
// input) and records user_created. A taken username is
// storage.ErrConflict.
func (s *Service) CreateUser(ctx context.Context, who Actor, n NewUser) (*storage.User, error) {
	now := s.cfg.Now()
	u, err := BuildUser(n, now, s.cfg.Random)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	return u, s.record(ctx, who, storage.AuditEvent{Time: now, Kind: EventUserCreated, UserID: u.ID})
}

// UserChange is what UpdateUser changes; nil fields stay as they are.
type UserChange struct {
	Email         *string
	Name          *string
	EmailVerified *bool
	Disabled      *bool
	Password      *string
}

// Check returns every problem of the change (Invalid), or nil.
func (c UserChange) Check() error {
	var bad Invalid
	if c.Email != nil {
		if msg := CheckEmail(*c.Email); msg != "" {
			bad = append(bad, clientpolicy.Problem{Field: "email", Msg: msg})
		}
	}
	if c.Name != nil {
		if msg := CheckName(*c.Name); msg != "" {
			bad = append(bad, clientpolicy.Problem{Field: "name", Msg: msg})
		}
	}
	if c.Password != nil {
		if msg := CheckPassword(*c.Password); msg != "" {
			bad = append(bad, clientpolicy.Problem{Field: "password", Msg: msg})
		}
	}
	if bad != nil {
		return bad
	}
	return nil
}

// UserUpdate is what UpdateUser did.
type UserUpdate struct {
	User *storage.User
	// Changed names what changed: "email", "name", "email_verified=true",
	// "password", "disabled", "enabled"; empty when nothing did (and
	// nothing was stored).
	Changed []string
	// SignedOut is what ending the user's sessions did, when the change
	// disabled the user or set a password.
	SignedOut signout.Result
}

// UpdateUser applies ch to u, the user as read, only if nobody changed it
// since (ErrChanged otherwise; storage.ErrNotFound if it is gone), and
// records user_updated (email, name, email_verified), user_password_changed,
// user_disabled or user_enabled. A new email counts as unverified unless
// ch sets EmailVerified too. Disabling or setting a password then signs
// the user out everywhere: every session ends (apps are told) and every
// refresh token family is revoked. u is not modified.
func (s *Service) UpdateUser(ctx context.Context, who Actor, u *storage.User, ch UserChange) (UserUpdate, error) {
	if err := ch.Check(); err != nil {
		return UserUpdate{}, err
	}
	next := *u
	var changed, kinds []string
	if ch.Email != nil && *ch.Email != u.Email {
		next.Email, next.EmailVerified = *ch.Email, false
		changed = append(changed, "email")
	}
	if ch.Name != nil && *ch.Name != u.Name {
		next.Name = *ch.Name
		changed = append(changed, "name")
	}
	if ch.EmailVerified != nil && *ch.EmailVerified != next.EmailVerified {
		next.EmailVerified = *ch.EmailVerified
		changed = append(changed, "email_verified="+strconv.FormatBool(*ch.EmailVerified))
	}
	profile := len(changed) // email, name, email_verified: one user_updated
	if profile > 0 {
		kinds = append(kinds, EventUserUpdated)
	}
	if ch.Password != nil {
		hash, err := loginui.HashPassword(*ch.Password, loginui.DefaultArgon2Params, s.cfg.Random)
		if err != nil {
			return UserUpdate{}, err
		}
		next.PasswordHash = hash
		changed, kinds = append(changed, "password"), append(kinds, EventUserPasswordChanged)
	}
	if ch.Disabled != nil && *ch.Disabled != u.Disabled {
		next.Disabled = *ch.Disabled
		if next.Disabled {
			changed, kinds = append(changed, "disabled"), append(kinds, EventUserDisabled)
		} else {
			changed, kinds = append(changed, "enabled"), append(kinds, EventUserEnabled)
		}
	}
	if len(changed) == 0 {
		return UserUpdate{User: u}, nil
	}
	// Every update moves updated_at forward, so that the next
	// compare-and-set sees it even within one clock tick.
	now := s.cfg.Now()
	next.UpdatedAt = now.UTC().Truncate(time.Microsecond)
	if !next.UpdatedAt.After(u.UpdatedAt) {
		next.UpdatedAt = u.UpdatedAt.UTC().Truncate(time.Microsecond).Add(time.Microsecond)
	}
	switch err := s.cfg.Store.UpdateUserIfUnchanged(ctx, &next, u.UpdatedAt); {
	case errors.Is(err, storage.ErrConflict):
		return UserUpdate{}, ErrChanged
	case err != nil:
		return UserUpdate{}, err
	}
	res := UserUpdate{User: &next, Changed: changed}
	var events []storage.AuditEvent
	for _, k := range kinds {
		ev := storage.AuditEvent{Time: now, Kind: k, UserID: u.ID}
		if k == EventUserUpdated {
			ev.Detail = strings.Join(changed[:profile], " ")
		}
		events = append(events, ev)
	}
	recErr := s.record(ctx, who, events...)
	// After the update, so that no session or token made with the old
	// password, or before the account was disabled, survives.
	if ch.Password != nil || (ch.Disabled != nil && *ch.Disabled && !u.Disabled) {
		why := "password changed"
		if next.Disabled {
			why = "user disabled"
		}
		r, err := s.EndUserSessions(ctx, who, u.ID, why, true)
		res.SignedOut = r
		if err != nil {
			return res, errors.Join(err, recErr)
		}
	}
	return res, recErr
}
