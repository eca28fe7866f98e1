package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// CreateWebAuthnCeremony stores c; ErrConflict if the id exists. One round
// trip: SET NX, the key expiring at c.ExpiresAt.
func (s *Store) CreateWebAuthnCeremony(ctx context.Context, c *storage.WebAuthnCeremony) error {
	const op = "create webauthn ceremony"
	val, err := encodeWebAuthnCeremony(c)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	return s.setNew(ctx, op, s.ceremonyKey(c.ID), val, c.ExpiresAt)
}

// TakeWebAuthnCeremony deletes the live ceremony and returns it: one
// script on its key (one round trip, takeLiveLua as for pending sign-ins),
// so of concurrent takes exactly one gets it. One expired at now is left
// as it is, until its key's TTL.
func (s *Store) TakeWebAuthnCeremony(ctx context.Context, id string, now time.Time) (*storage.WebAuthnCeremony, error) {
	const op = "take webauthn ceremony"
	v, err := s.takeLiveValue(ctx, op, s.ceremonyKey(id), now)
	if err != nil {
		return nil, err
	}
	c, err := decodeWebAuthnCeremony(id, v)
	if err != nil {
		// Taken, but unreadable: the ceremony cannot be completed.
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	return c, nil
}
