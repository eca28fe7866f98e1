package loginui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Changing one's password on the account page: the current password (a
// sign-in attempt like any other, throttled the same way), the new one
// twice. Afterwards the user's other sessions end (their applications are
// told) and every refresh token family of the user is revoked, as when an
// operator changes it; this session stays, freshly authenticated.

// passwordStore is what changing one's password needs from storage,
// besides the session, throttle and family calls of the other flows.
type passwordStore interface {
	UpdateUser(ctx context.Context, u *storage.User) error
}

// EventPasswordChanged is the audit event of a user changing their
// password.
const EventPasswordChanged = "password_changed"

type passwordData struct {
	Title string
	CSRF  string
	Error string
	Min   int
}

func (u *UI) passwordPage(w http.ResponseWriter, r *http.Request) {
	if _, _, err := u.CurrentSession(r.Context(), r); err != nil {
		if errors.Is(err, ErrNoSession) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		u.serverError(w, r, "account session", err)
		return
	}
	u.render(r.Context(), w, http.StatusOK, "password", passwordData{Title: "Change your password", CSRF: u.FormToken(r, "account", ""), Min: MinPasswordLength})
}

// newPasswordProblem says what is wrong with a new password, or "".
func newPasswordProblem(current, next, again string) string {
	switch {
	case next != again:
		return "The two new passwords are not the same."
	case !utf8.ValidString(next) || utf8.RuneCountInString(next) < MinPasswordLength:
		return fmt.Sprintf("The new password needs at least %d characters.", MinPasswordLength)
	case len(next) > MaxPasswordBytes:
		return fmt.Sprintf("The new password can have at most %d bytes.", MaxPasswordBytes)
	case next == current:
		return "The new password is the same as the current one."
	}
	return ""
}

func (u *UI) changePassword(w http.ResponseWriter, r *http.Request) {
	s, user, ok := u.accountForm(w, r)
	if !ok {
		return
	}
	data := passwordData{Title: "Change your password", CSRF: r.PostForm.Get("csrf_token"), Min: MinPasswordLength}
	current, next, again := r.PostForm.Get("current"), r.PostForm.Get("new"), r.PostForm.Get("again")
	if msg := newPasswordProblem(current, next, again); msg != "" {
		data.Error = msg
		u.render(r.Context(), w, http.StatusOK, "password", data)
		return
	}
	limits := u.throttleLimits(user.Username, r)
	attempt, ok := u.reserveAttempt(w, r, limits, func(secs int) {
		data.Error = "Too many failed attempts. Wait " + waitText(secs) + ", then try again."
		u.render(r.Context(), w, http.StatusTooManyRequests, "password", data)
	})
	if !ok {
		return
	}
	_, err := u.checkPassword(r.Context(), user.Username, current)
	switch {
	case errors.Is(err, errBusy):
		u.giveBack(r.Context(), attempt, nil)
		w.Header().Set("Retry-After", "2")
		u.RenderError(r.Context(), w, http.StatusServiceUnavailable, "Too many sign-ins right now",
			"Gatehouse is busy. Please try again in a few seconds.", "")
		return
	case errors.Is(err, errBadCredentials):
		u.record(r.Context(), storage.AuditEvent{Kind: EventSignInFailed, UserID: user.ID, SessionID: s.ID, IP: u.ClientIP(r), Detail: "password change"})
		data.Error = "The current password is not right."
		u.render(r.Context(), w, http.StatusOK, "password", data)
		return
	case err != nil:
		u.giveBack(r.Context(), attempt, nil)
		u.serverError(w, r, "check password", err)
		return
	}
	u.giveBack(r.Context(), attempt, []string{limits[1].Key})
	hash, err := HashPassword(next, u.cfg.PasswordHashing, u.random)
	if err != nil {
		u.serverError(w, r, "hash password", err)
		return
	}
	now := u.now()
	user.PasswordHash, user.UpdatedAt = hash, now
	if err := u.store.UpdateUser(r.Context(), user); err != nil {
		u.serverError(w, r, "store password", err)
		return
	}
	u.record(r.Context(), storage.AuditEvent{Kind: EventPasswordChanged, UserID: user.ID, SessionID: s.ID, IP: u.ClientIP(r)})
	// Nothing opened with the old password stays open but this session.
	if err := u.endOtherUserSessions(r.Context(), r, user.ID, s.ID, "password changed"); err != nil {
		u.serverError(w, r, "end other sessions", err)
		return
	}
	if _, err := u.store.RevokeUserFamilies(r.Context(), user.ID, "", now, now.Add(u.cfg.RevokedFamilyKeep)); err != nil {
		u.serverError(w, r, "revoke refresh tokens", err)
		return
	}
	amr := s.AMR
	if len(amr) == 0 {
		amr = []string{mfa.AMRPassword}
	}
	if err := u.store.AuthenticateSession(r.Context(), s.ID, now, amr, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		u.serverError(w, r, "reauthenticate session", err)
		return
	}
	http.Redirect(w, r, "/account?done=password", http.StatusSeeOther)
}
