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

	// Rewrap replaces the sealed part of signing keys and secrets, for a
	// KEK rewrap: for each k of keys it sets the PrivateSealed and KEKID of
	// the stored key with k.ID, and for each s of secrets the Sealed and
	// KEKID of the stored secret named s.Name — but only where the stored
	// KEKID is still fromKEKID. All of it happens in one transaction: if any
	// row is missing or no longer under fromKEKID (someone changed it
	// meanwhile) nothing is written and the error wraps ErrConflict, so the
	// caller can read the rows again and retry. Other fields given are
	// ignored.
	Rewrap(ctx context.Context, fromKEKID string, keys []SigningKey, secrets []Secret) error
}
