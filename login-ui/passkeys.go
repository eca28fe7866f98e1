package loginui

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Passkeys (WebAuthn, through mfa.Passkeys). A page that runs a ceremony
// carries its options (JSON, in the form's data-options) and a random
// ceremony token in a hidden field; the store keeps the ceremony's state
// under the token's hash, bound to what started it (the session, the
// pending sign-in or the browser), for ceremonyTTL, and gives it back
// once. /assets/passkey.js runs navigator.credentials.create or get,
// puts the browser's answer in the form and submits it: every step is a
// form post, as everywhere else, and the pages work the same without the
// script but for the passkey buttons.

// passkeyStore is what passkeys need from storage.
type passkeyStore interface {
	storage.Passkeys
	storage.WebAuthnCeremonies
}

const (
	ceremonyTTL = 5 * time.Minute
	// maxPasskeyName bounds the name a user gives a passkey.
	maxPasskeyName = 64
	// maxCredentialJSON bounds the browser's answer (a credential id is at
	// most 1023 bytes; attestation is not asked for).
	maxCredentialJSON = 32 << 10
)

// Ceremony kinds.
const (
	ceremonyRegister = "register"
	ceremonyLogin    = "login"  // a sign-in without a password
	ceremonyFactor   = "factor" // a passkey as the second step
)

// Audit events of passkeys.
const (
	EventPasskeyAdded    = "passkey_added"
	EventPasskeyRemoved  = "passkey_removed"
	EventPasskeyRejected = "passkey_rejected"          // an answer that did not verify (Detail: why)
	EventPasskeyCloned   = "passkey_counter_regressed" // the signature counter went backwards
)

// passkeyForm is what a page needs to run a ceremony.
type passkeyForm struct {
	Options  string // JSON for navigator.credentials
	Ceremony string
}

// passkeyUser loads user's passkeys for a ceremony.
func (u *UI) passkeyUser(ctx context.Context, user *storage.User) (*mfa.PasskeyUser, []storage.Passkey, error) {
	keys, err := u.store.UserPasskeys(ctx, user.ID)
	if err != nil {
		return nil, nil, err
	}
	pu := &mfa.PasskeyUser{ID: user.ID, Name: user.Username, DisplayName: user.Name}
	if pu.DisplayName == "" {
		pu.DisplayName = user.Username
	}
	for _, k := range keys {
		pu.Records = append(pu.Records, k.Credential)
	}
	return pu, keys, nil
}

// beginCeremony stores a ceremony's state and returns the form that runs
// it.
func (u *UI) beginCeremony(ctx context.Context, kind, userID, binding string, options, state []byte) (*passkeyForm, error) {
	token, err := u.randomToken()
	if err != nil {
		return nil, err
	}
	now := u.now()
	c := &storage.WebAuthnCeremony{ID: Hash(token), Kind: kind, UserID: userID, Binding: binding, Data: state,
		CreatedAt: now, ExpiresAt: now.Add(ceremonyTTL)}
	if err := u.store.CreateWebAuthnCeremony(ctx, c); err != nil {
		return nil, err
	}
	return &passkeyForm{Options: string(options), Ceremony: token}, nil
}

// errCeremony is a ceremony that is unknown, used, expired, or not this
// one's (another kind, user or binding).
var errCeremony = errors.New("passkey ceremony unknown, used or not this one")

// takeCeremony takes the ceremony of the form's token, once, checking it
// is of kind, for userID and bound to binding.
func (u *UI) takeCeremony(ctx context.Context, token, kind, userID, binding string) (*storage.WebAuthnCeremony, error) {
	if token == "" || len(token) > 64 {
		return nil, errCeremony
	}
	c, err := u.store.TakeWebAuthnCeremony(ctx, Hash(token), u.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errCeremony
	}
	if err != nil {
		return nil, err
	}
	if c.Kind != kind || c.UserID != userID || c.Binding != binding {
		return nil, errCeremony
	}
	return c, nil
}

// credentialField reads the browser's answer from the form.
func credentialField(r *http.Request) ([]byte, bool) {
	v := r.PostForm.Get("credential")
	return []byte(v), v != "" && len(v) <= maxCredentialJSON && utf8.ValidString(v)
}

// hasPasskeys reports whether the user has a passkey.
func (u *UI) hasPasskeys(ctx context.Context, userID string) (bool, error) {
	keys, err := u.store.UserPasskeys(ctx, userID)
	return len(keys) > 0, err
}

// factorPasskeyForm starts the passkey ceremony of a pending sign-in's
// second step, when the user has passkeys (nil otherwise).
func (u *UI) factorPasskeyForm(ctx context.Context, p *storage.PendingSignIn, user *storage.User) (*passkeyForm, error) {
	if u.passkeys == nil {
		return nil, nil
	}
	pu, keys, err := u.passkeyUser(ctx, user)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	options, state, err := u.passkeys.BeginLogin(pu)
	if err != nil {
		return nil, err
	}
	return u.beginCeremony(ctx, ceremonyFactor, user.ID, p.ID, options, state)
}

// checkPasskey verifies a passkey answer to ceremony c by one of user's
// passkeys and records the use (a compare-and-set on the counter read with
// the passkeys). passwordless: the ceremony was a discoverable one, and
// the credential's user handle must name user. It audits a refused answer
// and a counter that went backwards, and returns errWrongCode for either.
func (u *UI) checkPasskey(ctx context.Context, r *http.Request, user *storage.User, passwordless bool, c *storage.WebAuthnCeremony, response []byte) (*mfa.Assertion, error) {
	pu, keys, err := u.passkeyUser(ctx, user)
	if err != nil {
		return nil, err
	}
	owner := pu
	if passwordless {
		owner = nil
	}
	lookup := func(handle string) (*mfa.PasskeyUser, error) {
		if handle != user.ID {
			return nil, errWrongCode
		}
		return pu, nil
	}
	a, err := u.passkeys.FinishLogin(owner, lookup, c.Data, response)
	switch {
	case errors.Is(err, mfa.ErrCounterRegression):
		u.record(ctx, storage.AuditEvent{Kind: EventPasskeyCloned, UserID: user.ID, IP: u.ClientIP(r)})
		return nil, errWrongCode
	case errors.Is(err, mfa.ErrPasskey), errors.Is(err, errWrongCode):
		u.record(ctx, storage.AuditEvent{Kind: EventPasskeyRejected, UserID: user.ID, IP: u.ClientIP(r), Detail: truncate(err.Error(), 256)})
		return nil, errWrongCode
	case err != nil:
		return nil, err
	}
	i := slices.IndexFunc(keys, func(k storage.Passkey) bool { return bytes.Equal(k.ID, a.ID) })
	if i < 0 {
		return nil, errWrongCode // verified against these keys: never
	}
	switch err := u.store.UsePasskey(ctx, a.ID, keys[i].SignCount, a.SignCount, a.Record, u.now()); {
	case errors.Is(err, storage.ErrConflict):
		// Another use was recorded since the record was read: with a
		// counter, this answer's count is no longer ahead of it.
		if a.SignCount != 0 {
			u.record(ctx, storage.AuditEvent{Kind: EventPasskeyCloned, UserID: a.UserID, IP: u.ClientIP(r), Detail: "concurrent use"})
			return nil, errWrongCode
		}
	case errors.Is(err, storage.ErrNotFound):
		return nil, errWrongCode // removed meanwhile
	case err != nil:
		return nil, err
	}
	return a, nil
}

// passkeyLogin signs a user in with a passkey alone (a discoverable
// credential, user verification required): possession of the key and
// the PIN or biometric that unlocked it are two factors.
func (u *UI) passkeyLogin(w http.ResponseWriter, r *http.Request) {
	if !u.postedForm(w, r, "login", BrowserCookie, "id") {
		return
	}
	if u.passkeys == nil {
		u.RenderError(r.Context(), w, http.StatusNotFound, "Not found", "Passkeys are not available here.", "")
		return
	}
	id := r.PostForm.Get("id")
	browser := cookieValue(r, BrowserCookie)
	var ar *storage.AuthRequest
	if id != "" {
		var ok bool
		if ar, _, ok = u.authRequestFor(w, r, id, browser); !ok {
			return
		}
	}
	failed := func(status int, msg string) {
		u.render(r.Context(), w, status, "error", errorPage{Title: "Sign-in with a passkey failed", Message: msg})
	}
	response, ok := credentialField(r)
	if !ok {
		failed(http.StatusBadRequest, "Your browser sent no passkey. Go back and try again, or sign in with your password.")
		return
	}
	c, err := u.takeCeremony(r.Context(), r.PostForm.Get("ceremony"), ceremonyLogin, "", Hash(browser))
	if errors.Is(err, errCeremony) {
		failed(http.StatusBadRequest, "This sign-in page has expired. Go back, reload it and try again.")
		return
	}
	if err != nil {
		u.serverError(w, r, "passkey ceremony", err)
		return
	}
	// The account the credential's user handle names: throttled like a
	// password's, and the only one the answer may sign in.
	var user *storage.User
	if _, handle, err := mfa.CredentialOwner(response); err == nil {
		found, err := u.store.UserByID(r.Context(), handle)
		switch {
		case err == nil && !found.Disabled:
			user = found
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			u.serverError(w, r, "load user", err)
			return
		}
	}
	account := ""
	if user != nil {
		account = user.Username
	}
	limits := u.throttleLimits(account, r)
	attempt, ok := u.reserveAttempt(w, r, limits, func(secs int) {
		failed(http.StatusTooManyRequests, fmt.Sprintf("Too many failed sign-ins. Wait %s, then try again.", waitText(secs)))
	})
	if !ok {
		return
	}
	var a *mfa.Assertion
	if user == nil {
		u.record(r.Context(), storage.AuditEvent{Kind: EventPasskeyRejected, IP: u.ClientIP(r), Detail: "no enabled user has this passkey"})
		err = errWrongCode
	} else {
		a, err = u.checkPasskey(r.Context(), r, user, true, c, response)
	}
	if errors.Is(err, errWrongCode) {
		u.record(r.Context(), storage.AuditEvent{Kind: EventSignInFailed, ClientID: clientOf(ar), IP: u.ClientIP(r), Detail: "passkey"})
		failed(http.StatusOK, "That passkey could not sign you in. Try again, or sign in with your password.")
		return
	}
	if err != nil {
		u.giveBack(r.Context(), attempt, nil)
		u.serverError(w, r, "check passkey", err)
		return
	}
	u.giveBack(r.Context(), attempt, []string{"acct:" + user.Username})
	amr := []string{a.Method}
	if a.UserVerified {
		amr = append(amr, mfa.AMRMulti)
	}
	next, ok := u.completeSignIn(w, r, user, ar, false, amr)
	if ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

type passkeyRow struct {
	ID       string // base64url of the credential id
	Name     string
	Created  time.Time
	LastUsed time.Time
}

func passkeyRows(keys []storage.Passkey) []passkeyRow {
	rows := make([]passkeyRow, len(keys))
	for i, k := range keys {
		rows[i] = passkeyRow{ID: base64.RawURLEncoding.EncodeToString(k.ID), Name: k.Name, Created: k.CreatedAt.UTC(), LastUsed: k.LastUsedAt.UTC()}
	}
	return rows
}

type passkeyNewData struct {
	Title   string
	CSRF    string
	Passkey *passkeyForm
	Name    string
	Error   string
}

// passkeyNewPage starts adding a passkey on the account page.
func (u *UI) passkeyNewPage(w http.ResponseWriter, r *http.Request) {
	s, user, ok := u.passkeySession(w, r)
	if !ok {
		return
	}
	u.renderPasskeyNew(w, r, s, user, http.StatusOK, "", "")
}

// passkeySession is the account session that may add a passkey: passkeys
// work here, and its authentication is fresh (else the browser goes to the
// check). It writes the answer itself when it returns ok=false.
func (u *UI) passkeySession(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, bool) {
	s, user, ok := u.factorsSession(w, r)
	if !ok {
		return nil, nil, false
	}
	if u.passkeys == nil {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return nil, nil, false
	}
	if !u.fresh(s) {
		http.Redirect(w, r, "/account/verify?next=passkey", http.StatusSeeOther)
		return nil, nil, false
	}
	return s, user, true
}

func (u *UI) renderPasskeyNew(w http.ResponseWriter, r *http.Request, s *storage.Session, user *storage.User, status int, name, msg string) {
	pu, _, err := u.passkeyUser(r.Context(), user)
	if err != nil {
		u.serverError(w, r, "passkeys", err)
		return
	}
	options, state, err := u.passkeys.BeginRegistration(*pu)
	if err != nil {
		u.serverError(w, r, "begin passkey registration", err)
		return
	}
	form, err := u.beginCeremony(r.Context(), ceremonyRegister, user.ID, s.ID, options, state)
	if err != nil {
		u.serverError(w, r, "store passkey ceremony", err)
		return
	}
	u.renderWith(r.Context(), w, status, "passkey", passkeyNewData{Title: "Add a passkey", CSRF: u.FormToken(r, "account", ""),
		Passkey: form, Name: name, Error: msg}, passkeyCSP)
}

// passkeyCSP lets a page run /assets/passkey.js, nothing else.
const passkeyCSP = "script-src 'self'"

// passkeyAdd stores the passkey the browser created. The first second
// factor of a user ends their other sessions and brings recovery codes,
// as a one-time code does.
func (u *UI) passkeyAdd(w http.ResponseWriter, r *http.Request) {
	if !u.parseAccountForm(w, r) {
		return
	}
	s, user, ok := u.passkeySession(w, r)
	if !ok {
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if name == "" {
		name = "Passkey"
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxPasskeyName {
		u.renderPasskeyNew(w, r, s, user, http.StatusOK, "", fmt.Sprintf("Give the passkey a name of at most %d characters.", maxPasskeyName))
		return
	}
	response, ok := credentialField(r)
	c, err := u.takeCeremony(r.Context(), r.PostForm.Get("ceremony"), ceremonyRegister, user.ID, s.ID)
	if err != nil && !errors.Is(err, errCeremony) {
		u.serverError(w, r, "passkey ceremony", err)
		return
	}
	if !ok || errors.Is(err, errCeremony) {
		u.renderPasskeyNew(w, r, s, user, http.StatusOK, name, "The passkey was not created. Try again.")
		return
	}
	pu, keys, err := u.passkeyUser(r.Context(), user)
	if err != nil {
		u.serverError(w, r, "passkeys", err)
		return
	}
	created, err := u.passkeys.FinishRegistration(*pu, c.Data, response)
	if errors.Is(err, mfa.ErrPasskey) {
		u.record(r.Context(), storage.AuditEvent{Kind: EventPasskeyRejected, UserID: user.ID, SessionID: s.ID, IP: u.ClientIP(r), Detail: truncate(err.Error(), 256)})
		u.renderPasskeyNew(w, r, s, user, http.StatusOK, name, "Your browser's answer could not be checked, so the passkey was not added. Try again.")
		return
	}
	if err != nil {
		u.serverError(w, r, "finish passkey registration", err)
		return
	}
	enrolled, err := u.hasTOTP(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "second factors", err)
		return
	}
	first := !enrolled && len(keys) == 0
	now := u.now()
	err = u.store.CreatePasskey(r.Context(), &storage.Passkey{ID: created.ID, UserID: user.ID, Name: name, Credential: created.Record,
		SignCount: created.SignCount, CreatedAt: now})
	if errors.Is(err, storage.ErrConflict) {
		u.renderPasskeyNew(w, r, s, user, http.StatusOK, name, "This passkey is registered already.")
		return
	}
	if err != nil {
		u.serverError(w, r, "store passkey", err)
		return
	}
	u.record(r.Context(), storage.AuditEvent{Kind: EventPasskeyAdded, UserID: user.ID, SessionID: s.ID, IP: u.ClientIP(r), Detail: "name=" + truncate(name, 64)})
	if !first {
		http.Redirect(w, r, "/account?done=passkey", http.StatusSeeOther)
		return
	}
	u.factorAdded(w, r, s, user, created.Method, "/account?done=passkey-first")
}

// factorAdded finishes the set-up of a second factor on the account page
// (a user's first passkey, or a one-time code): the user's other sessions
// end (opened without it), this one counts as multi-factor, and recovery
// codes are made when they have none.
func (u *UI) factorAdded(w http.ResponseWriter, r *http.Request, s *storage.Session, user *storage.User, method, next string) {
	if err := u.endOtherUserSessions(r.Context(), r, user.ID, s.ID, "a second factor was set up"); err != nil {
		u.serverError(w, r, "end other sessions", err)
		return
	}
	if err := u.store.AuthenticateSession(r.Context(), s.ID, u.now(), mfa.WithFactor(s.AMR, method), u.now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		u.serverError(w, r, "step up session", err)
		return
	}
	left, err := u.store.RecoveryCodesLeft(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "recovery codes", err)
		return
	}
	if left > 0 {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	codes, err := u.newRecoveryCodes(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "recovery codes", err)
		return
	}
	u.renderRecoveryCodes(w, r, codes, next)
}

// passkeyID reads a passkey's id from a form.
func passkeyID(r *http.Request) ([]byte, bool) {
	id, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("passkey"))
	return id, err == nil && len(id) > 0 && len(id) <= 1023
}

// passkeyRename renames one of the user's passkeys.
func (u *UI) passkeyRename(w http.ResponseWriter, r *http.Request) {
	_, user, ok := u.accountForm(w, r)
	if !ok {
		return
	}
	id, ok := passkeyID(r)
	name := strings.TrimSpace(r.PostForm.Get("name"))
	if !ok || name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxPasskeyName {
		http.Redirect(w, r, "/account?done=passkey-name", http.StatusSeeOther)
		return
	}
	err := u.store.RenamePasskey(r.Context(), user.ID, id, name)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		u.serverError(w, r, "rename passkey", err)
		return
	}
	http.Redirect(w, r, "/account?done=passkey-renamed", http.StatusSeeOther)
}

// passkeyRemove removes one of the user's passkeys, unless it is their
// last second factor and the server requires one.
func (u *UI) passkeyRemove(w http.ResponseWriter, r *http.Request) {
	s, user, ok := u.factorsForm(w, r)
	if !ok {
		return
	}
	id, ok := passkeyID(r)
	if !ok {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	keys, err := u.store.UserPasskeys(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "passkeys", err)
		return
	}
	enrolled, err := u.hasTOTP(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "second factors", err)
		return
	}
	mine := false
	for _, k := range keys {
		mine = mine || bytes.Equal(k.ID, id)
	}
	if mine && !enrolled && len(keys) == 1 && u.cfg.MFA == mfa.Required {
		http.Redirect(w, r, "/account?done=required", http.StatusSeeOther)
		return
	}
	removed, err := u.store.DeletePasskey(r.Context(), user.ID, id)
	if err != nil {
		u.serverError(w, r, "remove passkey", err)
		return
	}
	if removed {
		u.record(r.Context(), storage.AuditEvent{Kind: EventPasskeyRemoved, UserID: user.ID, SessionID: s.ID, IP: u.ClientIP(r)})
		if !enrolled && len(keys) == 1 { // the last second factor: its recovery codes go too
			if _, err := u.store.DeleteRecoveryCodes(r.Context(), user.ID); err != nil {
				u.serverError(w, r, "remove recovery codes", err)
				return
			}
		}
	}
	http.Redirect(w, r, "/account?done=passkey-removed", http.StatusSeeOther)
}

// passkeyLoginForm starts the ceremony of the login page's "Sign in with
// a passkey" (nil when passkeys are off), bound to this browser.
func (u *UI) passkeyLoginForm(ctx context.Context, browser string) (*passkeyForm, error) {
	if u.passkeys == nil || u.cfg.MFA == mfa.Off {
		return nil, nil
	}
	options, state, err := u.passkeys.BeginLogin(nil)
	if err != nil {
		return nil, err
	}
	return u.beginCeremony(ctx, ceremonyLogin, "", Hash(browser), options, state)
}
