package storage

import (
	"context"
	"time"
)

// KeyRotation is what rotating signing keys needs from a store beyond
// SigningKeys: changing a key's schedule, removing keys whose life is over,
// and a lock so that one instance at a time decides on new keys.
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
}
