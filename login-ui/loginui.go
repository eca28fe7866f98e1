// Package loginui serves Gatehouse's own pages: the login form, the account
// page and the HTML error page. It owns the browser cookies: the SSO session
// cookie and the browser-binding cookie that ties an authorization request
// and the login form's CSRF token to the browser that started the flow.
package loginui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"time"

	"github.com/gatehouse-idp/gatehouse/audit"
	"github.com/gatehouse-idp/gatehouse/clientip"
	"github.com/gatehouse-idp/gatehouse/mfa"
	"github.com/gatehouse-idp/gatehouse/signout"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Cookie names. The __Host- prefix makes browsers refuse them unless they
// are Secure, host-only and Path=/ (no subdomain can plant them).
const (
	SessionCookie = "__Host-gatehouse-session"
	BrowserCookie = "__Host-gatehouse-browser"
)

// Store is what the login UI needs from storage: the small interface each
// of its flows declares next to its code (sessionStore, loginStore,
// accountStore, secondFactorStore) and what ending sessions needs (signout.Store). One
// backend, or the composite of SQL and Redis, serves all of them.
type Store interface {
	sessionStore
	loginStore
	accountStore
	secondFactorStore
	passkeyStore
	passwordStore
	passwordResetStore
	signout.Store
}

// Config configures the UI. CSRFKey and CallbackURL are required.
type Config struct {
	// IdleTimeout ends an SSO session that has not been used for that long
	// (default 8 h); AbsoluteTimeout ends it that long after sign-in
	// whatever its use (default 7 days).
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	// RememberFor is the idle and absolute timeout of a session whose user
	// ticked "keep me signed in", whose cookie then persists; zero hides
	// the choice.
	RememberFor time.Duration
	// KeepOnUserAgentChange keeps a session whose browser's User-Agent
	// changed (the change is still audited); by default such a session
	// ends, as a stolen cookie replayed elsewhere usually shows up so.
	KeepOnUserAgentChange bool
	// CSRFKey (32 bytes) keys the HMAC of CSRF tokens.
	CSRFKey []byte
	// CallbackURL returns where to send the browser once the auth request
	// with that id is complete (op's /authorize/callback?id=…).
	CallbackURL func(authRequestID string) string
	// MaxConcurrentHashes bounds simultaneous argon2id verifications
	// (each takes ~19 MiB; default one per core, at most 4); more logins
	// wait briefly, then get 503.
	MaxConcurrentHashes int
	// PasswordHashing are the argon2id parameters of the password hashes
	// the UI makes (a changed password, an upgraded one), of the hash an
	// unknown user is checked against, and the least a matching hash must
	// have to be kept (NeedsRehash). Zero: DefaultArgon2Params.
	PasswordHashing Argon2Params
	// Issuer names this server in front-channel logout URLs.
	Issuer string
	// ClientIP finds each request's client address: the TCP peer, or
	// behind a trusted proxy the client it names. Nil trusts no proxy.
	ClientIP *clientip.Resolver
	// Clients looks clients up (the provider's cache); default the store.
	Clients storage.ClientLookup
	// Recorder records the UI's audit events and those of the sessions it
	// ends; nil only logs them (audit.LogOnly).
	Recorder audit.Recorder
	// LogoutQueued is called after back-channel logout notices were queued,
	// to wake their delivery.
	LogoutQueued func()
	// JoinLater reports whether the client of ar must not join the new
	// session of the user signing in for it: the user must still allow it
	// on the consent page (it joins when they do), or may not use it at all
	// (its allowed_groups: it never joins). Only a client that gets its
	// code at once joins at sign-in. Nil means every client joins.
	JoinLater func(ctx context.Context, ar *storage.AuthRequest, userID string) (bool, error)
	// MFA is the second-factor setting: mfa.Optional (the zero value
	// means it), mfa.Required or mfa.Off.
	MFA mfa.Mode
	// Sealer seals users' one-time-code secrets under the key-encryption
	// key; required unless MFA is mfa.Off.
	Sealer Sealer
	// TOTPIssuer names this server in authenticator apps (the issuer's
	// host by default).
	TOTPIssuer string
	// RevokedFamilyKeep is how long a withdrawn consent's token families
	// are remembered as revoked: at least the access token lifetime.
	RevokedFamilyKeep time.Duration
	// Mailer sends password-reset links ("Forgot password?"); nil turns
	// the feature off: no link on the sign-in page, no /login/forgot or
	// /login/reset. The links are built from Issuer.
	Mailer Mailer
	Now    func() time.Time
	Random io.Reader
	Logger *slog.Logger
}

// UI serves the login pages. Create it with New.
type UI struct {
	store    Store
	cfg      Config
	pages    *pages
	clients  storage.ClientLookup
	recorder audit.Recorder
	ender    *signout.Ender // every session the UI ends, it ends through this
	// passkeys runs WebAuthn ceremonies; nil when second factors are off
	// or the issuer's host cannot be a relying-party id (an IP address).
	passkeys  *mfa.Passkeys
	assets    http.Handler
	hashSlots chan struct{}
	// resetSlots bounds the reset requests in flight (queueReset);
	// resetWork counts them, so that tests can wait for them.
	resetSlots chan struct{}
	resetWork  sync.WaitGroup
	dummyHash  string
	// verify checks a password against a PHC hash: VerifyPassword, which
	// tests wrap to count the checks.
	verify func(hash, password string) (bool, error)
	now    func() time.Time
	random io.Reader
	log    *slog.Logger
}

// New returns a UI over store. It fails when required configuration is
// missing.
func New(store Store, cfg Config) (*UI, error) {
	if len(cfg.CSRFKey) < 32 {
		return nil, errors.New("loginui: CSRFKey must be at least 32 bytes")
	}
	if cfg.CallbackURL == nil {
		return nil, errors.New("loginui: CallbackURL is required")
	}
	if cfg.MFA == "" {
		cfg.MFA = mfa.Optional
	}
	if cfg.MFA != mfa.Off && cfg.Sealer == nil {
		return nil, errors.New("loginui: Sealer is required unless MFA is off")
	}
	if cfg.TOTPIssuer == "" {
		cfg.TOTPIssuer = "Gatehouse"
		if iss, err := url.Parse(cfg.Issuer); err == nil && iss.Hostname() != "" {
			cfg.TOTPIssuer = iss.Hostname()
		}
	}
	u := &UI{store: store, cfg: cfg, now: cfg.Now, random: cfg.Random, log: cfg.Logger, verify: VerifyPassword}
	if u.now == nil {
		u.now = time.Now
	}
	if u.random == nil {
		u.random = rand.Reader
	}
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.cfg.IdleTimeout <= 0 {
		u.cfg.IdleTimeout = 8 * time.Hour
	}
	if u.cfg.AbsoluteTimeout <= 0 {
		u.cfg.AbsoluteTimeout = 7 * 24 * time.Hour
	}
	if u.cfg.MFA != mfa.Off {
		if pk, err := mfa.NewPasskeys(cfg.Issuer, "Gatehouse"); err == nil {
			u.passkeys = pk
		} else {
			u.log.Info("passkeys are off", "why", err.Error())
		}
	}
	u.recorder = cfg.Recorder
	if u.recorder == nil {
		u.recorder = audit.LogOnly{Logger: u.log}
	}
	u.clients = cfg.Clients
	if u.clients == nil {
		u.clients = store.Client
	}
	if u.cfg.PasswordHashing == (Argon2Params{}) {
		u.cfg.PasswordHashing = DefaultArgon2Params
	}
	if u.cfg.RevokedFamilyKeep <= 0 {
		u.cfg.RevokedFamilyKeep = time.Hour
	}
	u.ender = signout.New(signout.Config{
		Store:   store,
		Clients: u.clients,
		Record:  u.recorder,
		Queued:  cfg.LogoutQueued,
		Now:     u.now,
		Random:  u.random,
	})
	// By default one argon2id check per core, at most 4: on a small
	// machine more at once only makes each slower (2 cores: 89 checks/s
	// with 2 at a time, 82 with 4, 52 with 8).
	n := cfg.MaxConcurrentHashes
	if n <= 0 {
		n = min(4, runtime.GOMAXPROCS(0))
	}
	u.hashSlots = make(chan struct{}, n)
	u.resetSlots = make(chan struct{}, maxResetsInFlight)
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	u.pages = p
	if u.assets, err = assetsHandler(); err != nil {
		return nil, err
	}
	// A hash to verify against when the user does not exist, so that
	// unknown users cost the same time as wrong passwords. Hashing a real
	// password here would leave 19 MiB of garbage that the collector, with
	// so small a heap, keeps for minutes (RSS 49 MiB at start instead of 30).
	u.dummyHash, err = unmatchableHash(u.cfg.PasswordHashing, u.random)
	if err != nil {
		return nil, err
	}
	return u, nil
}

// Hash returns the hex SHA-256 of a cookie value: the form in which
// session ids and browser bindings are stored.
func Hash(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

func (u *UI) randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(u.random, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func setCookie(w http.ResponseWriter, name, value string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// setSessionCookie sets the session cookie: a browser-session cookie, or
// for a remembered session one that lasts until the session's absolute
// end.
func (u *UI) setSessionCookie(w http.ResponseWriter, value string, s *storage.Session) {
	c := &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/",
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	}
	if s.Remember {
		c.MaxAge = int(s.AbsoluteExpiresAt.Sub(u.now()) / time.Second)
	}
	http.SetCookie(w, c)
}

// renewBrowserCookie replaces the browser-binding cookie with a new value.
func (u *UI) renewBrowserCookie(w http.ResponseWriter) (string, error) {
	v, err := u.randomToken()
	if err != nil {
		return "", err
	}
	setCookie(w, BrowserCookie, v)
	return v, nil
}

// addQuery appends name/value pairs to a URL's query.
func addQuery(raw string, pairs ...string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	for i := 0; i+1 < len(pairs); i += 2 {
		q.Set(pairs[i], pairs[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: "/", MaxAge: -1,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
}

// cookieValue returns the value of a well-formed cookie, "" otherwise. Our
// cookie values are 43-character base64url strings; anything else was not
// made by us and is ignored.
func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) != 43 {
		return ""
	}
	if _, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil {
		return ""
	}
	return c.Value
}

// BrowserBinding returns the hash of this browser's binding cookie, setting
// a new cookie first if the browser has none.
func (u *UI) BrowserBinding(w http.ResponseWriter, r *http.Request) (string, error) {
	v, err := u.browserCookie(w, r)
	if err != nil {
		return "", err
	}
	return Hash(v), nil
}

// ErrNoSession means the request carries no usable session cookie.
var ErrNoSession = errors.New("loginui: no session")

// CurrentSession returns the live session named by the request's session
// cookie. It returns ErrNoSession when there is none (no cookie, unknown or
// expired session, or a disabled user) and any other error when the store
// failed: a failed lookup never counts as signed in.
func (u *UI) CurrentSession(ctx context.Context, r *http.Request) (*storage.Session, *storage.User, error) {
	v := cookieValue(r, SessionCookie)
	if v == "" {
		return nil, nil, ErrNoSession
	}
	s, err := u.store.Session(ctx, Hash(v), u.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, ErrNoSession
	}
	if err != nil {
		return nil, nil, fmt.Errorf("session lookup: %w", err)
	}
	user, err := u.store.UserByID(ctx, s.UserID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && user.Disabled) {
		return nil, nil, ErrNoSession
	}
	if err != nil {
		return nil, nil, fmt.Errorf("session user lookup: %w", err)
	}
	return s, user, nil
}

// csrfToken derives the CSRF token of a form from a secret cookie value
// (browser binding or session) and what the form acts on: a synchronizer
// token bound to the pre-session, with nothing stored.
func (u *UI) csrfToken(purpose, cookie, subject string) string {
	m := hmac.New(sha256.New, u.cfg.CSRFKey)
	fmt.Fprintf(m, "%s\x00%s\x00%s", purpose, cookie, subject)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (u *UI) validCSRF(purpose, cookie, subject, got string) bool {
	if cookie == "" || got == "" {
		return false
	}
	want := u.csrfToken(purpose, cookie, subject)
	return hmac.Equal([]byte(want), []byte(got))
}

// SecurityHeaders sets the headers every Gatehouse page carries: no framing,
// no referrer, no caching, no content sniffing, and a CSP that allows only
// our own embedded assets.
func SecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// SameBrowser reports whether the request comes from the browser whose
// binding cookie hashes to hash.
func (u *UI) SameBrowser(r *http.Request, hash string) bool {
	v := cookieValue(r, BrowserCookie)
	return v != "" && hash != "" && hmac.Equal([]byte(Hash(v)), []byte(hash))
}

// SameSession reports whether the request carries the session cookie of the
// session with that id.
func (u *UI) SameSession(r *http.Request, sessionID string) bool {
	v := cookieValue(r, SessionCookie)
	return v != "" && sessionID != "" && hmac.Equal([]byte(Hash(v)), []byte(sessionID))
}
