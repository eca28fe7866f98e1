package storage

import (
	"context"
	"time"
)

// TOTPCredential is a user's one-time-code generator (RFC 6238): one per
// user. The shared secret is stored sealed under the key-encryption key
// (keys.Sealer, associated data TOTPAssociatedData(UserID)), never in the
// clear.
type TOTPCredential struct {
	UserID string
	// SealedSecret is the sealed secret; KEKID names the key-encryption
	// key that sealed it (for a later rewrap).
	SealedSecret []byte
	KEKID        string
	// LastStep is the last RFC 6238 time step whose code was accepted:
	// a code of this step or an earlier one is a replay.
	LastStep  int64
	CreatedAt time.Time
	// LastUsedAt is when a code was last accepted; zero if never.
	LastUsedAt time.Time
}

// TOTPAssociatedData is the associated data a user's TOTP secret is sealed
// with, "totp:" + userID: a sealed secret copied to another user's row does
// not open. Whoever seals or opens one (the login UI, a KEK rewrap) uses
// this, so that they cannot disagree.
func TOTPAssociatedData(userID string) []byte { return []byte("totp:" + userID) }

// RecoveryCode is one single-use recovery code of a user. The code is
// shown to the user once; the store keeps its ID (the code's first group,
// which finds the row) and the argon2id hash of the whole code.
type RecoveryCode struct {
	UserID    string
	ID        string
	Hash      string
	CreatedAt time.Time
}

// SecondFactors keeps users' second factors in SQL: the one-time-code
// generator and the recovery codes. A user's factors go with the user.
type SecondFactors interface {
	// TOTP returns the user's generator; ErrNotFound when there is none.
	TOTP(ctx context.Context, userID string) (*TOTPCredential, error)
	// SetTOTP stores c as the user's generator, replacing any previous one
	// (a reset), with c.LastStep as given. ErrNotFound when the user does
	// not exist.
	SetTOTP(ctx context.Context, c *TOTPCredential) error
	// UseTOTPStep records that the user's code of step was accepted at
	// now, in one atomic step: it succeeds only when step is later than the
	// stored LastStep (which becomes step, and LastUsedAt now). Otherwise
	// nothing changes and the error is ErrConflict: the code, or one of a
	// later step, was accepted before — of two concurrent uses of one code
	// on any instances, one succeeds. ErrNotFound when the user has no
	// generator.
	UseTOTPStep(ctx context.Context, userID string, step int64, now time.Time) error
	// DeleteTOTP removes the user's generator and reports whether there
	// was one.
	DeleteTOTP(ctx context.Context, userID string) (bool, error)

	// SetRecoveryCodes replaces every recovery code of the user by codes,
	// in one transaction: the old set stops working. IDs are distinct per
	// user (ErrDuplicateKey otherwise, and nothing changes). ErrNotFound
	// when the user does not exist.
	SetRecoveryCodes(ctx context.Context, userID string, codes []RecoveryCode) error
	// RecoveryCode returns the user's unused code with that ID;
	// ErrNotFound when there is none.
	RecoveryCode(ctx context.Context, userID, id string) (*RecoveryCode, error)
	// UseRecoveryCode spends the code (it is deleted): ErrNotFound when it
	// is gone already, so of concurrent uses of one code exactly one
	// succeeds.
	UseRecoveryCode(ctx context.Context, userID, id string) error
	// RecoveryCodesLeft counts the user's unused codes.
	RecoveryCodesLeft(ctx context.Context, userID string) (int, error)
	// DeleteRecoveryCodes removes every code of the user and returns how
	// many there were.
	DeleteRecoveryCodes(ctx context.Context, userID string) (int, error)
}

// PendingSignIn is the half-signed-in state between a correct password and
// the second factor still due: its own short-lived record, never a
// session. It opens no application and no account page; completing it
// (TakePendingSignIn) is what creates or steps up a session. The browser
// holds a random value in a cookie; the store only sees ID, its SHA-256.
type PendingSignIn struct {
	ID     string
	UserID string
	// BrowserHash binds it to the browser that signed in (the SHA-256 of
	// its binding cookie).
	BrowserHash string
	// AuthRequestID is the authorization request the sign-in completes;
	// "" for a sign-in to the account page.
	AuthRequestID string
	// SessionID is set for a step-up: the live session whose factors grow
	// when the second factor is given, instead of a new session.
	SessionID string
	// Remember is the "keep me signed in" choice of the password form.
	Remember bool
	// AMR lists what was done so far ("pwd"), AuthTime when.
	AMR       []string
	AuthTime  time.Time
	CreatedAt time.Time
	// ExpiresAt is when the store stops returning it.
	ExpiresAt time.Time
}

// PendingSignIns keeps the half-signed-in states, in the session store
// (Redis, or SQL without Redis).
type PendingSignIns interface {
	// CreatePendingSignIn stores p; ErrConflict if the id exists.
	CreatePendingSignIn(ctx context.Context, p *PendingSignIn) error
	// PendingSignIn returns p if it exists and now is before its
	// ExpiresAt; otherwise ErrNotFound.
	PendingSignIn(ctx context.Context, id string, now time.Time) (*PendingSignIn, error)
	// TakePendingSignIn deletes the live p and returns it, in one atomic
	// step: of concurrent takes exactly one gets it, the others (and any
	// take after it expired) get ErrNotFound.
	TakePendingSignIn(ctx context.Context, id string, now time.Time) (*PendingSignIn, error)
}

// SessionAuthenticator records a new authentication in a live session: a
// step-up (a second factor added) or a fresh sign-in check before the
// user changes their factors.
type SessionAuthenticator interface {
	// AuthenticateSession sets AuthTime and AMR of the live session id.
	// ErrNotFound if the session is gone or expired at now.
	AuthenticateSession(ctx context.Context, id string, authTime time.Time, amr []string, now time.Time) error
}

// Passkey is a WebAuthn credential of a user: a passkey, or a security key
// used as a second factor. The store keeps the credential as the login UI
// gives it (Credential: go-webauthn's credential record as JSON, with the
// public key, flags, transports and AAGUID), opaque to it, beside what it
// must query or update atomically.
type Passkey struct {
	// ID is the credential id (WebAuthn's rawId), unique across users.
	ID     []byte
	UserID string
	// Name is what the user calls it ("Laptop", "YubiKey").
	Name       string
	Credential []byte
	// SignCount is the authenticator's signature counter as last seen;
	// 0 for authenticators that keep none.
	SignCount  uint32
	CreatedAt  time.Time
	LastUsedAt time.Time // zero if never used
}

// Passkeys keeps users' WebAuthn credentials in SQL; they go with their
// user.
type Passkeys interface {
	// CreatePasskey stores p: ErrConflict if a credential with its ID
	// exists (for any user), ErrNotFound if the user does not.
	CreatePasskey(ctx context.Context, p *Passkey) error
	// UserPasskeys lists the user's passkeys, oldest first (CreatedAt,
	// then ID).
	UserPasskeys(ctx context.Context, userID string) ([]Passkey, error)
	// Passkey returns the credential with that ID; ErrNotFound if none.
	Passkey(ctx context.Context, id []byte) (*Passkey, error)
	// UsePasskey records a verified assertion of credential id at now: its
	// SignCount becomes count, Credential becomes credential (its flags
	// may change) and LastUsedAt now — only if the stored SignCount is
	// still prev, in one atomic step; otherwise nothing changes and the
	// error is ErrConflict (another instance recorded a use meanwhile).
	// ErrNotFound if the credential is gone.
	UsePasskey(ctx context.Context, id []byte, prev, count uint32, credential []byte, now time.Time) error
	// RenamePasskey sets the name of the user's credential id; ErrNotFound
	// if the user has no such credential.
	RenamePasskey(ctx context.Context, userID string, id []byte, name string) error
	// DeletePasskey removes the user's credential id and reports whether
	// there was one (another user's is never removed).
	DeletePasskey(ctx context.Context, userID string, id []byte) (bool, error)
	// DeleteUserPasskeys removes every credential of the user and returns
	// how many there were.
	DeleteUserPasskeys(ctx context.Context, userID string) (int, error)
}

// WebAuthnCeremony is the server's half of one WebAuthn registration or
// authentication: the challenge and what it was issued for, kept until
// the browser answers, and used once.
type WebAuthnCeremony struct {
	// ID is the SHA-256 (hex) of the random value the browser holds.
	ID string
	// Kind says what the ceremony is for ("register", "login", "factor").
	Kind string
	// UserID is the user it was issued to; "" for a passwordless sign-in,
	// where the credential names the user.
	UserID string
	// Binding is what it belongs to: the session, the pending sign-in or
	// the browser binding that started it (as the login UI decides).
	Binding string
	// Data is go-webauthn's session data as JSON (the challenge, the
	// allowed credentials, the user verification asked for).
	Data      []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// WebAuthnCeremonies keeps ceremonies where browser sessions are (Redis,
// or SQL without Redis).
type WebAuthnCeremonies interface {
	// CreateWebAuthnCeremony stores c; ErrConflict if the id exists.
	CreateWebAuthnCeremony(ctx context.Context, c *WebAuthnCeremony) error
	// TakeWebAuthnCeremony deletes the live ceremony and returns it, in one
	// atomic step: of concurrent takes exactly one gets it; the others,
	// and any take at or after its ExpiresAt, get ErrNotFound.
	TakeWebAuthnCeremony(ctx context.Context, id string, now time.Time) (*WebAuthnCeremony, error)
}
