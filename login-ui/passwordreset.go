package loginui

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// "Forgot password": a user who cannot sign in asks for a link by username
// or email address (/login/forgot) and gets it by email; the link
// (/login/reset?token=…) lets them choose a new password once, within
// ResetLinkTTL. The answer to the request is the same page whether or not
// the account exists, is disabled or throttled, and the lookup, the link
// and the mail happen off the request path, so neither the page nor its
// timing tells. The link's token is 256 random bits, stored only as its
// SHA-256 and stamped with the user's password hash: it works once (taken
// atomically), and not at all once the password changed by other means.
// Using it sets the password, ends every session of the user (their
// applications are told) and revokes their refresh tokens; it signs no
// one in, so second factors are asked at the next sign-in as always.

// Mailer sends one plain-text message (mail.Sender is one).
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// passwordResetStore is what the reset flow needs from storage, besides
// the user and throttle calls of the other flows.
type passwordResetStore interface {
	storage.PasswordResets
}

// Audit events of the reset flow. A request is recorded whatever came of
// it (Detail says what: link sent, no such account, disabled, throttled,
// mail failed), with the user's id when there is one.
const (
	EventPasswordResetRequested = "password_reset_requested"
	EventPasswordResetCompleted = "password_reset_completed"
)

const (
	// ResetLinkTTL is how long a reset link works.
	ResetLinkTTL = 15 * time.Minute
	// maxResetsInFlight bounds the requests being looked up and mailed at
	// once; more are dropped (and audited), with the same answer.
	maxResetsInFlight = 8
	// resetWorkTimeout bounds one request's lookup, link and mail.
	resetWorkTimeout = time.Minute
	// maxResetUsers bounds the links one request mails (users sharing an
	// email address).
	maxResetUsers = 5
	// Requests are counted per IP and per account over resetWindow: an IP
	// asks 10 times freely, an account gets 3 mails freely, then each
	// further one must wait, doubling, up to an hour.
	resetWindow = time.Hour
)

// resetLimits are the throttle limits of reset requests: the IP's is
// checked on the request path (it says nothing about accounts), the
// account's once the user is known. Their keys never meet the sign-in
// throttle's.
func (u *UI) resetIPLimit(r *http.Request) storage.ThrottleLimit {
	return storage.ThrottleLimit{Key: "reset-ip:" + ipPrefix(u.ClientIP(r)), Free: 10, Delay: time.Minute, MaxDelay: time.Hour}
}

func resetAccountLimit(userID string) storage.ThrottleLimit {
	return storage.ThrottleLimit{Key: "reset-user:" + userID, Free: 3, Delay: 5 * time.Minute, MaxDelay: time.Hour}
}

type forgotData struct {
	Title   string
	CSRF    string
	Account string
	Error   string
	Sent    bool
	Minutes int
}

func (u *UI) forgotPage(w http.ResponseWriter, r *http.Request) {
	browser, err := u.browserCookie(w, r)
	if err != nil {
		u.serverError(w, r, "browser cookie", err)
		return
	}
	u.render(r.Context(), w, http.StatusOK, "forgot", forgotData{Title: "Forgot your password?", CSRF: u.csrfToken("forgot", browser, "")})
}

// forgot answers a reset request with the same page whatever the account:
// the work is queued (sendResetLinks), or dropped when the IP is
// throttled or too many requests are in flight.
func (u *UI) forgot(w http.ResponseWriter, r *http.Request) {
	if !u.postedForm(w, r, "forgot", BrowserCookie, "") {
		return
	}
	account := strings.TrimSpace(r.PostForm.Get("account"))
	if account == "" {
		u.render(r.Context(), w, http.StatusOK, "forgot", forgotData{Title: "Forgot your password?", CSRF: r.PostForm.Get("csrf_token"),
			Error: "Enter your username or email address."})
		return
	}
	ip := u.ClientIP(r)
	_, wait, err := u.store.ReserveLoginAttempt(r.Context(), []storage.ThrottleLimit{u.resetIPLimit(r)}, u.now(), resetWindow)
	switch {
	case err != nil:
		u.serverError(w, r, "reserve reset request", err)
		return
	case wait > 0:
		u.record(r.Context(), storage.AuditEvent{Kind: EventPasswordResetRequested, IP: ip, Detail: "throttled (ip): no mail"})
	default:
		// The work begins once this answer is written, so that it does
		// not compete with the answer for the CPU: an unknown account's
		// work is shorter, and would otherwise show in the answer's time.
		begin := u.queueReset(r.Context(), truncate(account, 256), ip)
		defer begin()
	}
	u.render(r.Context(), w, http.StatusOK, "forgot", forgotData{Title: "Check your email", Sent: true, Minutes: int(ResetLinkTTL / time.Minute)})
}

// queueReset hands a request to a goroutine of its own, at most
// maxResetsInFlight at once, and returns the function that lets it begin.
// The work outlives the request (but keeps its request id for the logs),
// bounded by resetWorkTimeout.
func (u *UI) queueReset(ctx context.Context, account, ip string) (begin func()) {
	select {
	case u.resetSlots <- struct{}{}:
	default:
		u.log.WarnContext(ctx, "password reset: too many requests in flight, one dropped")
		u.record(ctx, storage.AuditEvent{Kind: EventPasswordResetRequested, IP: ip, Detail: "too many at once: no mail"})
		return func() {}
	}
	u.resetWork.Add(1)
	start := make(chan struct{})
	go func() {
		defer u.resetWork.Done()
		defer func() { <-u.resetSlots }()
		<-start
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resetWorkTimeout)
		defer cancel()
		u.sendResetLinks(ctx, account, ip)
	}()
	return func() { close(start) }
}

// resetUsers returns the users a request names: the user with that
// username, and those with that email address, at most maxResetUsers.
func (u *UI) resetUsers(ctx context.Context, account string) ([]storage.User, error) {
	var users []storage.User
	user, err := u.store.UserByUsername(ctx, CanonicalUsername(account))
	switch {
	case err == nil:
		users = append(users, *user)
	case !errors.Is(err, storage.ErrNotFound):
		return nil, err
	}
	if strings.Contains(account, "@") {
		byEmail, err := u.store.UsersByEmail(ctx, account)
		if err != nil {
			return nil, err
		}
		for _, b := range byEmail {
			if !slices.ContainsFunc(users, func(u storage.User) bool { return u.ID == b.ID }) {
				users = append(users, b)
			}
		}
	}
	return users[:min(len(users), maxResetUsers)], nil
}

// sendResetLinks looks up the account a request names and mails each
// enabled user found a new link, unless their account is throttled. Every
// outcome is audited; nothing is answered.
func (u *UI) sendResetLinks(ctx context.Context, account, ip string) {
	users, err := u.resetUsers(ctx, account)
	if err != nil {
		u.log.ErrorContext(ctx, "password reset: look up account", "err", err)
		u.record(ctx, storage.AuditEvent{Kind: EventPasswordResetRequested, IP: ip, Detail: "store failed: no mail"})
		return
	}
	if len(users) == 0 {
		u.record(ctx, storage.AuditEvent{Kind: EventPasswordResetRequested, IP: ip, Detail: "no such account: no mail"})
		return
	}
	for i := range users {
		detail := u.sendResetLink(ctx, &users[i])
		u.record(ctx, storage.AuditEvent{Kind: EventPasswordResetRequested, UserID: users[i].ID, IP: ip, Detail: detail})
	}
}

// sendResetLink mails user a new link and says, for the audit trail, what
// it did.
func (u *UI) sendResetLink(ctx context.Context, user *storage.User) string {
	if user.Disabled {
		return "account disabled: no mail"
	}
	if user.Email == "" {
		return "no email address: no mail"
	}
	_, wait, err := u.store.ReserveLoginAttempt(ctx, []storage.ThrottleLimit{resetAccountLimit(user.ID)}, u.now(), resetWindow)
	if err != nil {
		u.log.ErrorContext(ctx, "password reset: throttle", "err", err)
		return "store failed: no mail"
	}
	if wait > 0 {
		return "throttled (account): no mail"
	}
	token, err := u.randomToken()
	if err != nil {
		u.log.ErrorContext(ctx, "password reset: token", "err", err)
		return "no random token: no mail"
	}
	now := u.now()
	link := &storage.PasswordReset{ID: Hash(token), UserID: user.ID, PasswordStamp: Hash(user.PasswordHash),
		CreatedAt: now, ExpiresAt: now.Add(ResetLinkTTL)}
	if err := u.store.CreatePasswordReset(ctx, link); err != nil {
		u.log.ErrorContext(ctx, "password reset: store link", "err", err)
		return "store failed: no mail"
	}
	// The link is built from the issuer, never from the request's Host or
	// forwarding headers.
	url := u.cfg.Issuer + "/login/reset?token=" + token
	subject := "Reset your password for " + u.cfg.TOTPIssuer
	body := fmt.Sprintf("Hello %s,\n\n"+
		"someone, hopefully you, asked to reset the password of your account %q at %s.\n"+
		"To choose a new password, open this link within %d minutes:\n\n%s\n\n"+
		"The link works once. Using it signs you out everywhere.\n"+
		"If you did not ask for this, ignore this message: your password stays as it is.\n",
		displayName(user), user.Username, u.cfg.TOTPIssuer, int(ResetLinkTTL/time.Minute), url)
	if err := u.cfg.Mailer.Send(ctx, user.Email, subject, body); err != nil {
		u.log.WarnContext(ctx, "password reset: mail not sent", "user", user.ID, "err", err)
		return "mail failed"
	}
	return "link sent"
}

func displayName(u *storage.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Username
}

type resetData struct {
	Title        string
	CSRF         string
	Token        string
	Error        string
	Min          int
	Minutes      int
	Invalid      bool
	Done         bool
	SecondFactor bool
}

// validToken reports whether s has the form of our tokens (43 characters
// of base64url), so that nothing else reaches the store.
func validToken(s string) bool {
	if len(s) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(s)
	return err == nil
}

// liveReset reports whether the link token names works: the link
// unexpired and unused, its user enabled and their password the one the
// link was made for. err is the store's.
func (u *UI) liveReset(ctx context.Context, token string) (bool, error) {
	if !validToken(token) {
		return false, nil
	}
	link, err := u.store.PasswordReset(ctx, Hash(token), u.now())
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	_, ok, err := u.resetUser(ctx, link)
	return ok, err
}

// resetUser returns link's user if the link still works for them.
func (u *UI) resetUser(ctx context.Context, link *storage.PasswordReset) (*storage.User, bool, error) {
	user, err := u.store.UserByID(ctx, link.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if user.Disabled || Hash(user.PasswordHash) != link.PasswordStamp {
		return nil, false, nil
	}
	return user, true, nil
}

func (u *UI) renderInvalidReset(w http.ResponseWriter, r *http.Request) {
	u.render(r.Context(), w, http.StatusBadRequest, "reset", resetData{Title: "This link does not work", Invalid: true,
		Minutes: int(ResetLinkTTL / time.Minute)})
}

func (u *UI) resetPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	ok, err := u.liveReset(r.Context(), token)
	if err != nil {
		u.serverError(w, r, "load reset link", err)
		return
	}
	if !ok {
		u.renderInvalidReset(w, r)
		return
	}
	browser, err := u.browserCookie(w, r)
	if err != nil {
		u.serverError(w, r, "browser cookie", err)
		return
	}
	u.render(r.Context(), w, http.StatusOK, "reset", resetData{Title: "Choose a new password", Token: token,
		CSRF: u.csrfToken("reset", browser, token), Min: MinPasswordLength})
}

// reset sets the new password of a live link's user, once: the link is
// taken atomically, after the new password was checked and hashed, so a
// mistyped password leaves the link working. Every session of the user
// ends and their refresh tokens are revoked; the browser is not signed in.
func (u *UI) reset(w http.ResponseWriter, r *http.Request) {
	if !u.postedForm(w, r, "reset", BrowserCookie, "token") {
		return
	}
	token := r.PostForm.Get("token")
	ok, err := u.liveReset(r.Context(), token)
	if err != nil {
		u.serverError(w, r, "load reset link", err)
		return
	}
	if !ok {
		u.renderInvalidReset(w, r)
		return
	}
	next, again := r.PostForm.Get("new"), r.PostForm.Get("again")
	if msg := newPasswordProblem("", next, again); msg != "" {
		u.render(r.Context(), w, http.StatusOK, "reset", resetData{Title: "Choose a new password", Token: token,
			CSRF: r.PostForm.Get("csrf_token"), Min: MinPasswordLength, Error: msg})
		return
	}
	hash, err := HashPassword(next, DefaultArgon2Params, u.random)
	if err != nil {
		u.serverError(w, r, "hash password", err)
		return
	}
	link, err := u.store.TakePasswordReset(r.Context(), Hash(token), u.now())
	if errors.Is(err, storage.ErrNotFound) {
		u.renderInvalidReset(w, r) // used by a concurrent request
		return
	}
	if err != nil {
		u.serverError(w, r, "take reset link", err)
		return
	}
	// Read again after the take: the password may have changed since.
	user, ok, err := u.resetUser(r.Context(), link)
	if err != nil {
		u.serverError(w, r, "load user", err)
		return
	}
	if !ok {
		u.renderInvalidReset(w, r)
		return
	}
	now := u.now()
	user.PasswordHash, user.UpdatedAt = hash, now
	if err := u.store.UpdateUser(r.Context(), user); err != nil {
		u.serverError(w, r, "store password", err)
		return
	}
	ip := u.ClientIP(r)
	u.record(r.Context(), storage.AuditEvent{Kind: EventPasswordResetCompleted, UserID: user.ID, IP: ip})
	// The user's other links were made for the old password: they would be
	// refused anyway; they go now rather than at their expiry.
	if _, err := u.store.DeleteUserPasswordResets(r.Context(), user.ID); err != nil {
		u.log.WarnContext(r.Context(), "password reset: delete other links", "err", err)
	}
	// Nothing opened with the old password stays open.
	res, err := u.ender.EndUser(r.Context(), user.ID, signout.Reason{Actor: audit.ActorUser, IP: ip,
		Detail: "password reset", RevokeTokens: true})
	if _, err := u.ended(r.Context(), res, err); err != nil {
		u.serverError(w, r, "end sessions", err)
		return
	}
	for _, s := range res.Sessions {
		if u.SameSession(r, s.ID) {
			clearCookie(w, SessionCookie)
		}
	}
	data := resetData{Title: "Your password is changed", Done: true}
	if u.cfg.MFA != mfa.Off {
		data.SecondFactor, _ = u.hasSecondFactor(r.Context(), user.ID)
	}
	u.render(r.Context(), w, http.StatusOK, "reset", data)
}
