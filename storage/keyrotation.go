package storage

import (
	"context"
	"time"
)

// KeyRotation is what rotating signing keys and server secrets needs from a
// store beyond SigningKeys and Secrets: changing a key's schedule, removing
// keys and secrets whose life is over, moving everything to a new
// key-encryption key, and a lock so that one instance at a time decides on
// new keys.
type KeyRotation interface {
	// UpdateSigningKey overwrites the mutable fields of the stored key with
	// k.ID: its schedule (PublishAt, ActivateAt, RetireAt, DeleteAt) and its
	// sealed private part (PrivateSealed, KEKID, for a KEK rewrap). The
	// Algorithm, PublicJWK and CreatedAt given are ignored: a key's identity
	// never changes. ErrNotFound if no key has that id, whatever its
	// DeleteAt.
	UpdateSigningKey(ctx context.Context, k *SigningKey) error
	// DeleteSigningKeys removes every key whose DeleteAt is set and not after
	// now (the keys SigningKeys no longer returns) and reports how many it
	// removed.
	DeleteSigningKeys(ctx context.Context, now time.Time) (int, error)
	// WithRotationLock runs fn while holding the store's rotation lock, if
	// no one else holds it, and reports whether fn ran. It never waits for
	// the lock: a caller that finds it taken gets false and a nil error,
	// since the holder is doing the same work. When fn runs, err is fn's
	// error joined with any error releasing the lock. The lock is shared by
	// every process using the same store (same database and schema). The
	// lock guards only against other holders, not against other writers:
	// fn's store calls go through the store as usual, and its ctx may carry
	// a deadline (a lease) after which another caller may take the lock.
	WithRotationLock(ctx context.Context, fn func(ctx context.Context) error) (ran bool, err error)

	// SecretsByPrefix returns every secret whose name starts with prefix
	// (every secret for ""), ordered by CreatedAt, then by name.
	SecretsByPrefix(ctx context.Context, prefix string) ([]Secret, error)
	// DeleteSecret removes the named secret; ErrNotFound if there is none.
	DeleteSecret(ctx context.Context, name string) error

	// TOTPCredentials returns every user's one-time-code generator (see
	// SecondFactors), ordered by UserID, for a KEK rewrap.
	TOTPCredentials(ctx context.Context) ([]TOTPCredential, error)

	// Rewrap replaces the sealed part of signing keys, secrets and users'
	// TOTP secrets, for a KEK rewrap: for each k of keys it sets the
	// PrivateSealed and KEKID of the stored key with k.ID, and for each s
	// of secrets the Sealed and KEKID of the stored secret named s.Name —
	// but only where the stored KEKID is still fromKEKID. For each c of
	// totps it sets the SealedSecret and KEKID of c.UserID's generator,
	// only where the stored KEKID is still fromKEKID and the stored
	// SealedSecret is still c.OldSealed. All of it happens in one
	// transaction: if any row is missing or changed meanwhile nothing is
	// written and the error wraps ErrConflict, so the caller can read the
	// rows again and retry. Other fields given are ignored; in particular
	// a generator's LastStep and LastUsedAt are left as they are.
	Rewrap(ctx context.Context, fromKEKID string, keys []SigningKey, secrets []Secret, totps []RewrappedTOTP) error
}

// RewrappedTOTP is a user's TOTP secret sealed anew under another KEK, for
// KeyRotation.Rewrap.
type RewrappedTOTP struct {
	UserID string
	// OldSealed is the sealed secret as it was read. Unlike keys and
	// secrets, which change only under the rotation lock, a user may set up
	// a new code at any moment; the row is rewritten only while it still
	// holds this, so a code set up meanwhile is never replaced by the one
	// read before.
	OldSealed []byte
	// SealedSecret and KEKID are the same secret sealed under the new KEK.
	SealedSecret []byte
	KEKID        string
}
