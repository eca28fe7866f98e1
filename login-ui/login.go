package loginui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// loginStore is what the sign-in form needs: the auth request it completes,
// the user it checks, the client it names, and the throttle (throttle.go).
type loginStore interface {
	AuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error)
	CompleteAuthRequest(ctx context.Context, id string, login storage.Login, now time.Time) error
	UserByUsername(ctx context.Context, username string) (*storage.User, error)
	ReplacePasswordHash(ctx context.Context, id, oldHash, newHash string, updatedAt time.Time) (bool, error)
	Client(ctx context.Context, id string) (*storage.Client, error)
	storage.LoginThrottle
}

// maxFormBytes bounds every form body the UI reads.
const maxFormBytes = 64 << 10

// Routes mounts the UI's pages on r.
func (u *UI) Routes(r chi.Router) {
	r.Get("/login", u.loginPage)
	r.Post("/login", u.login)
	r.Get("/account", u.accountPage)
	r.Post("/account/signout", u.signOut)
	r.Post("/account/sessions/end", u.endOtherSession)
	r.Post("/account/sessions/end-others", u.endOtherSessions)
	r.Post("/account/sessions/end-all", u.endAllSessions)
	r.Post("/account/consents/revoke", u.revokeConsent)
	r.Get("/login/factor", u.factorPage)
	r.Post("/login/factor", u.factor)
	r.Get("/login/enrol", u.enrolPage)
	r.Post("/login/enrol", u.enrol)
	r.Post("/login/enrol/passkey", u.enrolPasskey)
	r.Get("/account/verify", u.reauthPage)
	r.Post("/account/verify", u.reauth)
	r.Get("/account/totp", u.totpSetupPage)
	r.Post("/account/totp", u.totpSetup)
	r.Post("/account/totp/remove", u.totpRemove)
	r.Post("/account/recovery-codes", u.recoveryCodesReset)
	r.Post("/login/passkey", u.passkeyLogin)
	r.Get("/account/password", u.passwordPage)
	r.Post("/account/password", u.changePassword)
	r.Get("/account/passkeys/new", u.passkeyNewPage)
	r.Post("/account/passkeys", u.passkeyAdd)
	r.Post("/account/passkeys/rename", u.passkeyRename)
	r.Post("/account/passkeys/remove", u.passkeyRemove)
	if u.cfg.Mailer != nil {
		r.Get("/login/forgot", u.forgotPage)
		r.Post("/login/forgot", u.forgot)
		r.Get("/login/reset", u.resetPage)
		r.Post("/login/reset", u.reset)
	}
	r.Handle("/assets/*", u.assets)
}

type loginData struct {
	Title      string
	ClientName string
	ID         string
	CSRF       string
	Username   string
	Error      string
	// RememberDays is how long "keep me signed in" lasts; 0 hides it.
	RememberDays int
	Remember     bool
	// Passkey runs "Sign in with a passkey"; nil hides it.
	Passkey *passkeyForm
	// Forgot shows the "Forgot password?" link.
	Forgot bool
}

// browserCookie returns this browser's binding cookie value, creating the
// cookie if needed.
func (u *UI) browserCookie(w http.ResponseWriter, r *http.Request) (string, error) {
	if v := cookieValue(r, BrowserCookie); v != "" {
		return v, nil
	}
	v, err := u.randomToken()
	if err != nil {
		return "", err
	}
	setCookie(w, BrowserCookie, v)
	return v, nil
}

func (u *UI) serverError(w http.ResponseWriter, r *http.Request, msg string, err error) {
	u.log.ErrorContext(r.Context(), msg, "err", err)
	w.Header().Set("Retry-After", "5")
	u.RenderError(r.Context(), w, http.StatusServiceUnavailable, "Something went wrong",
		"Gatehouse could not complete this step. Please try again in a moment.", "")
}

// authRequestFor loads the live auth request id for this browser. It writes
// an error page and returns ok=false when the request is unknown, expired,
// or was started in another browser.
func (u *UI) authRequestFor(w http.ResponseWriter, r *http.Request, id, browser string) (*storage.AuthRequest, *storage.Client, bool) {
	ar, err := u.store.AuthRequest(r.Context(), id, u.now())
	if errors.Is(err, storage.ErrNotFound) {
		u.RenderError(r.Context(), w, http.StatusBadRequest, "This sign-in link has expired",
			"Go back to the application and start signing in again.", "")
		return nil, nil, false
	}
	if err != nil {
		u.serverError(w, r, "load auth request", err)
		return nil, nil, false
	}
	if browser == "" || ar.BrowserHash != Hash(browser) {
		u.RenderError(r.Context(), w, http.StatusForbidden, "Sign-in started elsewhere",
			"This sign-in was started in another browser or window. Go back to the application and start again here.", "")
		return nil, nil, false
	}
	if ar.Done {
		u.RenderError(r.Context(), w, http.StatusBadRequest, "Already signed in",
			"This sign-in has already been completed. Go back to the application.", "")
		return nil, nil, false
	}
	client, err := u.clients(r.Context(), ar.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		u.RenderError(r.Context(), w, http.StatusBadRequest, "Unknown application",
			"The application that sent you here is no longer registered.", "")
		return nil, nil, false
	}
	if err != nil {
		u.serverError(w, r, "load client", err)
		return nil, nil, false
	}
	return ar, client, true
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	browser, err := u.browserCookie(w, r)
	if err != nil {
		u.serverError(w, r, "browser cookie", err)
		return
	}
	id := r.URL.Query().Get("id")
	data := loginData{Title: "Sign in", ID: id, CSRF: u.csrfToken("login", browser, id), RememberDays: u.rememberDays(),
		Forgot: u.cfg.Mailer != nil}
	if id == "" {
		if _, _, err := u.CurrentSession(r.Context(), r); err == nil {
			http.Redirect(w, r, "/account", http.StatusSeeOther)
			return
		}
	} else {
		ar, client, ok := u.authRequestFor(w, r, id, cookieValue(r, BrowserCookie))
		if !ok {
			return
		}
		// A live session that only lacks a second factor is stepped up:
		// the factor is asked, not the password, and the session is kept.
		s, user, err := u.CurrentSession(r.Context(), r)
		if err != nil && !errors.Is(err, ErrNoSession) {
			u.serverError(w, r, "session lookup", err)
			return
		}
		if err == nil && u.canStepUp(s, ar) &&
			mfa.NeedsMore(u.cfg.MFA, s.AMR, client.RequireMFA, mfa.WantsMultiFactor(ar.ACRValues)) {
			u.startStepUp(w, r, s, user, ar, client)
			return
		}
		data.ClientName = client.Name
		data.Username = ar.LoginHint
	}
	if data.Passkey, err = u.passkeyLoginForm(r.Context(), browser); err != nil {
		u.serverError(w, r, "passkey ceremony", err)
		return
	}
	if data.Passkey != nil {
		u.renderWith(r.Context(), w, http.StatusOK, "login", data, passkeyCSP)
		return
	}
	u.render(r.Context(), w, http.StatusOK, "login", data)
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	if !u.postedForm(w, r, "login", BrowserCookie, "id") {
		return
	}
	id := r.PostForm.Get("id")
	browser := cookieValue(r, BrowserCookie)
	var ar *storage.AuthRequest
	data := loginData{Title: "Sign in", ID: id, CSRF: r.PostForm.Get("csrf_token"), RememberDays: u.rememberDays(),
		Forgot: u.cfg.Mailer != nil}
	if id != "" {
		var client *storage.Client
		var ok bool
		if ar, client, ok = u.authRequestFor(w, r, id, browser); !ok {
			return
		}
		data.ClientName = client.Name
	}
	username := CanonicalUsername(r.PostForm.Get("username"))
	password := r.PostForm.Get("password")
	remember := u.cfg.RememberFor > 0 && r.PostForm.Get("remember") == "on"
	data.Username, data.Remember = r.PostForm.Get("username"), remember
	if len(data.Username) > 256 {
		data.Username = ""
	}

	// The attempt is counted before the password is looked at, and a
	// throttled one is refused, the same way whether or not the account
	// exists (see throttle.go).
	limits := u.throttleLimits(truncate(username, 256), r)
	ipKey, acctKey := limits[0].Key, limits[1].Key
	attempt, ok := u.reserveAttempt(w, r, limits, func(secs int) {
		u.record(r.Context(), storage.AuditEvent{Kind: EventSignInThrottled, ClientID: clientOf(ar), IP: u.ClientIP(r), Detail: ipKey})
		data.Error = fmt.Sprintf("Too many failed sign-ins. Wait %s, then try again.", waitText(secs))
		u.render(r.Context(), w, http.StatusTooManyRequests, "login", data)
	})
	if !ok {
		return
	}

	user, err := u.checkPassword(r.Context(), username, password)
	switch {
	case errors.Is(err, errBusy):
		u.giveBack(r.Context(), attempt, nil)
		w.Header().Set("Retry-After", "2")
		u.RenderError(r.Context(), w, http.StatusServiceUnavailable, "Too many sign-ins right now",
			"Gatehouse is busy. Please try again in a few seconds.", "")
		return
	case errors.Is(err, errBadCredentials):
		// The attempt stays counted: it is a failure.
		u.record(r.Context(), storage.AuditEvent{Kind: EventSignInFailed, ClientID: clientOf(ar), IP: u.ClientIP(r), Detail: ipKey})
		data.Error = "Incorrect username or password."
		u.render(r.Context(), w, http.StatusOK, "login", data)
		return
	case err != nil:
		u.giveBack(r.Context(), attempt, nil)
		u.serverError(w, r, "check password", err)
		return
	}
	// A second factor may still be due: then the account's counter is not
	// cleared yet (only a complete sign-in clears it), so that wrong codes
	// after a right password keep counting toward the same limits.
	var client *storage.Client
	if ar != nil {
		if client, err = u.clients(r.Context(), ar.ClientID); err != nil {
			u.giveBack(r.Context(), attempt, nil)
			u.serverError(w, r, "load client", err)
			return
		}
	}
	step, err := u.secondFactorDue(r.Context(), user, client)
	if err != nil {
		u.giveBack(r.Context(), attempt, nil)
		u.serverError(w, r, "second factors", err)
		return
	}
	if step != mfa.Done {
		u.giveBack(r.Context(), attempt, nil)
		u.beginSecondFactor(w, r, pendingStart{user: user, ar: ar, remember: remember, amr: []string{mfa.AMRPassword}, step: step})
		return
	}
	u.giveBack(r.Context(), attempt, []string{acctKey})
	next, ok := u.completeSignIn(w, r, user, ar, remember, []string{mfa.AMRPassword})
	if ok {
		// 303, never 307: the browser must not re-post the credentials.
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

// completeSignIn starts the session of a user who has given every factor
// due (amr), ends the browser's previous session, completes ar (nil for a
// sign-in to the account page) and returns where the browser goes next.
// It writes the answer itself when it returns ok=false.
func (u *UI) completeSignIn(w http.ResponseWriter, r *http.Request, user *storage.User, ar *storage.AuthRequest, remember bool, amr []string) (next string, ok bool) {
	// The application joins the new session only when it gets its code
	// without a consent page; otherwise it joins when the user allows it,
	// or never when the user may not use it (Config.JoinLater).
	join := ar != nil
	if join && u.cfg.JoinLater != nil {
		later, err := u.cfg.JoinLater(r.Context(), ar, user.ID)
		if err != nil {
			u.serverError(w, r, "consent lookup", err)
			return "", false
		}
		join = !later
	}

	value, err := u.randomToken()
	if err != nil {
		u.serverError(w, r, "session id", err)
		return "", false
	}
	// A new session at every sign-in: the browser's previous session, if
	// any, ends like any other, so the applications signed in through it
	// get logout tokens naming the sid their ID tokens carry (a sid names
	// one session, Back-Channel Logout §2.4). They sign in again through
	// the new session, silently, on their next authorization request.
	if old := cookieValue(r, SessionCookie); old != "" {
		why := signout.Reason{Actor: audit.ActorUser, IP: u.ClientIP(r), Detail: "replaced by a new sign-in"}
		if _, err := u.endSessions(r.Context(), []string{Hash(old)}, why); err != nil {
			u.serverError(w, r, "end previous session", err)
			return "", false
		}
	}
	var clients []string
	if join {
		clients = []string{ar.ClientID}
	}
	s := u.newSession(r, Hash(value), user, remember, clients)
	s.AMR = amr
	if err := u.store.CreateSession(r.Context(), s); err != nil {
		u.serverError(w, r, "create session", err)
		return "", false
	}
	u.setSessionCookie(w, value, s)
	// The pre-login browser binding is replaced too, so nothing that was
	// known before the sign-in still identifies the signed-in browser.
	if _, err := u.renewBrowserCookie(w); err != nil {
		u.serverError(w, r, "browser cookie", err)
		return "", false
	}
	u.record(r.Context(), storage.AuditEvent{Kind: EventSignIn, UserID: user.ID, ClientID: clientOf(ar), SessionID: s.ID, IP: s.IP,
		Detail: "amr=" + strings.Join(amr, ",")})

	if ar == nil {
		return u.returnTarget(w, r), true
	}
	return u.completeAuthRequest(w, r, ar, storage.Login{UserID: user.ID, SessionID: s.ID, AuthTime: s.AuthTime, AMR: s.AMR})
}

// completeAuthRequest records login on ar and returns the callback URL
// that issues its code.
func (u *UI) completeAuthRequest(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest, login storage.Login) (string, bool) {
	err := u.store.CompleteAuthRequest(r.Context(), ar.ID, login, u.now())
	if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrConflict) {
		u.RenderError(r.Context(), w, http.StatusBadRequest, "This sign-in link has expired",
			"You are signed in, but this sign-in request is no longer valid. Go back to the application and start again.", "")
		return "", false
	}
	if err != nil {
		u.serverError(w, r, "complete auth request", err)
		return "", false
	}
	return u.cfg.CallbackURL(ar.ID), true
}

func (u *UI) rememberDays() int { return int(u.cfg.RememberFor / (24 * time.Hour)) }

func waitText(secs int) string {
	if secs >= 120 {
		return fmt.Sprintf("%d minutes", (secs+59)/60)
	}
	if secs == 1 {
		return "1 second"
	}
	return fmt.Sprintf("%d seconds", secs)
}

func clientOf(ar *storage.AuthRequest) string {
	if ar == nil {
		return ""
	}
	return ar.ClientID
}

var (
	errBadCredentials = errors.New("bad credentials")
	errBusy           = errors.New("too many concurrent password checks")
)

// checkPassword returns the enabled user whose password matches. Unknown
// user, wrong password and disabled user all return errBadCredentials after
// the same work: the stored hash's, or for an unknown user a hash with the
// current parameters (Config.PasswordHashing). (A user whose hash was imported, bcrypt or argon2id
// with other parameters, costs what that hash costs until their first
// sign-in replaces it.) A matching hash that NeedsRehash is replaced by
// one with the current parameters (upgradeHash) before the user is
// returned.
func (u *UI) checkPassword(ctx context.Context, username, password string) (*storage.User, error) {
	if len(password) > MaxPasswordBytes || len(username) > 256 || username == "" || password == "" {
		return nil, errBadCredentials
	}
	user, err := u.store.UserByUsername(ctx, username)
	hash := u.dummyHash
	switch {
	case err == nil:
		hash = user.PasswordHash
	case errors.Is(err, storage.ErrNotFound):
		user = nil
	default:
		return nil, err
	}
	select {
	case u.hashSlots <- struct{}{}:
	case <-time.After(2 * time.Second):
		return nil, errBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-u.hashSlots }()
	ok, verr := u.verify(hash, password)
	if verr != nil {
		return nil, verr
	}
	if !ok || user == nil || user.Disabled {
		return nil, errBadCredentials
	}
	if NeedsRehash(hash, u.cfg.PasswordHashing) {
		u.upgradeHash(ctx, user, password)
	}
	return user, nil
}

// upgradeHash replaces the user's matching hash (bcrypt, or argon2id with
// weaker parameters) by an argon2id hash of password with the current
// parameters, in the caller's hash slot, and only while the stored hash is
// still the one checked (a password changed meanwhile stays). The sign-in
// goes on whatever happens: a failure is logged, and the old hash stays
// to be replaced at the next sign-in.
func (u *UI) upgradeHash(ctx context.Context, user *storage.User, password string) {
	from := strings.SplitN(user.PasswordHash, "$", 3)[1]
	next, err := HashPassword(password, u.cfg.PasswordHashing, u.random)
	if err != nil {
		u.log.WarnContext(ctx, "password hash not upgraded", "user", user.ID, "from", from, "error", err.Error())
		return
	}
	now := u.now()
	replaced, err := u.store.ReplacePasswordHash(ctx, user.ID, user.PasswordHash, next, now)
	switch {
	case err != nil:
		u.log.WarnContext(ctx, "password hash not upgraded", "user", user.ID, "from", from, "error", err.Error())
	case replaced:
		user.PasswordHash, user.UpdatedAt = next, now
		u.log.InfoContext(ctx, "password hash upgraded to argon2id", "user", user.ID, "from", from)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ClientIP is the address of the browser that sent r, as the throttle,
// sessions and the audit trail record it: the TCP peer, or behind a
// trusted proxy the client it names (Config.ClientIP). "" when unknown.
func (u *UI) ClientIP(r *http.Request) string {
	if a := u.cfg.ClientIP.ClientIP(r); a.IsValid() {
		return a.String()
	}
	return ""
}
