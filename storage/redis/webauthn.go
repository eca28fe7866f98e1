package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

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
	ctx, cancel := s.bound(ctx)
	defer cancel()
	exp := time.UnixMilli(s.expireAt(c.ExpiresAt))
	err = s.rdb.SetArgs(ctx, s.ceremonyKey(c.ID), val, goredis.SetArgs{Mode: "NX", ExpireAt: exp}).Err()
	switch {
	case errors.Is(err, goredis.Nil):
		return conflict(op, "id exists")
	case err != nil:
		return wrap(op, err)
	}
	return nil
}

// TakeWebAuthnCeremony deletes the live ceremony and returns it: one
// script on its key (one round trip, takeLiveLua as for pending sign-ins),
// so of concurrent takes exactly one gets it. One expired at now is left
// as it is, until its key's TTL.
func (s *Store) TakeWebAuthnCeremony(ctx context.Context, id string, now time.Time) (*storage.WebAuthnCeremony, error) {
	const op = "take webauthn ceremony"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	sec, nsec := nowArgs(now)
	v, err := s.takeLive.Run(ctx, s.rdb, []string{s.ceremonyKey(id)}, sec, nsec).Text()
	if err != nil {
		return nil, wrap(op, err)
	}
	c, err := decodeWebAuthnCeremony(id, []byte(v))
	if err != nil {
		// Taken, but unreadable: the ceremony cannot be completed.
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	return c, nil
}
