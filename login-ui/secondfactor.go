package loginui

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// The second step of a sign-in. After a right password, a user with a
// second factor (or one who must set one up) is not signed in: a pending
// sign-in (storage.PendingSignIn, never a session) is stored for 10
// minutes and named by its own cookie, and the browser goes to
// /login/factor (or /login/enrol). Only when the factor is given is the
// pending sign-in taken (once, atomically) and the session started, or, for
// a step-up, the existing session's factors grown. Wrong codes count
// toward the password's throttling limits (the account's and the IP's),
// whose account counter is cleared only by a complete sign-in.

// secondFactorStore is what the second-factor steps need from storage.
type secondFactorStore interface {
	storage.SecondFactors
	storage.PendingSignIns
	storage.SessionAuthenticator
}

// PendingCookie names the pending sign-in between the password and the
// second factor.
const PendingCookie = "__Host-gatehouse-signin"

const (
	pendingTTL = 10 * time.Minute
	// freshAuth is how recent the session's last authentication must be
	// for the user to change their factors.
	freshAuth = 5 * time.Minute
	// enrolTTL bounds how long a QR code shown for setting up a one-time
	// code stays usable.
	enrolTTL = 15 * time.Minute
)

// Audit events of second factors.
const (
	EventFactorEnrolled     = "mfa_enrolled"       // a second factor set up (Detail: method)
	EventFactorRemoved      = "mfa_removed"        // a second factor removed by its user
	EventFactorUsed         = "mfa_used"           // a second factor given at sign-in or step-up
	EventFactorFailed       = "mfa_failed"         // a wrong or replayed code
	EventRecoveryCodeUsed   = "recovery_code_used" // Detail: how many are left
	EventRecoveryCodesReset = "recovery_codes_generated"
	EventReauthenticated    = "reauthenticated" // a fresh authentication before changing factors
)

// Sealer seals one-time-code secrets under the key-encryption key
// (keys.Sealer).
type Sealer interface {
	Seal(plaintext, associatedData []byte) ([]byte, error)
	Open(sealed, associatedData []byte) ([]byte, error)
	KEKID() string
}

// secondFactorDue says what the sign-in of user to client (nil: the
// account page) needs after the password.
func (u *UI) secondFactorDue(ctx context.Context, user *storage.User, client *storage.Client) (mfa.Step, error) {
	if u.cfg.MFA == mfa.Off {
		return mfa.Done, nil
	}
	enrolled, err := u.hasSecondFactor(ctx, user.ID)
	if err != nil {
		return mfa.Done, err
	}
	return mfa.Due(u.cfg.MFA, enrolled, client != nil && client.RequireMFA), nil
}

// hasSecondFactor reports whether the user has a one-time code or a
// passkey (the passkeys are read only without a code).
func (u *UI) hasSecondFactor(ctx context.Context, userID string) (bool, error) {
	if ok, err := u.hasTOTP(ctx, userID); ok || err != nil {
		return ok, err
	}
	return u.hasPasskeys(ctx, userID)
}

func (u *UI) hasTOTP(ctx context.Context, userID string) (bool, error) {
	_, err := u.store.TOTP(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// pendingStart is what a pending sign-in starts from.
type pendingStart struct {
	user     *storage.User
	ar       *storage.AuthRequest // nil: the account page
	session  string               // a step-up's session id, else ""
	remember bool
	amr      []string
	authTime time.Time // the first factor's; zero means now
	step     mfa.Step
}

// beginSecondFactor stores a pending sign-in, sets its cookie and sends the
// browser to the second factor's page.
func (u *UI) beginSecondFactor(w http.ResponseWriter, r *http.Request, st pendingStart) {
	value, err := u.randomToken()
	if err != nil {
		u.serverError(w, r, "pending sign-in id", err)
		return
	}
	browser, err := u.browserCookie(w, r)
	if err != nil {
		u.serverError(w, r, "browser cookie", err)
		return
	}
	now := u.now()
	authTime := st.authTime
	if authTime.IsZero() {
		authTime = now
	}
	p := &storage.PendingSignIn{
		ID: Hash(value), UserID: st.user.ID, BrowserHash: Hash(browser), SessionID: st.session,
		Remember: st.remember, AMR: st.amr, AuthTime: authTime, CreatedAt: now, ExpiresAt: now.Add(pendingTTL),
	}
	if st.ar != nil {
		p.AuthRequestID = st.ar.ID
	}
	if err := u.store.CreatePendingSignIn(r.Context(), p); err != nil {
		u.serverError(w, r, "store pending sign-in", err)
		return
	}
	setCookie(w, PendingCookie, value)
	to := "/login/factor"
	if st.step == mfa.Enrol {
		to = "/login/enrol"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// pendingFor loads the browser's pending sign-in, its user and its auth
// request (nil for the account page). It writes the answer itself when it
// returns ok=false.
func (u *UI) pendingFor(w http.ResponseWriter, r *http.Request) (p *storage.PendingSignIn, user *storage.User, ar *storage.AuthRequest, client *storage.Client, ok bool) {
	expired := func() {
		clearCookie(w, PendingCookie)
		u.RenderError(r.Context(), w, http.StatusBadRequest, "This sign-in has expired",
			"Too much time passed, or the sign-in was finished in another tab. Start signing in again.", "")
	}
	v := cookieValue(r, PendingCookie)
	if v == "" {
		expired()
		return nil, nil, nil, nil, false
	}
	p, err := u.store.PendingSignIn(r.Context(), Hash(v), u.now())
	if errors.Is(err, storage.ErrNotFound) {
		expired()
		return nil, nil, nil, nil, false
	}
	if err != nil {
		u.serverError(w, r, "load pending sign-in", err)
		return nil, nil, nil, nil, false
	}
	if !u.SameBrowser(r, p.BrowserHash) {
		expired()
		return nil, nil, nil, nil, false
	}
	user, err = u.store.UserByID(r.Context(), p.UserID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && user.Disabled) {
		expired()
		return nil, nil, nil, nil, false
	}
	if err != nil {
		u.serverError(w, r, "load user", err)
		return nil, nil, nil, nil, false
	}
	// A user changed since the password step (a password reset or change,
	// an operator's update) starts again: the password checked may be the
	// old one, and nothing keeps a list of pending sign-ins per user.
	if user.UpdatedAt.After(p.CreatedAt) {
		expired()
		return nil, nil, nil, nil, false
	}
	if p.AuthRequestID != "" {
		if ar, client, ok = u.authRequestFor(w, r, p.AuthRequestID, cookieValue(r, BrowserCookie)); !ok {
			return nil, nil, nil, nil, false
		}
	}
	return p, user, ar, client, true
}

type factorData struct {
	Title      string
	ClientName string
	CSRF       string
	Error      string
	// Recovery shows the recovery-code form first.
	Recovery bool
	StepUp   bool
	// TOTP shows the one-time code form; Passkey runs "Use a passkey".
	TOTP    bool
	Passkey *passkeyForm
}

func (u *UI) factorPage(w http.ResponseWriter, r *http.Request) {
	p, user, _, client, ok := u.pendingFor(w, r)
	if !ok {
		return
	}
	u.renderFactor(w, r, http.StatusOK, p, user, client, func(*factorData) {})
}

// renderFactor renders the second step's page with what the user has: the
// one-time code form, a passkey ceremony, the recovery code form; adjust
// sets what the answer adds (an error, the form shown first).
func (u *UI) renderFactor(w http.ResponseWriter, r *http.Request, status int, p *storage.PendingSignIn, user *storage.User, client *storage.Client, adjust func(*factorData)) {
	d := factorData{Title: "Two-step verification", CSRF: u.csrfToken("factor", cookieValue(r, PendingCookie), ""), StepUp: p.SessionID != ""}
	if client != nil {
		d.ClientName = client.Name
	}
	var err error
	if d.TOTP, err = u.hasTOTP(r.Context(), user.ID); err != nil {
		u.serverError(w, r, "second factors", err)
		return
	}
	if d.Passkey, err = u.factorPasskeyForm(r.Context(), p, user); err != nil {
		u.serverError(w, r, "passkey ceremony", err)
		return
	}
	adjust(&d)
	csp := ""
	if d.Passkey != nil {
		csp = passkeyCSP
	}
	u.renderWith(r.Context(), w, status, "factor", d, csp)
}

// factor checks the second factor of a pending sign-in: a one-time code
// (method totp) or a recovery code (method recovery).
func (u *UI) factor(w http.ResponseWriter, r *http.Request) {
	if !u.postedForm(w, r, "factor", PendingCookie, "") {
		return
	}
	p, user, ar, client, ok := u.pendingFor(w, r)
	if !ok {
		return
	}
	method := r.PostForm.Get("method")
	answer := func(status int, msg string) {
		u.renderFactor(w, r, status, p, user, client, func(d *factorData) { d.Error, d.Recovery = msg, method == "recovery" })
	}

	limits := u.throttleLimits(user.Username, r)
	ipKey, acctKey := limits[0].Key, limits[1].Key
	attempt, ok := u.reserveAttempt(w, r, limits, func(secs int) {
		u.record(r.Context(), storage.AuditEvent{Kind: EventSignInThrottled, UserID: user.ID, ClientID: clientOf(ar), IP: u.ClientIP(r), Detail: ipKey})
		answer(http.StatusTooManyRequests, fmt.Sprintf("Too many wrong codes. Wait %s, then try again.", waitText(secs)))
	})
	if !ok {
		return
	}
	var (
		amrMethod, detail string
		err               error
	)
	switch method {
	case "totp":
		amrMethod, detail, err = mfa.AMROTP, "method=totp", u.checkTOTP(r.Context(), user.ID, r.PostForm.Get("code"))
	case "recovery":
		var left int
		amrMethod = mfa.AMROTP
		left, err = u.spendRecoveryCode(r.Context(), user.ID, r.PostForm.Get("code"))
		detail = "method=recovery_code left=" + strconv.Itoa(left)
	case "passkey":
		amrMethod, detail, err = u.factorPasskey(r, p, user)
	default:
		u.giveBack(r.Context(), attempt, nil)
		u.RenderError(r.Context(), w, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
		return
	}
	switch {
	case errors.Is(err, errBusy):
		u.giveBack(r.Context(), attempt, nil)
		w.Header().Set("Retry-After", "2")
		u.RenderError(r.Context(), w, http.StatusServiceUnavailable, "Too many sign-ins right now",
			"Gatehouse is busy. Please try again in a few seconds.", "")
		return
	case errors.Is(err, errWrongCode), errors.Is(err, errCodeReplayed):
		// The attempt stays counted: it is a failure.
		u.record(r.Context(), storage.AuditEvent{Kind: EventFactorFailed, UserID: user.ID, ClientID: clientOf(ar), IP: u.ClientIP(r),
			Detail: "method=" + method + " " + err.Error()})
		msg := "That code is not right. Check it and try again."
		switch {
		case errors.Is(err, errCodeReplayed):
			msg = "That code was used already. Wait for your app to show the next one."
		case method == "passkey":
			msg = "That passkey could not be checked. Try again, or use another way."
		}
		answer(http.StatusOK, msg)
		return
	case err != nil:
		u.giveBack(r.Context(), attempt, nil)
		u.serverError(w, r, "check second factor", err)
		return
	}
	u.finishSecondFactor(w, r, p, user, ar, attempt, acctKey, amrMethod, detail, nil)
}

// finishSecondFactor completes a pending sign-in whose second factor was
// just given: it takes the pending sign-in (once), clears the account's
// throttling counter, then starts the session or steps up the existing
// one, and sends the browser on. With codes (new recovery codes) it shows
// them first, with a link to go on.
func (u *UI) finishSecondFactor(w http.ResponseWriter, r *http.Request, p *storage.PendingSignIn, user *storage.User, ar *storage.AuthRequest,
	attempt *storage.LoginAttempt, acctKey, method, detail string, codes []string) {
	if _, err := u.store.TakePendingSignIn(r.Context(), p.ID, u.now()); err != nil {
		if attempt != nil {
			u.giveBack(r.Context(), attempt, nil)
		}
		if errors.Is(err, storage.ErrNotFound) {
			clearCookie(w, PendingCookie)
			u.RenderError(r.Context(), w, http.StatusBadRequest, "This sign-in has expired",
				"It was finished in another tab, or too much time passed. Start signing in again.", "")
			return
		}
		u.serverError(w, r, "take pending sign-in", err)
		return
	}
	if attempt != nil {
		u.giveBack(r.Context(), attempt, []string{acctKey})
	}
	clearCookie(w, PendingCookie)
	amr := mfa.WithFactor(p.AMR, method)
	u.record(r.Context(), storage.AuditEvent{Kind: EventFactorUsed, UserID: user.ID, ClientID: clientOf(ar), SessionID: p.SessionID, IP: u.ClientIP(r), Detail: detail})

	var next string
	var ok bool
	if p.SessionID != "" {
		next, ok = u.stepUp(w, r, p, user, ar, amr)
	} else {
		next, ok = u.completeSignIn(w, r, user, ar, p.Remember, amr)
	}
	if !ok {
		return
	}
	if len(codes) > 0 {
		u.renderRecoveryCodes(w, r, codes, next)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// stepUp grows the factors of the live session p names to amr (the same
// session, a new auth_time) and completes ar with it.
func (u *UI) stepUp(w http.ResponseWriter, r *http.Request, p *storage.PendingSignIn, user *storage.User, ar *storage.AuthRequest, amr []string) (string, bool) {
	now := u.now()
	if !u.SameSession(r, p.SessionID) {
		u.RenderError(r.Context(), w, http.StatusBadRequest, "This sign-in has expired",
			"You signed out or in meanwhile. Start signing in again.", "")
		return "", false
	}
	err := u.store.AuthenticateSession(r.Context(), p.SessionID, now, amr, now)
	if errors.Is(err, storage.ErrNotFound) {
		u.RenderError(r.Context(), w, http.StatusBadRequest, "This sign-in has expired",
			"Your session ended meanwhile. Start signing in again.", "")
		return "", false
	}
	if err != nil {
		u.serverError(w, r, "step up session", err)
		return "", false
	}
	if ar == nil {
		return u.returnTarget(w, r), true
	}
	s, _, err := u.CurrentSession(r.Context(), r)
	if errors.Is(err, ErrNoSession) {
		u.RenderError(r.Context(), w, http.StatusBadRequest, "This sign-in has expired",
			"Your session ended meanwhile. Start signing in again.", "")
		return "", false
	}
	if err != nil {
		u.serverError(w, r, "session lookup", err)
		return "", false
	}
	return u.answerWithSession(w, r, s, ar)
}

// canStepUp reports whether session s may answer ar once it has a second
// factor: ar does not ask for a new sign-in (prompt=login or
// select_account), its max_age has not passed, and a verified
// id_token_hint names the session's user.
func (u *UI) canStepUp(s *storage.Session, ar *storage.AuthRequest) bool {
	if slices.Contains(ar.Prompt, "login") || slices.Contains(ar.Prompt, "select_account") {
		return false
	}
	if ar.MaxAge != nil && u.now().Sub(s.AuthTime) > time.Duration(*ar.MaxAge)*time.Second {
		return false
	}
	return ar.HintSubject == "" || ar.HintSubject == s.UserID
}

// startStepUp asks the session's user for their second factor (or has
// them set one up when one is required) before ar is answered. A request
// that only wished for the multi-factor class, from a user with no second
// factor, is answered by the session as it is (its acr says so).
func (u *UI) startStepUp(w http.ResponseWriter, r *http.Request, s *storage.Session, user *storage.User, ar *storage.AuthRequest, client *storage.Client) {
	step, err := u.secondFactorDue(r.Context(), user, client)
	if err != nil {
		u.serverError(w, r, "second factors", err)
		return
	}
	if step == mfa.Done {
		next, ok := u.answerWithSession(w, r, s, ar)
		if ok {
			http.Redirect(w, r, next, http.StatusSeeOther)
		}
		return
	}
	u.beginSecondFactor(w, r, pendingStart{user: user, ar: ar, session: s.ID, remember: s.Remember, amr: s.AMR, authTime: s.AuthTime, step: step})
}

// answerWithSession completes ar with the live session s (its user, factors
// and auth_time); the application joins the session unless it still needs
// the user's consent (it joins when they allow it) or may not be used by
// them at all (Config.JoinLater).
func (u *UI) answerWithSession(w http.ResponseWriter, r *http.Request, s *storage.Session, ar *storage.AuthRequest) (string, bool) {
	join := true
	if u.cfg.JoinLater != nil {
		later, err := u.cfg.JoinLater(r.Context(), ar, s.UserID)
		if err != nil {
			u.serverError(w, r, "consent lookup", err)
			return "", false
		}
		join = !later
	}
	if join {
		if err := u.RecordUse(r.Context(), r, s, ar.ClientID); err != nil {
			if errors.Is(err, ErrNoSession) {
				u.RenderError(r.Context(), w, http.StatusBadRequest, "This sign-in has expired",
					"Your session ended meanwhile. Start signing in again.", "")
				return "", false
			}
			u.serverError(w, r, "record session use", err)
			return "", false
		}
	}
	return u.completeAuthRequest(w, r, ar, storage.Login{UserID: s.UserID, SessionID: s.ID, AuthTime: s.AuthTime, AMR: s.AMR})
}

// factorPasskey checks a passkey given as the second step of p: it
// returns the key's amr method and the audit detail.
func (u *UI) factorPasskey(r *http.Request, p *storage.PendingSignIn, user *storage.User) (string, string, error) {
	if u.passkeys == nil {
		return "", "", errWrongCode
	}
	response, ok := credentialField(r)
	if !ok {
		return "", "", errWrongCode
	}
	c, err := u.takeCeremony(r.Context(), r.PostForm.Get("ceremony"), ceremonyFactor, user.ID, p.ID)
	if errors.Is(err, errCeremony) {
		return "", "", errWrongCode
	}
	if err != nil {
		return "", "", err
	}
	a, err := u.checkPasskey(r.Context(), r, user, false, c, response)
	if err != nil {
		return "", "", err
	}
	return a.Method, "method=passkey", nil
}

var (
	errWrongCode    = errors.New("wrong code")
	errCodeReplayed = errors.New("code used before")
)

// checkTOTP accepts code if it is the user's one-time code of a step
// later than the last one accepted (RFC 6238 §5.2: each code once).
func (u *UI) checkTOTP(ctx context.Context, userID, code string) error {
	c, err := u.store.TOTP(ctx, userID)
	if errors.Is(err, storage.ErrNotFound) {
		return errWrongCode
	}
	if err != nil {
		return err
	}
	secret, err := u.cfg.Sealer.Open(c.SealedSecret, totpAD(userID))
	if err != nil {
		return fmt.Errorf("open one-time-code secret: %w", err)
	}
	step, err := mfa.MatchTOTP(string(secret), code, u.now())
	if errors.Is(err, mfa.ErrBadCode) {
		return errWrongCode
	}
	if err != nil {
		return err
	}
	if step <= c.LastStep {
		return errCodeReplayed
	}
	switch err := u.store.UseTOTPStep(ctx, userID, step, u.now()); {
	case errors.Is(err, storage.ErrConflict):
		return errCodeReplayed // taken by a concurrent sign-in
	case errors.Is(err, storage.ErrNotFound):
		return errWrongCode // removed meanwhile
	default:
		return err
	}
}

// totpAD is the associated data a user's sealed secret is bound to (see
// storage.TOTPAssociatedData, which a KEK rewrap uses too).
func totpAD(userID string) []byte { return storage.TOTPAssociatedData(userID) }

// spendRecoveryCode checks a recovery code and spends it; it returns how
// many codes the user has left.
func (u *UI) spendRecoveryCode(ctx context.Context, userID, input string) (int, error) {
	id, code, err := mfa.ParseRecoveryCode(input)
	if err != nil {
		return 0, errWrongCode
	}
	rc, err := u.store.RecoveryCode(ctx, userID, id)
	hash := u.dummyHash
	switch {
	case err == nil:
		hash = rc.Hash
	case !errors.Is(err, storage.ErrNotFound):
		return 0, err
	}
	// The same argon2id work whether or not a code has this ID.
	match, err := u.verifySlot(ctx, hash, code)
	if err != nil {
		return 0, err
	}
	if rc == nil || !match {
		return 0, errWrongCode
	}
	switch err := u.store.UseRecoveryCode(ctx, userID, id); {
	case errors.Is(err, storage.ErrNotFound):
		return 0, errWrongCode // spent by a concurrent sign-in
	case err != nil:
		return 0, err
	}
	left, err := u.store.RecoveryCodesLeft(ctx, userID)
	if err != nil {
		left = -1
	}
	u.record(ctx, storage.AuditEvent{Kind: EventRecoveryCodeUsed, UserID: userID, Detail: "left=" + strconv.Itoa(left)})
	return left, nil
}

// verifySlot checks secret against an argon2id hash within the UI's bound
// on concurrent hash checks (errBusy when none frees up in 2 s).
func (u *UI) verifySlot(ctx context.Context, hash, secret string) (bool, error) {
	select {
	case u.hashSlots <- struct{}{}:
	case <-time.After(2 * time.Second):
		return false, errBusy
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-u.hashSlots }()
	return u.verify(hash, secret)
}

// newRecoveryCodes makes a new set for the user, replacing the old one,
// and returns the codes to show once.
func (u *UI) newRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes, err := mfa.NewRecoveryCodes(mfa.RecoveryCodeCount, u.random)
	if err != nil {
		return nil, err
	}
	rows := make([]storage.RecoveryCode, len(codes))
	now := u.now()
	for i, c := range codes {
		h, err := HashPassword(c, DefaultArgon2Params, u.random)
		if err != nil {
			return nil, err
		}
		rows[i] = storage.RecoveryCode{UserID: userID, ID: c[:4], Hash: h, CreatedAt: now}
	}
	if err := u.store.SetRecoveryCodes(ctx, userID, rows); err != nil {
		return nil, err
	}
	u.record(ctx, storage.AuditEvent{Kind: EventRecoveryCodesReset, UserID: userID, Detail: "count=" + strconv.Itoa(len(codes))})
	return codes, nil
}

type codesData struct {
	Title string
	Codes []string
	Next  string
}

// renderRecoveryCodes shows new recovery codes, once, with a link on.
func (u *UI) renderRecoveryCodes(w http.ResponseWriter, r *http.Request, codes []string, next string) {
	u.render(r.Context(), w, http.StatusOK, "codes", codesData{Title: "Your recovery codes", Codes: codes, Next: next})
}

type enrolData struct {
	Title      string
	ClientName string
	Action     string
	CSRF       string
	Error      string
	Secret     string // grouped for typing
	QR         template.URL
	Sealed     string
	Required   bool
	// Passkey offers a passkey instead (a set-up during sign-in).
	Passkey *passkeyForm
}

// newEnrolment draws a one-time-code key for user and seals it into the
// form (bound to what binds the form: the pending sign-in or the session,
// and valid for enrolTTL), so nothing is stored until the user proves it
// with a code.
func (u *UI) newEnrolment(user *storage.User, bind string) (secret string, qr template.URL, sealed string, err error) {
	k, err := mfa.NewTOTPKey(u.cfg.TOTPIssuer, user.Username, u.random)
	if err != nil {
		return "", "", "", err
	}
	if qr, err = qrDataURL(k); err != nil {
		return "", "", "", err
	}
	plain := k.Secret + " " + strconv.FormatInt(u.now().Add(enrolTTL).Unix(), 10)
	box, err := u.cfg.Sealer.Seal([]byte(plain), enrolAD(user.ID, bind))
	if err != nil {
		return "", "", "", err
	}
	return k.Secret, qr, base64.RawURLEncoding.EncodeToString(box), nil
}

func enrolAD(userID, bind string) []byte { return []byte("totp-enrol:" + userID + ":" + bind) }

// openEnrolment returns the secret sealed by newEnrolment, if the form is
// still valid.
func (u *UI) openEnrolment(userID, bind, sealed string) (string, bool) {
	box, err := base64.RawURLEncoding.DecodeString(sealed)
	if err != nil || len(sealed) > 1024 {
		return "", false
	}
	plain, err := u.cfg.Sealer.Open(box, enrolAD(userID, bind))
	if err != nil {
		return "", false
	}
	secret, exp, ok := strings.Cut(string(plain), " ")
	n, err := strconv.ParseInt(exp, 10, 64)
	if !ok || err != nil || !u.now().Before(time.Unix(n, 0)) {
		return "", false
	}
	return secret, true
}

// saveTOTP proves a new key with code and stores it as the user's
// generator, sealed, with the code's step spent.
func (u *UI) saveTOTP(ctx context.Context, userID, secret, code string) error {
	step, err := mfa.MatchTOTP(secret, code, u.now())
	if errors.Is(err, mfa.ErrBadCode) {
		return errWrongCode
	}
	if err != nil {
		return err
	}
	sealed, err := u.cfg.Sealer.Seal([]byte(secret), totpAD(userID))
	if err != nil {
		return err
	}
	now := u.now()
	return u.store.SetTOTP(ctx, &storage.TOTPCredential{
		UserID: userID, SealedSecret: sealed, KEKID: u.cfg.Sealer.KEKID(), LastStep: step, CreatedAt: now, LastUsedAt: now,
	})
}

// groupSecret spaces a base32 secret in fours, for typing.
func groupSecret(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// renderEnrol shows the set-up page: its CSP also allows the data: image
// of the QR code.
func (u *UI) renderEnrol(w http.ResponseWriter, r *http.Request, status int, d enrolData) {
	csp := "img-src 'self' data:"
	if d.Passkey != nil {
		csp += "; " + passkeyCSP
	}
	u.renderWith(r.Context(), w, status, "enrol", d, csp)
}

// enrolPage: a user who must set up a second factor before the sign-in
// completes.
func (u *UI) enrolPage(w http.ResponseWriter, r *http.Request) {
	p, user, _, client, ok := u.pendingFor(w, r)
	if !ok {
		return
	}
	secret, qr, sealed, err := u.newEnrolment(user, p.ID)
	if err != nil {
		u.serverError(w, r, "new one-time-code key", err)
		return
	}
	d := enrolData{Title: "Set up two-step verification", Action: "/login/enrol", Required: true,
		CSRF: u.csrfToken("enrol", cookieValue(r, PendingCookie), ""), Secret: groupSecret(secret), QR: qr, Sealed: sealed}
	if client != nil {
		d.ClientName = client.Name
	}
	if d.Passkey, err = u.enrolPasskeyForm(r.Context(), p, user); err != nil {
		u.serverError(w, r, "passkey ceremony", err)
		return
	}
	u.renderEnrol(w, r, http.StatusOK, d)
}

// enrolPasskeyForm starts adding a passkey as the set-up a sign-in
// requires (nil when passkeys are off), bound to the pending sign-in.
func (u *UI) enrolPasskeyForm(ctx context.Context, p *storage.PendingSignIn, user *storage.User) (*passkeyForm, error) {
	if u.passkeys == nil {
		return nil, nil
	}
	pu, _, err := u.passkeyUser(ctx, user)
	if err != nil {
		return nil, err
	}
	options, state, err := u.passkeys.BeginRegistration(*pu)
	if err != nil {
		return nil, err
	}
	return u.beginCeremony(ctx, ceremonyRegister, user.ID, p.ID, options, state)
}

// enrolPasskey completes a required set-up during sign-in with a passkey:
// it is stored, the first recovery codes are shown, and the sign-in
// completes with it as the second factor.
func (u *UI) enrolPasskey(w http.ResponseWriter, r *http.Request) {
	if !u.postedForm(w, r, "enrol", PendingCookie, "") {
		return
	}
	p, user, ar, _, ok := u.pendingFor(w, r)
	if !ok {
		return
	}
	response, ok := credentialField(r)
	c, err := u.takeCeremony(r.Context(), r.PostForm.Get("ceremony"), ceremonyRegister, user.ID, p.ID)
	if err != nil && !errors.Is(err, errCeremony) {
		u.serverError(w, r, "passkey ceremony", err)
		return
	}
	if !ok || u.passkeys == nil || errors.Is(err, errCeremony) {
		http.Redirect(w, r, "/login/enrol", http.StatusSeeOther) // a new ceremony
		return
	}
	pu, _, err := u.passkeyUser(r.Context(), user)
	if err != nil {
		u.serverError(w, r, "passkeys", err)
		return
	}
	created, err := u.passkeys.FinishRegistration(*pu, c.Data, response)
	if errors.Is(err, mfa.ErrPasskey) {
		u.record(r.Context(), storage.AuditEvent{Kind: EventPasskeyRejected, UserID: user.ID, IP: u.ClientIP(r), Detail: truncate(err.Error(), 256)})
		http.Redirect(w, r, "/login/enrol", http.StatusSeeOther)
		return
	}
	if err != nil {
		u.serverError(w, r, "finish passkey registration", err)
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxPasskeyName {
		name = "Passkey"
	}
	err = u.store.CreatePasskey(r.Context(), &storage.Passkey{ID: created.ID, UserID: user.ID, Name: name, Credential: created.Record,
		SignCount: created.SignCount, CreatedAt: u.now()})
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		u.serverError(w, r, "store passkey", err)
		return
	}
	u.record(r.Context(), storage.AuditEvent{Kind: EventPasskeyAdded, UserID: user.ID, ClientID: clientOf(ar), IP: u.ClientIP(r), Detail: "at=sign_in"})
	codes, err := u.newRecoveryCodes(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "recovery codes", err)
		return
	}
	u.finishSecondFactor(w, r, p, user, ar, nil, "", created.Method, "method=passkey at=enrolment", codes)
}

// enrol completes a required set-up during sign-in: the code proves the
// key, which is stored; the first recovery codes are shown before the
// browser goes on.
func (u *UI) enrol(w http.ResponseWriter, r *http.Request) {
	if !u.postedForm(w, r, "enrol", PendingCookie, "") {
		return
	}
	p, user, ar, client, ok := u.pendingFor(w, r)
	if !ok {
		return
	}
	secret, ok := u.openEnrolment(user.ID, p.ID, r.PostForm.Get("enrolment"))
	if !ok {
		http.Redirect(w, r, "/login/enrol", http.StatusSeeOther) // a new QR code
		return
	}
	if err := u.saveTOTP(r.Context(), user.ID, secret, r.PostForm.Get("code")); err != nil {
		if !errors.Is(err, errWrongCode) {
			u.serverError(w, r, "store one-time-code key", err)
			return
		}
		d := enrolData{Action: "/login/enrol", Required: true}
		if client != nil {
			d.ClientName = client.Name
		}
		u.enrolAgain(w, r, d, user, secret)
		return
	}
	u.record(r.Context(), storage.AuditEvent{Kind: EventFactorEnrolled, UserID: user.ID, ClientID: clientOf(ar), IP: u.ClientIP(r), Detail: "method=totp at=sign_in"})
	codes, err := u.newRecoveryCodes(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "recovery codes", err)
		return
	}
	u.finishSecondFactor(w, r, p, user, ar, nil, "", mfa.AMROTP, "method=totp at=enrolment", codes)
}

// enrolAgain shows the set-up page of secret again after a wrong code:
// the same key and sealed form the browser posted (d says where it posts),
// with the error.
func (u *UI) enrolAgain(w http.ResponseWriter, r *http.Request, d enrolData, user *storage.User, secret string) {
	d.Title, d.CSRF = "Set up two-step verification", r.PostForm.Get("csrf_token")
	d.Secret, d.Sealed = groupSecret(secret), r.PostForm.Get("enrolment")
	d.Error = "That code is not right. Check the time on your phone and enter the code your app shows now."
	if qr, err := u.enrolmentImage(user, secret); err == nil {
		d.QR = qr
	}
	u.renderEnrol(w, r, http.StatusOK, d)
}

// enrolmentImage draws the QR code of a secret being set up again (the
// page shown after a wrong code).
func (u *UI) enrolmentImage(user *storage.User, secret string) (template.URL, error) {
	k, err := mfa.TOTPKeyWithSecret(u.cfg.TOTPIssuer, user.Username, secret)
	if err != nil {
		return "", err
	}
	return qrDataURL(k)
}

// qrDataURL is the key's QR code as a data: URL. It is built here from our
// own PNG; template.URL tells the template it is safe in src (the set-up
// page's CSP allows data: images).
func qrDataURL(k *mfa.TOTPKey) (template.URL, error) {
	png, err := k.QRCodePNG(220)
	if err != nil {
		return "", err
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), nil
}

// endOtherUserSessions ends every session of the user but keep, after a
// change to their factors: a session opened before it must not go on
// without the factor.
func (u *UI) endOtherUserSessions(ctx context.Context, r *http.Request, userID, keep, why string) error {
	sessions, err := u.store.UserSessions(ctx, userID, u.now())
	if err != nil {
		return err
	}
	var ids []string
	for _, s := range sessions {
		if s.ID != keep {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err = u.endSessions(ctx, ids, signout.Reason{Actor: audit.ActorUser, IP: u.ClientIP(r), Detail: why})
	return err
}
