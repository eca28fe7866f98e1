package loginui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// The account page's second factors: set up, replace or remove the
// one-time code, make new recovery codes. Every change needs a fresh
// authentication (freshAuth): a session left open on a shared computer
// must not let anyone change how its user signs in. /account/verify gives
// it (the password, and the one-time code of a user who has one).

// factorsView is the account page's "Two-step verification" section.
type factorsView struct {
	Shown     bool // false when mfa is off
	Required  bool
	TOTP      bool
	TOTPSince time.Time
	TOTPUsed  time.Time
	CodesLeft int
	// PasskeysOn: passkeys can be added (off when the issuer's host is an
	// IP address); Passkeys are the user's.
	PasskeysOn bool
	Passkeys   []passkeyRow
}

func (u *UI) factorsView(ctx context.Context, userID string) (factorsView, error) {
	v := factorsView{Shown: u.cfg.MFA != mfa.Off, Required: u.cfg.MFA == mfa.Required}
	if !v.Shown {
		return v, nil
	}
	c, err := u.store.TOTP(ctx, userID)
	switch {
	case err == nil:
		v.TOTP, v.TOTPSince, v.TOTPUsed = true, c.CreatedAt.UTC(), c.LastUsedAt.UTC()
	case !errors.Is(err, storage.ErrNotFound):
		return v, err
	}
	if v.CodesLeft, err = u.store.RecoveryCodesLeft(ctx, userID); err != nil {
		return v, err
	}
	keys, err := u.store.UserPasskeys(ctx, userID)
	if err != nil {
		return v, err
	}
	v.Passkeys, v.PasskeysOn = passkeyRows(keys), u.passkeys != nil
	return v, nil
}

// fresh reports whether the session's last authentication is recent
// enough to change factors.
func (u *UI) fresh(s *storage.Session) bool { return u.now().Sub(s.AuthTime) <= freshAuth }

// verifyTargets are where /account/verify may send the browser back to.
var verifyTargets = map[string]string{"totp": "/account/totp", "passkey": "/account/passkeys/new", "account": "/account?done=verified"}

type verifyData struct {
	Title string
	CSRF  string
	Next  string
	TOTP  bool
	Error string
}

// factorsSession is the account session of a second-factor page or form,
// with its user. It writes the answer itself when it returns ok=false:
// to /login without a session, to /account when factors are off.
func (u *UI) factorsSession(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, bool) {
	if u.cfg.MFA == mfa.Off {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return nil, nil, false
	}
	s, user, err := u.CurrentSession(r.Context(), r)
	if errors.Is(err, ErrNoSession) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return nil, nil, false
	}
	if err != nil {
		u.serverError(w, r, "account session", err)
		return nil, nil, false
	}
	return s, user, true
}

func (u *UI) reauthPage(w http.ResponseWriter, r *http.Request) {
	_, user, ok := u.factorsSession(w, r)
	if !ok {
		return
	}
	next := r.URL.Query().Get("next")
	if _, known := verifyTargets[next]; !known {
		next = "account"
	}
	enrolled, err := u.hasTOTP(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "second factors", err)
		return
	}
	u.render(r.Context(), w, http.StatusOK, "verify", verifyData{Title: "Confirm it is you", CSRF: u.FormToken(r, "verify", ""), Next: next, TOTP: enrolled})
}

// reauth re-authenticates the session's user: the password, and the
// one-time code when they have one. It counts toward the sign-in limits.
func (u *UI) reauth(w http.ResponseWriter, r *http.Request) {
	if !u.postedForm(w, r, "verify", SessionCookie, "") {
		return
	}
	s, user, ok := u.factorsSession(w, r)
	if !ok {
		return
	}
	next := r.PostForm.Get("next")
	if _, known := verifyTargets[next]; !known {
		next = "account"
	}
	enrolled, err := u.hasTOTP(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "second factors", err)
		return
	}
	data := verifyData{Title: "Confirm it is you", CSRF: r.PostForm.Get("csrf_token"), Next: next, TOTP: enrolled}
	limits := u.throttleLimits(user.Username, r)
	attempt, ok := u.reserveAttempt(w, r, limits, func(secs int) {
		data.Error = "Too many failed attempts. Wait " + waitText(secs) + ", then try again."
		u.render(r.Context(), w, http.StatusTooManyRequests, "verify", data)
	})
	if !ok {
		return
	}
	_, err = u.checkPassword(r.Context(), user.Username, r.PostForm.Get("password"))
	if err == nil && enrolled {
		err = u.checkTOTP(r.Context(), user.ID, r.PostForm.Get("code"))
	}
	switch {
	case errors.Is(err, errBusy):
		u.giveBack(r.Context(), attempt, nil)
		w.Header().Set("Retry-After", "2")
		u.RenderError(r.Context(), w, http.StatusServiceUnavailable, "Too many sign-ins right now",
			"Gatehouse is busy. Please try again in a few seconds.", "")
		return
	case errors.Is(err, errBadCredentials), errors.Is(err, errWrongCode), errors.Is(err, errCodeReplayed):
		u.record(r.Context(), storage.AuditEvent{Kind: EventSignInFailed, UserID: user.ID, SessionID: s.ID, IP: u.ClientIP(r), Detail: "reauthentication"})
		data.Error = "That is not right. Check your password"
		if enrolled {
			data.Error += " and the code"
		}
		data.Error += ", and try again."
		u.render(r.Context(), w, http.StatusOK, "verify", data)
		return
	case err != nil:
		u.giveBack(r.Context(), attempt, nil)
		u.serverError(w, r, "reauthenticate", err)
		return
	}
	u.giveBack(r.Context(), attempt, []string{limits[1].Key})
	amr := s.AMR
	if !slices.Contains(amr, mfa.AMRPassword) {
		amr = append(slices.Clone(amr), mfa.AMRPassword)
	}
	if enrolled {
		amr = mfa.WithFactor(amr, mfa.AMROTP)
	}
	if err := u.store.AuthenticateSession(r.Context(), s.ID, u.now(), amr, u.now()); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		u.serverError(w, r, "reauthenticate session", err)
		return
	}
	u.record(r.Context(), storage.AuditEvent{Kind: EventReauthenticated, UserID: user.ID, SessionID: s.ID, IP: u.ClientIP(r)})
	http.Redirect(w, r, verifyTargets[next], http.StatusSeeOther)
}

// totpSetupPage shows a new key to set up (or replace) the one-time code.
func (u *UI) totpSetupPage(w http.ResponseWriter, r *http.Request) {
	s, user, ok := u.factorsSession(w, r)
	if !ok {
		return
	}
	if !u.fresh(s) {
		http.Redirect(w, r, "/account/verify?next=totp", http.StatusSeeOther)
		return
	}
	secret, qr, sealed, err := u.newEnrolment(user, s.ID)
	if err != nil {
		u.serverError(w, r, "new one-time-code key", err)
		return
	}
	u.renderEnrol(w, r, http.StatusOK, enrolData{Title: "Set up two-step verification", Action: "/account/totp",
		CSRF: u.FormToken(r, "enrol", ""), Secret: groupSecret(secret), QR: qr, Sealed: sealed})
}

// totpSetup stores the key the user proved with a code. Every other
// session of the user ends (it was opened without this factor), this one
// counts as multi-factor, and a user without recovery codes gets them.
func (u *UI) totpSetup(w http.ResponseWriter, r *http.Request) {
	if !u.postedForm(w, r, "enrol", SessionCookie, "") {
		return
	}
	s, user, ok := u.factorsSession(w, r)
	if !ok {
		return
	}
	if !u.fresh(s) {
		http.Redirect(w, r, "/account/verify?next=totp", http.StatusSeeOther)
		return
	}
	secret, ok := u.openEnrolment(user.ID, s.ID, r.PostForm.Get("enrolment"))
	if !ok {
		http.Redirect(w, r, "/account/totp", http.StatusSeeOther) // a new QR code
		return
	}
	if err := u.saveTOTP(r.Context(), user.ID, secret, r.PostForm.Get("code")); err != nil {
		if !errors.Is(err, errWrongCode) {
			u.serverError(w, r, "store one-time-code key", err)
			return
		}
		u.enrolAgain(w, r, enrolData{Action: "/account/totp"}, user, secret)
		return
	}
	u.record(r.Context(), storage.AuditEvent{Kind: EventFactorEnrolled, UserID: user.ID, SessionID: s.ID, IP: u.ClientIP(r), Detail: "method=totp at=account"})
	u.factorAdded(w, r, s, user, mfa.AMROTP, "/account?done=totp")
}

// totpRemove removes the one-time code and the recovery codes with it,
// unless the server requires a second factor.
func (u *UI) totpRemove(w http.ResponseWriter, r *http.Request) {
	s, user, ok := u.factorsForm(w, r)
	if !ok {
		return
	}
	passkeys, err := u.hasPasskeys(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "passkeys", err)
		return
	}
	if u.cfg.MFA == mfa.Required && !passkeys {
		http.Redirect(w, r, "/account?done=required", http.StatusSeeOther)
		return
	}
	removed, err := RemoveFactors(r.Context(), u.store, user.ID, true, false)
	if err != nil {
		u.serverError(w, r, "turn off two-step verification", err)
		return
	}
	if removed.TOTP {
		u.record(r.Context(), storage.AuditEvent{Kind: EventFactorRemoved, UserID: user.ID, SessionID: s.ID, IP: u.ClientIP(r), Detail: "method=totp"})
	}
	http.Redirect(w, r, "/account?done=totp-removed", http.StatusSeeOther)
}

// FactorStore is what removing second factors needs from storage.
type FactorStore interface {
	storage.SecondFactors
	UserPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error)
	DeleteUserPasskeys(ctx context.Context, userID string) (int, error)
}

// RemovedFactors says what RemoveFactors removed.
type RemovedFactors struct {
	TOTP          bool
	Passkeys      int
	RecoveryCodes int
}

// RemoveFactors removes the user's one-time code (totp) and every passkey
// (passkeys), and the recovery codes when no second factor is left: they
// back up the factors, and a factor set up later gets a new set only when
// none are left. An error may come after something went; the result says
// what. Turning the code off on the account page and gatehouse users mfa
// reset both remove through here.
func RemoveFactors(ctx context.Context, store FactorStore, userID string, totp, passkeys bool) (RemovedFactors, error) {
	var r RemovedFactors
	var err error
	if totp {
		if r.TOTP, err = store.DeleteTOTP(ctx, userID); err != nil {
			return r, fmt.Errorf("remove one-time code: %w", err)
		}
	}
	if passkeys {
		if r.Passkeys, err = store.DeleteUserPasskeys(ctx, userID); err != nil {
			return r, fmt.Errorf("remove passkeys: %w", err)
		}
	}
	left, err := store.UserPasskeys(ctx, userID)
	if err != nil {
		return r, fmt.Errorf("list passkeys: %w", err)
	}
	_, err = store.TOTP(ctx, userID)
	switch {
	case err == nil || len(left) > 0:
		return r, nil // a factor is left: its recovery codes stay
	case !errors.Is(err, storage.ErrNotFound):
		return r, fmt.Errorf("one-time code: %w", err)
	}
	if r.RecoveryCodes, err = store.DeleteRecoveryCodes(ctx, userID); err != nil {
		return r, fmt.Errorf("remove recovery codes: %w", err)
	}
	return r, nil
}

// recoveryCodesReset makes a new set of recovery codes (the old set dies).
func (u *UI) recoveryCodesReset(w http.ResponseWriter, r *http.Request) {
	_, user, ok := u.factorsForm(w, r)
	if !ok {
		return
	}
	enrolled, err := u.hasSecondFactor(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "second factors", err)
		return
	}
	if !enrolled {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	codes, err := u.newRecoveryCodes(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "recovery codes", err)
		return
	}
	u.renderRecoveryCodes(w, r, codes, "/account")
}

// factorsForm checks a second-factor form of the account page: its CSRF
// token, the session, and a fresh authentication (else the browser goes to
// /account/verify). It writes the answer itself when it returns ok=false.
func (u *UI) factorsForm(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, bool) {
	if !u.parseAccountForm(w, r) {
		return nil, nil, false
	}
	s, user, ok := u.factorsSession(w, r)
	if !ok {
		return nil, nil, false
	}
	if !u.fresh(s) {
		http.Redirect(w, r, "/account/verify?next=account", http.StatusSeeOther)
		return nil, nil, false
	}
	return s, user, true
}
