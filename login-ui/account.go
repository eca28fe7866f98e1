package loginui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// accountStore is what the account page reads and changes, besides ending
// sessions (signout.Store).
type accountStore interface {
	UserSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error)
	UserConsents(ctx context.Context, userID string) ([]storage.Consent, error)
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

type accountData struct {
	Title    string
	User     *storage.User
	AuthTime time.Time
	CSRF     string
	Sessions []sessionRow
	Consents []consentRow
	Factors  factorsView
	Notice   string
}

type sessionRow struct {
	ID       string
	Current  bool
	Device   string
	IP       string
	Created  time.Time
	LastSeen time.Time
	Apps     []string
	Remember bool
}

type consentRow struct {
	ClientID   string
	ClientName string
	Scopes     []string
	Granted    time.Time
}

// accountNotices are the messages the account page shows after an action
// (by key in ?done=, so nothing user-supplied is echoed).
var accountNotices = map[string]string{
	"ended":           "The session was ended. Applications signed in through it have been told.",
	"notfound":        "That session was not found among your other sessions: it may have ended already.",
	"others":          "Every other session was ended.",
	"revoked":         "The application's access was withdrawn.",
	"verified":        "Thank you. For the next 5 minutes you can change how you sign in.",
	"totp":            "Two-step verification is on: signing in now needs a code from your app. Your other sessions were signed out.",
	"totp-removed":    "Two-step verification was removed. Signing in needs only your password now.",
	"required":        "Two-step verification is required here, so your last second factor cannot be removed. Add another first.",
	"passkey":         "The passkey was added.",
	"passkey-first":   "The passkey was added: signing in now needs it (or a recovery code) after your password. Your other sessions were signed out.",
	"passkey-renamed": "The passkey was renamed.",
	"passkey-removed": "The passkey was removed.",
	"passkey-name":    "Give the passkey a name of 1 to 64 characters.",
	"password":        "Your password was changed. Your other sessions were signed out.",
}

func (u *UI) accountPage(w http.ResponseWriter, r *http.Request) {
	s, user, err := u.UseSession(r.Context(), w, r, "")
	if errors.Is(err, ErrNoSession) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if err != nil {
		u.serverError(w, r, "account session", err)
		return
	}
	sessions, err := u.store.UserSessions(r.Context(), user.ID, u.now())
	if err != nil {
		u.serverError(w, r, "list sessions", err)
		return
	}
	consents, err := u.store.UserConsents(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "list consents", err)
		return
	}
	factors, err := u.factorsView(r.Context(), user.ID)
	if err != nil {
		u.serverError(w, r, "second factors", err)
		return
	}
	data := accountData{
		Title: "Your account", User: user, AuthTime: s.AuthTime.UTC(), Factors: factors,
		CSRF:   u.FormToken(r, "account", ""),
		Notice: accountNotices[r.URL.Query().Get("done")],
	}
	// The current session first, then the others, most recently used first.
	slices.SortStableFunc(sessions, func(a, b storage.Session) int { return b.LastSeen.Compare(a.LastSeen) })
	for _, x := range sessions {
		row := sessionRow{
			ID: x.ID, Current: x.ID == s.ID, Device: DescribeUserAgent(x.UserAgent), IP: x.IP,
			Created: x.CreatedAt.UTC(), LastSeen: x.LastSeen.UTC(), Remember: x.Remember,
		}
		if row.Current {
			row.LastSeen = s.LastSeen.UTC()
		}
		for _, id := range x.Clients {
			row.Apps = append(row.Apps, u.clientName(r.Context(), id))
		}
		if row.Current {
			data.Sessions = append([]sessionRow{row}, data.Sessions...)
		} else {
			data.Sessions = append(data.Sessions, row)
		}
	}
	for _, c := range consents {
		data.Consents = append(data.Consents, consentRow{
			ClientID: c.ClientID, ClientName: u.clientName(r.Context(), c.ClientID),
			Scopes: ScopeDescriptions(c.Scopes), Granted: c.UpdatedAt.UTC(),
		})
	}
	u.render(r.Context(), w, http.StatusOK, "account", data)
}

func (u *UI) clientName(ctx context.Context, id string) string {
	c, err := u.clients(ctx, id)
	if err != nil || c.Name == "" {
		return id
	}
	return c.Name
}

// accountForm checks an account page form post: the session, the CSRF
// token. It writes the answer itself when it returns ok=false.
func (u *UI) accountForm(w http.ResponseWriter, r *http.Request) (*storage.Session, *storage.User, bool) {
	if !u.parseAccountForm(w, r) {
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

// postedForm reads a form post (at most maxFormBytes) and checks its CSRF
// token, bound to purpose, the value of the cookie named cookie and, when
// field is not "", the form's value of that field. It writes the error
// page itself when it returns false.
func (u *UI) postedForm(w http.ResponseWriter, r *http.Request, purpose, cookie, field string) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		u.RenderError(r.Context(), w, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
		return false
	}
	subject := ""
	if field != "" {
		subject = r.PostForm.Get(field)
	}
	if !u.validCSRF(purpose, cookieValue(r, cookie), subject, r.PostForm.Get("csrf_token")) {
		u.RenderError(r.Context(), w, http.StatusForbidden, "Form expired",
			"This form is no longer valid. Go back, reload the page and try again.", "")
		return false
	}
	return true
}

// parseAccountForm reads an account page form and checks its CSRF token,
// answering the request itself when it returns false.
func (u *UI) parseAccountForm(w http.ResponseWriter, r *http.Request) bool {
	if !u.postedForm(w, r, "account", SessionCookie, "") {
		return false
	}
	return true
}

// signOut ends the browser's current session.
func (u *UI) signOut(w http.ResponseWriter, r *http.Request) {
	if !u.parseAccountForm(w, r) {
		return
	}
	ended, err := u.EndCurrentSession(r.Context(), w, r)
	if err != nil {
		u.serverError(w, r, "end session", err)
		return
	}
	u.SignedOut(r.Context(), w, ended, "", "")
}

// endOtherSession ends one of the user's other sessions, named by its id.
func (u *UI) endOtherSession(w http.ResponseWriter, r *http.Request) {
	s, user, ok := u.accountForm(w, r)
	if !ok {
		return
	}
	id := r.PostForm.Get("session")
	sessions, err := u.store.UserSessions(r.Context(), user.ID, u.now())
	if err != nil {
		u.serverError(w, r, "list sessions", err)
		return
	}
	// Only the user's own other sessions can be named. Any other id
	// (another user's, unknown, or gone meanwhile) is "not found", the
	// same for all, so the answer tells nothing about other users.
	if id == s.ID || !slices.ContainsFunc(sessions, func(x storage.Session) bool { return x.ID == id }) {
		http.Redirect(w, r, "/account?done=notfound", http.StatusSeeOther)
		return
	}
	ended, err := u.endSessions(r.Context(), []string{id}, signout.Reason{Actor: audit.ActorUser, IP: u.ClientIP(r), Detail: "ended from the account page"})
	if err != nil {
		u.serverError(w, r, "end session", err)
		return
	}
	if len(ended) == 0 {
		http.Redirect(w, r, "/account?done=notfound", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account?done=ended", http.StatusSeeOther)
}

// endOtherSessions ends every session of the user but this one.
func (u *UI) endOtherSessions(w http.ResponseWriter, r *http.Request) {
	s, user, ok := u.accountForm(w, r)
	if !ok {
		return
	}
	sessions, err := u.store.UserSessions(r.Context(), user.ID, u.now())
	if err != nil {
		u.serverError(w, r, "list sessions", err)
		return
	}
	var ids []string
	for _, x := range sessions {
		if x.ID != s.ID {
			ids = append(ids, x.ID)
		}
	}
	why := signout.Reason{Actor: audit.ActorUser, IP: u.ClientIP(r), Detail: "ended from the account page (all others)"}
	if _, err := u.endSessions(r.Context(), ids, why); err != nil {
		u.serverError(w, r, "end sessions", err)
		return
	}
	http.Redirect(w, r, "/account?done=others", http.StatusSeeOther)
}

// endAllSessions signs the user out everywhere, this browser included.
func (u *UI) endAllSessions(w http.ResponseWriter, r *http.Request) {
	s, user, ok := u.accountForm(w, r)
	if !ok {
		return
	}
	res, err := u.ender.EndUser(r.Context(), user.ID, signout.Reason{Actor: audit.ActorUser, IP: u.ClientIP(r), Detail: "signed out everywhere"})
	ended, err := u.ended(r.Context(), res, err)
	if err != nil {
		u.serverError(w, r, "end sessions", err)
		return
	}
	clearCookie(w, SessionCookie)
	var current *storage.Session
	for i := range ended {
		if ended[i].ID == s.ID {
			current = &ended[i]
		}
	}
	u.SignedOut(r.Context(), w, current, "", "")
}

// revokeConsent withdraws the user's consent to an application and
// revokes the refresh tokens it holds for them.
func (u *UI) revokeConsent(w http.ResponseWriter, r *http.Request) {
	_, user, ok := u.accountForm(w, r)
	if !ok {
		return
	}
	clientID := r.PostForm.Get("client")
	if len(clientID) > 256 || clientID == "" {
		u.RenderError(r.Context(), w, http.StatusBadRequest, "Bad request", "The form does not name an application.", "")
		return
	}
	now := u.now()
	if err := u.store.DeleteConsent(r.Context(), user.ID, clientID); err != nil {
		u.serverError(w, r, "delete consent", err)
		return
	}
	n, err := u.store.RevokeUserFamilies(r.Context(), user.ID, clientID, now, now.Add(u.cfg.RevokedFamilyKeep))
	if err != nil {
		u.serverError(w, r, "revoke tokens", err)
		return
	}
	u.record(r.Context(), storage.AuditEvent{Kind: EventConsentRevoked, UserID: user.ID, ClientID: clientID, IP: u.ClientIP(r),
		Detail: strings.TrimSpace(pluralTokens(n))})
	http.Redirect(w, r, "/account?done=revoked", http.StatusSeeOther)
}

func pluralTokens(n int) string {
	if n == 1 {
		return "1 token family revoked"
	}
	return strconv.Itoa(n) + " token families revoked"
}

type signedOutData struct {
	Title    string
	Frames   []FrontChannelFrame
	Continue string
	AppName  string
}

// SignedOut renders the "you are signed out" page. It carries a hidden
// iframe for the front-channel logout URL of every application the ended
// session (if any) signed in to, and, when redirectURI is set (an already
// validated post_logout_redirect_uri), sends the browser on there: at once
// when there are no iframes to load, after two seconds otherwise.
func (u *UI) SignedOut(ctx context.Context, w http.ResponseWriter, ended *storage.Session, redirectURI, appName string) {
	var frames []FrontChannelFrame
	if ended != nil {
		frames = u.frontChannelFrames(ctx, []storage.Session{*ended})
	}
	if redirectURI != "" && len(frames) == 0 {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Location", redirectURI)
		w.WriteHeader(http.StatusFound)
		return
	}
	if redirectURI != "" {
		w.Header().Set("Refresh", "2; url="+redirectURI)
	}
	var origins []string
	for _, f := range frames {
		if o, err := url.Parse(f.URL); err == nil {
			origins = append(origins, o.Scheme+"://"+o.Host)
		}
	}
	u.renderWith(ctx, w, http.StatusOK, "signedout", signedOutData{
		Title: "Signed out", Frames: frames, Continue: redirectURI, AppName: appName,
	}, frameSources(origins))
}

// ConfirmSignOut asks the signed-in user to confirm a sign-out that an
// application requested without proving it concerns this session. The
// form posts the request's parameters back to action with a CSRF token
// and confirm=yes. If no one is signed in it shows the signed-out page.
func (u *UI) ConfirmSignOut(ctx context.Context, w http.ResponseWriter, r *http.Request, action string, params url.Values, appName string) {
	_, user, err := u.CurrentSession(ctx, r)
	if err != nil {
		u.SignedOut(ctx, w, nil, "", "")
		return
	}
	type field struct{ Name, Value string }
	var fields []field
	for _, name := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "logout_hint", "ui_locales"} {
		if v := params.Get(name); v != "" {
			fields = append(fields, field{name, v})
		}
	}
	u.render(r.Context(), w, http.StatusOK, "confirm", struct {
		Title, Username, CSRF, Action, AppName string
		Fields                                 []field
	}{"Sign out?", user.Username, u.FormToken(r, "endsession", ""), action, appName, fields})
}

// ConsentPage is what the consent page shows.
type ConsentPage struct {
	ID         string
	ClientName string
	Username   string
	Scopes     []string
	Action     string
}

// RenderConsent renders the consent page for the auth request page.ID.
func (u *UI) RenderConsent(w http.ResponseWriter, r *http.Request, page ConsentPage) {
	u.render(r.Context(), w, http.StatusOK, "consent", struct {
		ConsentPage
		Title, CSRF string
		ScopeText   []string
	}{page, "Allow access?", u.FormToken(r, "consent", page.ID), ScopeDescriptions(page.Scopes)})
}

// ScopeDescriptions says in words what each scope lets an application do,
// the standard scopes first in a fixed order (stored consents keep their
// scopes sorted by name, which reads oddly), then the others as given.
func ScopeDescriptions(scopes []string) []string {
	rank := map[string]int{"openid": 0, "profile": 1, "email": 2, "groups": 3, "offline_access": 4}
	scopes = slices.Clone(scopes)
	slices.SortStableFunc(scopes, func(a, b string) int {
		ra, oka := rank[a]
		rb, okb := rank[b]
		switch {
		case oka && okb:
			return ra - rb
		case oka:
			return -1
		case okb:
			return 1
		}
		return 0
	})
	var out []string
	for _, s := range scopes {
		switch s {
		case "openid":
			out = append(out, "Know who you are (your account identifier)")
		case "profile":
			out = append(out, "See your name and username")
		case "email":
			out = append(out, "See your email address")
		case "groups":
			out = append(out, "See the groups you belong to")
		case "offline_access":
			out = append(out, "Keep access while you are not using it, until you withdraw it")
		default:
			out = append(out, "Use the “"+s+"” permission")
		}
	}
	return out
}

// FormToken is the CSRF token of a form the signed-in browser posts:
// bound to its session cookie, the purpose and what the form acts on.
func (u *UI) FormToken(r *http.Request, purpose, subject string) string {
	return u.csrfToken(purpose, cookieValue(r, SessionCookie), subject)
}

// ValidFormToken checks a FormToken.
func (u *UI) ValidFormToken(r *http.Request, purpose, subject, got string) bool {
	return u.validCSRF(purpose, cookieValue(r, SessionCookie), subject, got)
}

// DescribeUserAgent turns a User-Agent into "Browser on OS" for people.
func DescribeUserAgent(ua string) string {
	browser := "Unknown browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Chromium/", "Chromium"}, {"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	if strings.Contains(ua, "HeadlessChrome") {
		browser = "Headless Chrome"
	}
	os := ""
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Mac OS X", "macOS"},
		{"Windows", "Windows"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			os = o.name
			break
		}
	}
	if os == "" {
		return browser
	}
	return browser + " on " + os
}
