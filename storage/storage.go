// Package storage holds Gatehouse's domain types, the sentinel errors every
// backend returns, and the store interfaces the rest of Gatehouse consumes.
//
// Backends live in sub-packages (storage/sqlite, and later storage/postgres
// and storage/redis). Each one translates its driver's errors into the
// sentinels below at its edge, so callers only ever use errors.Is with
// ErrNotFound, ErrConflict and ErrExpired. The contract every backend must
// meet is written down as tests in storage/storagetest.
package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Backends wrap them with %w; callers test with errors.Is.
var (
	// ErrNotFound: no such record, or it exists but is disabled/expired in a
	// way the method documents as "not found".
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict: a uniqueness rule failed (username taken, id exists) or
	// a one-time transition was already made (auth request already
	// completed, code already attached). Consuming a code or rotating a
	// refresh token that is gone answers ErrNotFound instead: to the caller
	// a used code and an unknown one are the same.
	ErrConflict = errors.New("storage: conflict")
	// ErrRedeemed: the authorization code was redeemed already (and is
	// remembered as such until its expiry; after that it is ErrNotFound).
	// A second use of a code is a sign of theft (RFC 6749 §4.1.2).
	ErrRedeemed = errors.New("storage: already redeemed")
	// ErrStale: a compare-and-set found the record changed since the
	// version the caller read (an HTTP If-Match that no longer matches).
	ErrStale = errors.New("storage: changed since read")
)

// Client is a relying party. Clients come from clients.yaml and are synced
// into the store at start; the field names follow RFC 7591 metadata.
type Client struct {
	ID string
	// SecretHash is the stored form of the client secret ("" for public
	// clients): see Gatehouse's secret hashing in package provider.
	SecretHash              string
	Name                    string
	RedirectURIs            []string
	PostLogoutRedirectURIs  []string
	GrantTypes              []string
	ResponseTypes           []string
	TokenEndpointAuthMethod string // client_secret_basic | client_secret_post | private_key_jwt | none
	ApplicationType         string // web | native
	// Scopes the client may request beyond the standard OIDC ones.
	Scopes []string
	// AllowedCORSOrigins are web origins (scheme://host[:port], https or
	// loopback http, no path) besides those of its redirect URIs from which
	// a public web client may call the token, revocation and userinfo
	// endpoints in a browser (clients.yaml's allowed_cors_origins). Nil or
	// empty: only the redirect URIs' origins.
	AllowedCORSOrigins []string
	// IDTokenSignedResponseAlg is the JWS algorithm the client registered
	// for its ID tokens (id_token_signed_response_alg, OpenID Connect
	// Dynamic Client Registration §2): RS256, ES256 or EdDSA, or "" for the
	// server's default signing algorithm. Gatehouse signs the client's JWT
	// access tokens with it too.
	IDTokenSignedResponseAlg string
	// AccessTokenFormat is "jwt" (RFC 9068, typ at+jwt) or "opaque" (a
	// sealed token only Gatehouse can read; resource servers introspect
	// it). "" means jwt.
	AccessTokenFormat string
	// JWKS is the client's inline JWK Set (clients.yaml's jwks) as JSON:
	// the public keys its private_key_jwt client assertions and its
	// request objects are signed with. Nil when the client has none. At
	// most one of JWKS and JWKSURI is set, and only for private_key_jwt
	// clients and clients with a RequestObjectSigningAlg.
	JWKS []byte
	// JWKSURI is where the client publishes its JWK Set (jwks_uri): the
	// provider fetches the keys of its private_key_jwt client assertions
	// and request objects from there. "" when the client has none.
	JWKSURI string
	// RefreshGracePeriod is how long a retry of one of the client's
	// just-rotated refresh tokens gets the identical answer again
	// (refresh_token_grace_period). Zero means the server's default
	// (refresh_grace); a negative value (NoRefreshGrace) means no window:
	// any second use of a token revokes its family.
	RefreshGracePeriod time.Duration
	// RefreshTokenIdleTTL is how long one of the client's refresh tokens
	// stays valid unused (refresh_token_idle_ttl): every rotation issues a
	// token with a fresh idle deadline, but never past the family's
	// absolute deadline. Zero means no idle limit.
	RefreshTokenIdleTTL time.Duration
	// RefreshTokenAbsoluteTTL is the life of a refresh token family from
	// the code exchange that started it (refresh_token_absolute_ttl);
	// rotation never extends it. Zero means the server's default
	// (refresh_token_ttl).
	RefreshTokenAbsoluteTTL time.Duration
	// SkipConsent marks a first-party client: its users are never asked to
	// consent (clients.yaml's skip_consent).
	SkipConsent bool
	// RequireMFA says sign-ins to this application need a second factor
	// (clients.yaml require_mfa).
	RequireMFA bool
	// DPoPBoundAccessTokens says every token request of the client must
	// carry a DPoP proof, so that all its access tokens are bound to a key
	// (clients.yaml dpop_bound_access_tokens, RFC 9449 §5.2).
	DPoPBoundAccessTokens bool
	// Profile is a security profile the client is held to: "" for none,
	// or "fapi2" (the FAPI 2.0 Security Profile: private_key_jwt, pushed
	// requests, PKCE, DPoP-bound tokens; see clientpolicy and
	// docs/fapi2.md).
	Profile string
	// DefaultACRValues are the acr values asked for when a request names
	// none (clients.yaml default_acr_values, in order of preference). Nil
	// or empty: none.
	DefaultACRValues []string
	// AllowedGroups names the groups (Group.Name) whose members may sign in
	// to the client (clients.yaml allowed_groups): a user in none of them is
	// refused at authorize and at the refresh_token grant. Nil or empty:
	// every user may.
	AllowedGroups []string
	// RequirePushedAuthorizationRequests says the client must push its
	// authorization requests (RFC 9126 §5, clients.yaml
	// require_pushed_authorization_requests): /authorize refuses its
	// requests unless they name a request_uri the client pushed.
	RequirePushedAuthorizationRequests bool
	// RequestObjectSigningAlg is the JWS algorithm of the client's request
	// objects (RFC 9101; clients.yaml request_object_signing_alg): ES256,
	// PS256, RS256 or EdDSA, verified with its JWKS or JWKSURI. A client
	// that registered one sends every authorization request as a request
	// object signed with it; "" means the client sends none.
	RequestObjectSigningAlg string
	// BackchannelLogoutURI receives a logout token (OpenID Back-Channel
	// Logout 1.0) whenever a session the client signed in through ends; ""
	// for none. BackchannelLogoutSessionRequired says the client needs sid
	// in those tokens (Gatehouse always sends it).
	BackchannelLogoutURI             string
	BackchannelLogoutSessionRequired bool
	// FrontchannelLogoutURI is loaded in an iframe of the signed-out page
	// (OpenID Front-Channel Logout 1.0); "" for none. With
	// FrontchannelLogoutSessionRequired it gets iss and sid as query
	// parameters.
	FrontchannelLogoutURI             string
	FrontchannelLogoutSessionRequired bool
	// Source says where the client is declared: ClientSourceFile
	// (clients.yaml, kept by SyncClients), ClientSourceAPI (the admin API)
	// or ClientSourceRegistration (dynamic client registration), the last
	// two kept by ClientWriter. "" is read as ClientSourceFile.
	Source string
	// Version counts the client's changes: 1 when created, one more on
	// every update, enable or disable. ClientWriter.UpdateClient takes the
	// version the caller read (an ETag) and refuses a later one.
	Version int64
	// Disabled clients are kept (their grants reference them) but every
	// lookup through Clients.Client answers ErrNotFound.
	Disabled  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Where a client is declared (Client.Source).
const (
	ClientSourceFile         = "file"
	ClientSourceAPI          = "api"
	ClientSourceRegistration = "registration"
)

// NoRefreshGrace is the Client.RefreshGracePeriod of a client whose
// refresh tokens have no grace window (refresh_token_grace_period: 0s):
// any negative value means the same.
const NoRefreshGrace time.Duration = -1

// User is an end user who signs in with a username and password.
type User struct {
	// ID is the stable, opaque subject identifier ("sub").
	ID string
	// Username is stored in its canonical form (see loginui.CanonicalUsername);
	// lookups are exact on that form.
	Username      string
	Email         string
	EmailVerified bool
	Name          string
	// PasswordHash is an argon2id PHC string.
	PasswordHash string
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is a browser SSO session. The cookie holds a random value; the
// store only ever sees ID, the SHA-256 of that value (hex). ID is also the
// session's sid in ID and logout tokens: it names the session without
// giving anyone the cookie.
type Session struct {
	ID        string
	UserID    string
	AuthTime  time.Time
	AMR       []string
	UserAgent string
	IP        string
	CreatedAt time.Time
	LastSeen  time.Time
	// ExpiresAt is when the store stops returning the session: the idle
	// deadline, never later than AbsoluteExpiresAt.
	ExpiresAt time.Time
	// AbsoluteExpiresAt is fixed at sign-in; no use of the session extends
	// it. Zero means ExpiresAt.
	AbsoluteExpiresAt time.Time
	// Remember is set when the user asked to stay signed in ("remember
	// me"): the cookie persists and the timeouts are the longer ones.
	Remember bool
	// Clients are the ids of the applications signed in through the
	// session, in the order they first were: they get the back-channel and
	// front-channel logout notices when it ends.
	Clients []string
}

// AuthRequest is one authorization request between /authorize and the token
// endpoint. It is created by the provider, completed by the login UI, and
// claimed then redeemed when its code is exchanged (AuthRequests.ClaimCode).
type AuthRequest struct {
	ID                  string
	ClientID            string
	RedirectURI         string
	Scopes              []string
	State               string
	Nonce               string
	ResponseType        string
	ResponseMode        string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              []string
	// MaxAge in seconds; nil means not requested.
	MaxAge      *int64
	LoginHint   string
	IDTokenHint string
	// HintSubject is the sub of a verified id_token_hint, if any.
	HintSubject string
	// BrowserHash binds the request to the browser that started it: the
	// SHA-256 (hex) of that browser's binding cookie.
	BrowserHash string
	// ACRValues is what the client asked for (acr_values, in order of
	// preference); the login UI reads it for a step-up. Nil when the
	// request has none.
	ACRValues []string
	// DPoPJKT binds the request's code to a DPoP key (RFC 9449 §10): the
	// base64url SHA-256 JWK thumbprint the client sent as dpop_jkt, or of
	// the key of the DPoP proof it pushed the request with. The code is
	// redeemed only with a proof by that key. "" for none.
	DPoPJKT   string
	CreatedAt time.Time
	ExpiresAt time.Time

	// Set by Complete when the user has authenticated.
	Done      bool
	UserID    string
	SessionID string
	AuthTime  time.Time
	AMR       []string

	// CodeHash is the SHA-256 (hex) of the authorization code, once issued.
	CodeHash string
}

// Login is what the login UI records on an auth request when it completes it.
type Login struct {
	UserID    string
	SessionID string
	AuthTime  time.Time
	AMR       []string
}

// RefreshGrant is one refresh token. Tokens of one chain of rotations share a
// FamilyID. Only the SHA-256 of the token is stored.
type RefreshGrant struct {
	TokenHash string
	FamilyID  string
	ClientID  string
	UserID    string
	Scopes    []string
	Audience  []string
	AuthTime  time.Time
	AMR       []string
	CreatedAt time.Time
	// ExpiresAt is when this token stops being accepted: its idle
	// deadline, or its family's absolute deadline, whichever comes first.
	ExpiresAt time.Time
	// AbsoluteExpiresAt is the family's absolute deadline, fixed at the
	// code exchange and copied to every rotation; ExpiresAt is never
	// later. Zero (grants stored before it was recorded) means ExpiresAt.
	AbsoluteExpiresAt time.Time
	// SessionID is the SSO session the grant was issued in (the sid of
	// its ID tokens); "" when unknown.
	SessionID string
	// DPoPJKT is the thumbprint (RFC 7638) of the DPoP key the refresh
	// token is bound to (a public client's, RFC 9449 §5): a refresh needs
	// a proof signed by that key. Copied to every rotation; "" when
	// unbound.
	DPoPJKT string
	// UsedAt is set when the token was rotated; a used token is never
	// accepted again (but see Replay).
	UsedAt *time.Time
	// RevokedAt is set when the token's family was revoked.
	RevokedAt *time.Time
	// Replay is the token response issued when this token was rotated,
	// sealed by the provider, returned again to a retry of this token until
	// ReplayUntil (the grace window).
	Replay      []byte
	ReplayUntil time.Time
}

// SigningKey is one asymmetric signing key. Its state follows from its
// timestamps (pending → active → retired → deleted), so every instance that
// reads the same row agrees on the state at the same instant.
type SigningKey struct {
	ID        string // the JWK "kid"
	Algorithm string // RS256, ES256, EdDSA
	// PublicJWK is the public key as JSON (a JWK with kid, alg, use).
	PublicJWK []byte
	// PrivateSealed is the private key (PKCS#8 DER) sealed with AES-256-GCM
	// under the key-encryption key identified by KEKID.
	PrivateSealed []byte
	KEKID         string
	CreatedAt     time.Time
	// PublishAt: from then on the key is in the JWKS.
	PublishAt time.Time
	// ActivateAt: from then on the key may sign.
	ActivateAt time.Time
	// RetireAt: from then on the key no longer signs (zero: not scheduled).
	RetireAt time.Time
	// DeleteAt: from then on the key is no longer published (zero: not
	// scheduled).
	DeleteAt time.Time
}

// Secret is a named symmetric server secret (for example the key op uses to
// seal authorization codes), sealed under the key-encryption key.
type Secret struct {
	Name      string
	Sealed    []byte
	KEKID     string
	CreatedAt time.Time
}

// SyncReport says what a clients sync changed, by client id.
type SyncReport struct {
	Created  []string
	Updated  []string
	Disabled []string
}

// Clients stores relying parties.
//
// SyncClients keeps the clients declared in clients.yaml (Source
// ClientSourceFile) and leaves every other client alone; ClientWriter keeps
// the others and never touches a declared one.
type Clients interface {
	// Client returns the enabled client with that id, or ErrNotFound.
	Client(ctx context.Context, id string) (*Client, error)
	// ListClients returns every client, disabled ones included, by id.
	ListClients(ctx context.Context) ([]Client, error)
	// SyncClients makes the store hold exactly the given clients as enabled,
	// in one transaction: new ones are created, changed ones updated, and
	// declared clients absent from the list disabled (never deleted).
	// CreatedAt, UpdatedAt, Disabled, Source and Version of the given
	// clients are ignored: they are stored as declared in clients.yaml,
	// CreatedAt is set to now on create, UpdatedAt to now and Version one
	// up on any change, and a disabled client that reappears is re-enabled
	// and reported as updated. A given client whose id belongs to a client
	// of another source is an error wrapping ErrConflict, and nothing
	// changes. The report's lists are sorted.
	SyncClients(ctx context.Context, clients []Client, now time.Time) (SyncReport, error)
}

// ClientWriter keeps the clients that are not declared in clients.yaml:
// those created through the admin API or by dynamic client registration
// (SQL).
type ClientWriter interface {
	// CreateClient stores c, enabled, with its Source (ClientSourceAPI or
	// ClientSourceRegistration; any other is an error), Version 1 and
	// CreatedAt and UpdatedAt now, and sets those fields of c.
	// ErrConflict when the id is taken by any client, disabled or not.
	CreateClient(ctx context.Context, c *Client, now time.Time) error
	// UpdateClient overwrites the client with c.ID and c.Source if its
	// version is still ifVersion: every field but CreatedAt, Source and
	// Disabled, UpdatedAt set to now and Version one up (both set in c
	// too). ErrNotFound when there is no such client of that source (a
	// declared client is never found here); ErrStale when its version is
	// another.
	UpdateClient(ctx context.Context, c *Client, ifVersion int64, now time.Time) error
	// DeleteClient removes the client with that id and source and, in the
	// same transaction, its refresh grants and consents, so that a client
	// created later with the same id inherits nothing. It reports whether
	// there was such a client; a declared client is never deleted here.
	DeleteClient(ctx context.Context, id, source string) (bool, error)
}

// Users stores end users.
type Users interface {
	// CreateUser inserts u; ErrConflict if the id or username is taken.
	CreateUser(ctx context.Context, u *User) error
	// UserByID returns the user (disabled ones too), or ErrNotFound.
	UserByID(ctx context.Context, id string) (*User, error)
	// UserByUsername returns the user (disabled ones too), or ErrNotFound.
	UserByUsername(ctx context.Context, username string) (*User, error)
	// ListUsers returns every user ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// UpdateUser overwrites email, email-verified, name, password hash,
	// disabled and updated-at of the user with u.ID; ErrNotFound if absent.
	UpdateUser(ctx context.Context, u *User) error
	// CountUsers returns how many users exist.
	CountUsers(ctx context.Context) (int, error)
	// ReplacePasswordHash sets the password hash of the user with that id
	// to newHash, and UpdatedAt to updatedAt, only while the stored hash is
	// still oldHash (a compare-and-set: a password changed meanwhile, or
	// a deleted user, is left as it is); nothing else of the user changes.
	// It reports whether it replaced the hash.
	ReplacePasswordHash(ctx context.Context, id, oldHash, newHash string, updatedAt time.Time) (bool, error)
}

// GroupMember is one membership: the user with UserID in the group named
// Group.
type GroupMember struct {
	Group  string
	UserID string
}

// UserImport is what UserImporter.ImportUsers stores at once.
type UserImport struct {
	Users []User
	// Groups are created with the users.
	Groups []Group
	// Members are memberships of the imported users (or of stored ones)
	// in stored groups or in Groups.
	Members []GroupMember
}

// UserPager lists users a page at a time (SQL): the admin API and the
// console.
type UserPager interface {
	// UsersPage returns up to q.Limit users ordered by username, those
	// after q.After, and with q.Contains only those whose username, name
	// or email holds it (case ignored, ASCII letters at least): one page
	// of a listing, read with an index walk, never the whole table.
	UsersPage(ctx context.Context, q UserPageQuery) ([]User, error)
}

// UserPageQuery selects a page of users (UserPager).
type UserPageQuery struct {
	After    string // a username; "" for the first page
	Contains string // "" for every user
	Limit    int    // at least 1
}

// UserImporter stores many users at once (SQL): gatehouse users import.
type UserImporter interface {
	// ImportUsers stores every user, group and membership of imp in one
	// transaction: all of them, or nothing. ErrConflict when a user's id
	// or username or a group's name is taken, in the store or twice in
	// imp, or a membership is given twice; ErrNotFound when a membership
	// names a group or a user that is neither stored nor in imp. An empty
	// imp writes nothing and succeeds.
	ImportUsers(ctx context.Context, imp UserImport) error
}

// Group is a named set of users (the groups claim, clients' allowed_groups,
// gatehouse-admins). Names are 1–64 characters of [a-z0-9._-]
// (ValidGroupName).
type Group struct {
	Name      string
	CreatedAt time.Time
}

// MaxGroupNameLen bounds a group's name.
const MaxGroupNameLen = 64

// ValidGroupName reports whether name is a group's name: 1–64 characters
// of [a-z0-9._-]. The CLI checks the names it is given with it, and
// clients.yaml the names in allowed_groups.
func ValidGroupName(name string) bool {
	if name == "" || len(name) > MaxGroupNameLen {
		return false
	}
	for _, c := range []byte(name) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// Groups keeps groups and their members in SQL. A user's memberships go
// with the user (DeleteUser) and a group's with the group.
type Groups interface {
	// CreateGroup stores g; ErrConflict if the name is taken.
	CreateGroup(ctx context.Context, g *Group) error
	// DeleteGroup removes the group and its memberships; it reports
	// whether there was one.
	DeleteGroup(ctx context.Context, name string) (bool, error)
	// ListGroups returns every group, ordered by name.
	ListGroups(ctx context.Context) ([]Group, error)
	// AddGroupMember makes the user a member; adding a member again is a
	// success. ErrNotFound when the group or the user does not exist.
	AddGroupMember(ctx context.Context, group, userID string) error
	// RemoveGroupMember ends a membership and reports whether there was
	// one.
	RemoveGroupMember(ctx context.Context, group, userID string) (bool, error)
	// GroupMembers returns the ids of the group's members, ordered;
	// ErrNotFound when the group does not exist.
	GroupMembers(ctx context.Context, group string) ([]string, error)
	// UserGroups returns the names of the user's groups, ordered (none for
	// an unknown user).
	UserGroups(ctx context.Context, userID string) ([]string, error)
}

// UserSwapper updates a user only if nobody changed it meanwhile: the
// compare-and-set behind the admin API's ETags (SQL).
type UserSwapper interface {
	// UpdateUserIfUnchanged is UpdateUser done only while the stored
	// user's UpdatedAt is still unchanged (the instant as the store
	// returned it): ErrNotFound if the user is absent, ErrConflict if it
	// was updated since. The caller makes u.UpdatedAt differ from
	// unchanged, so that every update is seen by the next one.
	UpdateUserIfUnchanged(ctx context.Context, u *User, unchanged time.Time) error
}

// UserDeleter deletes users (SQL).
type UserDeleter interface {
	// DeleteUser removes the user with that id and, in the same
	// transaction, what is theirs in SQL: their one-time code, recovery
	// codes and passkeys, consents, password-reset links and refresh
	// grants (every family). The audit trail stays (its events keep the
	// user id), and the username is free afterwards. It reports whether there was such a user. Sessions
	// and pending sign-ins are not touched: end the sessions first
	// (signout.Ender.EndUser, which also tells their applications).
	DeleteUser(ctx context.Context, id string) (bool, error)
}

// Sessions stores browser SSO sessions.
//
// Nobody ends a session that simply expires (its ExpiresAt comes), so only
// the store can report it. The SQL backends (storage/sqlite,
// storage/postgres) do: their Prune, which the server runs every minute,
// deletes expired sessions and, in the same transaction, queues the
// back-channel logout notices signout.QueueNotices would have queued for
// them, so an expired session is reported within about a minute, exactly
// once even when several instances prune. Redis lets an expired session's
// key lapse by its TTL, silently: no notice is queued for it.
type Sessions interface {
	// CreateSession inserts s; ErrConflict if the id exists.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session if it exists and now is before ExpiresAt;
	// otherwise ErrNotFound.
	Session(ctx context.Context, id string, now time.Time) (*Session, error)
	// UpdateSession overwrites LastSeen, IP, UserAgent, Clients and
	// ExpiresAt of the live session s.ID (the other fields are fixed at
	// creation). ExpiresAt is capped at the stored AbsoluteExpiresAt. It
	// never recreates a session: ErrNotFound if the session is gone or
	// expired at now.
	UpdateSession(ctx context.Context, s *Session, now time.Time) error
	// DeleteSession removes the session and returns what it held, expired
	// or not, so the caller can notify the applications signed in through
	// it; (nil, nil) if there was none. Of concurrent deletes of one
	// session exactly one gets it.
	DeleteSession(ctx context.Context, id string) (*Session, error)
	// UserSessions returns the user's live sessions at now, ordered by
	// CreatedAt then ID, through a per-user index: never a scan of all
	// sessions.
	UserSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// DeleteUserSessions removes every session of the user and returns the
	// sessions it removed (live or expired but still stored).
	DeleteUserSessions(ctx context.Context, userID string) ([]Session, error)
}

// Pruner deletes what has expired, in bounded batches; the server calls it
// every minute. The SQL backends have it; Redis needs none, its keys expire
// by their TTL.
type Pruner interface {
	// Prune deletes what has expired at now (an expiry at or before now):
	// sessions, auth requests (and so their codes), refresh grants (used
	// and revoked ones too, but only once expired), revoked-family
	// records (at their keepUntil), client assertion ids and login-failure
	// counters, initial access tokens, password-reset links, pushed
	// authorization requests and DPoP proof ids; logout notices whose Deadline has
	// passed; and the kept answers of rotated refresh tokens whose ReplayUntil has passed (the
	// grant itself stays). It touches at most batch records in all and
	// returns how many; a caller that gets batch back should call again.
	// A batch below 1 is an error.
	//
	// In the transaction that deletes an expired session it queues the
	// back-channel logout notices signout.QueueNotices would have queued
	// for it (one per client of the session that exists, is enabled and
	// registered a backchannel_logout_uri; due at now, dropped at now +
	// LogoutNoticeTTL), not counted in the result; of concurrent Prunes
	// (or a Prune and a DeleteSession) only the one that deletes a session
	// reports it.
	Prune(ctx context.Context, now time.Time, batch int) (int, error)
}

// SessionCounter is what a session store may offer besides Sessions: the
// number of live sessions, for the sessions_active metric. Every backend
// has it.
type SessionCounter interface {
	// ActiveSessions returns how many sessions are live at now (stored,
	// now before their ExpiresAt). It never scans every session: the SQL
	// backends count on their expires_at index, Redis keeps a counting
	// set. A backend may be off by the sessions created, updated or
	// deleted during the call.
	ActiveSessions(ctx context.Context, now time.Time) (int64, error)
}

// CallObserver is told of each call a backend makes to its server, for
// metrics; backends take one in their options. backend names the backend
// ("postgres", "redis"), op the kind of call (a statement's first keyword,
// a command's name, "pipeline"), d how long it took. err is nil when the
// server answered as expected, a missing row or key and a refused
// duplicate included. It must be safe for concurrent use and must not
// block.
type CallObserver interface {
	Observe(backend, op string, d time.Duration, err error)
}

// AuthRequests stores in-flight authorization requests and their codes.
type AuthRequests interface {
	// CreateAuthRequest inserts r; ErrConflict if the id exists.
	CreateAuthRequest(ctx context.Context, r *AuthRequest) error
	// AuthRequest returns the request if it exists and has not expired at
	// now; otherwise ErrNotFound.
	AuthRequest(ctx context.Context, id string, now time.Time) (*AuthRequest, error)
	// CompleteAuthRequest records the login on a live, not yet completed
	// request and marks it done. ErrNotFound if absent or expired,
	// ErrConflict if it was already completed.
	CompleteAuthRequest(ctx context.Context, id string, login Login, now time.Time) error
	// SaveCode attaches the hash of an authorization code to a completed
	// request and shortens its life to codeExpiresAt (never lengthens it). ErrNotFound if the
	// request is absent, expired or not done; ErrConflict if it already has
	// a code.
	SaveCode(ctx context.Context, id, codeHash string, codeExpiresAt, now time.Time) error
	// AuthRequestByCode returns the live request holding that code hash, or
	// ErrNotFound (a redeemed code too). It does not consume the code.
	AuthRequestByCode(ctx context.Context, codeHash string, now time.Time) (*AuthRequest, error)

	// A code is redeemed in two steps, so that a redemption that fails
	// half-way (a store error after the code was claimed, a lost reply)
	// burns nothing: ClaimCode reserves the code for one redemption
	// attempt, named by a random claim, for a short lease; RedeemCode ends
	// it once the attempt's tokens are stored; ReleaseCode gives the code
	// back when the attempt fails. A claim that is neither redeemed nor
	// released lapses with its lease, and the code can be claimed again.

	// ClaimCode reserves the live, unredeemed request holding codeHash for
	// the attempt claim until now+lease and returns it. The same claim may
	// claim again (renewing its lease), and a lapsed claim is taken over.
	// ErrRedeemed if the code was redeemed (until its expiry); ErrNotFound
	// if no live request holds the code; ErrConflict if another claim's
	// lease is still running. Of
	// any number of concurrent calls with different claims, at most one
	// succeeds while its lease runs.
	ClaimCode(ctx context.Context, codeHash, claim string, now time.Time, lease time.Duration) (*AuthRequest, error)
	// RedeemCode marks the code claimed by claim as redeemed: from then on
	// it can never be claimed or found again. It succeeds again for the same
	// claim (a retry whose first reply was lost), also after the lease has
	// passed, as long as no other claim took the code over. ErrNotFound if
	// the code is gone, or claimed or redeemed by another claim.
	RedeemCode(ctx context.Context, codeHash, claim string, now time.Time) error
	// ReleaseCode gives back a code claimed by claim and not redeemed, so
	// that it can be claimed at once. Anything else (another claim holds
	// it, it was redeemed, it is gone) is left as it is and is not an error.
	ReleaseCode(ctx context.Context, codeHash, claim string) error
	// DeleteAuthRequest removes the request; absent is not an error.
	DeleteAuthRequest(ctx context.Context, id string) error
}

// RefreshGrants stores refresh tokens by hash.
type RefreshGrants interface {
	// CreateRefreshGrant inserts g; ErrConflict if the hash exists.
	CreateRefreshGrant(ctx context.Context, g *RefreshGrant) error
	// RefreshGrant returns the grant with that token hash if it exists,
	// is unused, not revoked and has not expired at now; ErrNotFound
	// otherwise.
	RefreshGrant(ctx context.Context, tokenHash string, now time.Time) (*RefreshGrant, error)
	// RotateRefreshGrant marks the grant oldHash used and inserts next, in
	// one transaction. It succeeds only if oldHash is live, unused and not
	// revoked at now; otherwise ErrNotFound, and nothing changes. Of
	// concurrent calls with one oldHash exactly one succeeds. The same
	// transaction records on the old grant the sealed response the
	// rotation produced, returned to retries until until (nil replay:
	// none), so a retry never sees the grant used without its answer.
	RotateRefreshGrant(ctx context.Context, oldHash string, next *RefreshGrant, replay []byte, until, now time.Time) error
	// ExtendRefreshGrant moves the expiry of the grant tokenHash to
	// expiresAt: a refresh that keeps its token (a client whose refresh
	// tokens do not rotate). It succeeds only if the grant is live,
	// unused and not revoked at now; otherwise ErrNotFound, and nothing
	// changes. Any number of concurrent calls may succeed.
	ExtendRefreshGrant(ctx context.Context, tokenHash string, expiresAt, now time.Time) error
}

// TokenFamilies is what refresh-token reuse detection and revocation need
// beyond RefreshGrants: grants in every state, replays for the grace
// window, and revoked families.
type TokenFamilies interface {
	// RefreshGrantByHash returns the grant with that token hash whatever
	// its state (used, revoked or expired), or ErrNotFound: the provider
	// tells a retry inside the grace window from a reuse with it.
	RefreshGrantByHash(ctx context.Context, tokenHash string) (*RefreshGrant, error)
	// RevokeFamily revokes a token family in one transaction: every grant
	// of the family not revoked yet gets RevokedAt = now (so none can be
	// rotated or replayed), and the family is remembered as revoked until
	// at least keepUntil (Prune forgets it later),
	// for the access tokens it issued. Revoking a family with no grants
	// (a code exchange without refresh token) still remembers it.
	// Revoking twice is not an error.
	RevokeFamily(ctx context.Context, familyID string, now, keepUntil time.Time) error
	// FamilyRevoked reports whether the family was revoked (and is still
	// remembered).
	FamilyRevoked(ctx context.Context, familyID string) (bool, error)
	// RevokeUserFamilies revokes, as RevokeFamily does, every family that
	// has a live (unused, unrevoked, unexpired at now) grant of the user
	// and, when clientID is not "", of that client only. It returns how
	// many families it revoked. Used when a password changes, a user is
	// disabled or a consent is withdrawn.
	RevokeUserFamilies(ctx context.Context, userID, clientID string, now, keepUntil time.Time) (int, error)
}

// Consent is a user's standing approval of the scopes an application may
// have; it lasts until the user or an operator withdraws it.
type Consent struct {
	UserID    string
	ClientID  string
	Scopes    []string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Consents stores consents, one per user and client.
type Consents interface {
	// SaveConsent records c, merging its scopes into any consent the user
	// already gave the client (the stored scopes become the sorted union).
	// CreatedAt is kept from an existing consent; UpdatedAt is c.UpdatedAt.
	SaveConsent(ctx context.Context, c *Consent) error
	// Consent returns the user's consent for the client, or ErrNotFound.
	Consent(ctx context.Context, userID, clientID string) (*Consent, error)
	// UserConsents returns the user's consents ordered by client id.
	UserConsents(ctx context.Context, userID string) ([]Consent, error)
	// DeleteConsent withdraws the consent; absent is not an error.
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// LogoutNotice is one back-channel logout token owed to one client for one
// ended session. The token itself is minted at each attempt, so a retry
// never sends an expired one.
type LogoutNotice struct {
	ID        string
	ClientID  string
	UserID    string
	SessionID string
	CreatedAt time.Time
	// Deadline: after it the notice is dropped undelivered.
	Deadline time.Time
	// Attempts made so far, and when the next one is due.
	Attempts    int
	NextAttempt time.Time
	LastError   string
}

// LogoutNotices is the back-channel logout delivery queue. It is shared by
// every instance (and the CLI, which enqueues when it ends sessions).
type LogoutNotices interface {
	// EnqueueLogoutNotices inserts the notices in one transaction;
	// ErrConflict if an id exists.
	EnqueueLogoutNotices(ctx context.Context, notices []LogoutNotice) error
	// ClaimLogoutNotices returns up to n notices whose NextAttempt is at or
	// before now and whose Deadline is after now, oldest NextAttempt first,
	// and moves their NextAttempt to now+lease in the same transaction, so
	// that no other caller claims them while they are being delivered.
	ClaimLogoutNotices(ctx context.Context, now time.Time, lease time.Duration, n int) ([]LogoutNotice, error)
	// RetryLogoutNotice records a failed attempt: Attempts, NextAttempt and
	// LastError are overwritten. ErrNotFound if the notice is gone.
	RetryLogoutNotice(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error
	// DeleteLogoutNotice removes a delivered or abandoned notice; absent is
	// not an error.
	DeleteLogoutNotice(ctx context.Context, id string) error
}

// SigningKeys stores asymmetric signing keys.
type SigningKeys interface {
	// CreateSigningKey inserts k; ErrConflict if the id exists.
	CreateSigningKey(ctx context.Context, k *SigningKey) error
	// SigningKeys returns every key whose DeleteAt is zero or after now,
	// ordered by CreatedAt.
	SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error)
}

// Secrets stores named symmetric server secrets.
type Secrets interface {
	// CreateSecret inserts s unless a secret of that name exists, and
	// returns the stored one either way, so that concurrent first starts
	// agree on one secret.
	CreateSecret(ctx context.Context, s *Secret) (*Secret, error)
	// Secret returns the named secret, or ErrNotFound.
	Secret(ctx context.Context, name string) (*Secret, error)
}

// AuditEvent is one entry of the audit trail: something a person, an
// application or an operator did, or something Gatehouse noticed. Nothing
// secret is in it — no token, password or full session id (SessionID holds
// at most its first 8 characters). Empty strings mean "not known" or "does
// not apply".
type AuditEvent struct {
	// ID orders events; the store assigns it (the ID of an event given to
	// AppendAudit is ignored). IDs are unique and never reused.
	ID        int64
	Time      time.Time
	Kind      string // e.g. sign_in, token_issued, client_changed (see the emitters)
	UserID    string
	ClientID  string
	SessionID string // the session id's first 8 characters
	Family    string // a token family, when the event concerns one
	IP        string
	// Actor says who caused it: "user", "client", "operator" (the CLI) or
	// "system".
	Actor string
	// Detail is a short human-readable explanation, or the outcome.
	Detail string
}

// AuditQuery selects audit events; zero fields select everything.
type AuditQuery struct {
	// Kind selects events of that kind (AuditEvent.Kind, exactly).
	Kind     string
	UserID   string
	ClientID string
	// Since selects events whose Time is at or after it.
	Since time.Time
	// Before, when its ID is set, selects only the events that come after
	// it in the answer's order (newest first): Time before Before.Time, or
	// the same Time and a lower ID. It is the cursor of a paged query: the
	// last event of one page (its Time as the store returned it) asks for
	// the next.
	Before AuditCursor
	// Limit caps the answer (newest first); zero means DefaultAuditLimit,
	// and more than MaxAuditLimit means MaxAuditLimit.
	Limit int
}

// AuditCursor is a position in the audit trail: an event's Time and ID.
type AuditCursor struct {
	Time time.Time
	ID   int64
}

// String is the cursor as the admin API and the console pass it in links:
// the time in Unix nanoseconds and the id, joined by a dot.
func (c AuditCursor) String() string {
	return strconv.FormatInt(c.Time.UnixNano(), 10) + "." + strconv.FormatInt(c.ID, 10)
}

// ParseAuditCursor reads a cursor written by String; ok is false for
// anything else, or an id that is not positive.
func ParseAuditCursor(s string) (c AuditCursor, ok bool) {
	ns, id, found := strings.Cut(s, ".")
	n, err1 := strconv.ParseInt(ns, 10, 64)
	i, err2 := strconv.ParseInt(id, 10, 64)
	if !found || err1 != nil || err2 != nil || i <= 0 {
		return AuditCursor{}, false
	}
	return AuditCursor{Time: time.Unix(0, n).UTC(), ID: i}, true
}

// Bounds of AuditQuery.Limit.
const (
	DefaultAuditLimit = 1000
	MaxAuditLimit     = 10000
)

// AuditLog stores the audit trail. Events are only ever appended, and
// removed oldest first by PruneAudit when they are past retention.
type AuditLog interface {
	// AppendAudit stores the events in one transaction, assigning IDs in
	// the order given: all or none are stored. An empty list is a no-op.
	// Every event needs a Kind and a non-zero Time; otherwise nothing is
	// stored and the error says which.
	AppendAudit(ctx context.Context, events []AuditEvent) error
	// AuditEvents returns the events matching q, newest first: by Time
	// descending, then ID descending. A negative q.Limit is an error.
	AuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, error)
	// PruneAudit deletes up to batch events whose Time is before before,
	// oldest first, and returns how many it deleted; batch <= 0 is an
	// error. A caller that gets batch back should call again.
	PruneAudit(ctx context.Context, before time.Time, batch int) (int, error)
}

// AuditLimit returns how many events an AuditQuery with that Limit
// returns at most, or an error for a negative limit.
func AuditLimit(limit int) (int, error) {
	switch {
	case limit < 0:
		return 0, fmt.Errorf("audit query: limit %d, want >= 0", limit)
	case limit == 0:
		return DefaultAuditLimit, nil
	default:
		return min(limit, MaxAuditLimit), nil
	}
}

// CheckAuditEvents returns an error naming the first event AppendAudit
// must refuse (no Kind, or a zero Time), or nil. Backends call it before
// they store anything.
func CheckAuditEvents(events []AuditEvent) error {
	for i, e := range events {
		switch {
		case e.Kind == "":
			return fmt.Errorf("audit event %d: no kind", i)
		case e.Time.IsZero():
			return fmt.Errorf("audit event %d (%s): no time", i, e.Kind)
		}
	}
	return nil
}
