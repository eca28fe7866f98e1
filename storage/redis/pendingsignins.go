package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// takeLiveLua deletes the record KEYS[1] and returns its value if it is
// live at now (ARGV[1] Unix seconds, ARGV[2] nanoseconds); otherwise it
// returns nil and leaves the record as it is.
const takeLiveLua = liveLua + `
local v = redis.call('GET', KEYS[1])
if not v then return false end
if not live(cjson.decode(v).x, tonumber(ARGV[1]), tonumber(ARGV[2])) then return false end
redis.call('DEL', KEYS[1])
return v
`

// CreatePendingSignIn stores p; ErrConflict if the id exists. One round
// trip: SET NX, the key expiring at p.ExpiresAt.
func (s *Store) CreatePendingSignIn(ctx context.Context, p *storage.PendingSignIn) error {
	const op = "create pending sign-in"
	val, err := encodePendingSignIn(p)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	return s.setNew(ctx, op, s.pendingKey(p.ID), val, p.ExpiresAt)
}

// setNew stores val at key unless the key exists (ErrConflict), expiring
// at expiresAt: one round trip, SET NX.
func (s *Store) setNew(ctx context.Context, op, key string, val []byte, expiresAt time.Time) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	exp := time.UnixMilli(s.expireAt(expiresAt))
	err := s.rdb.SetArgs(ctx, key, val, goredis.SetArgs{Mode: "NX", ExpireAt: exp}).Err()
	switch {
	case errors.Is(err, goredis.Nil):
		return conflict(op, "id exists")
	case err != nil:
		return wrap(op, err)
	}
	return nil
}

// takeLiveValue deletes the record at key if it is live at now and
// returns it: one script (takeLiveLua), so of concurrent takes exactly
// one gets it.
func (s *Store) takeLiveValue(ctx context.Context, op, key string, now time.Time) ([]byte, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	sec, nsec := nowArgs(now)
	v, err := s.takeLive.Run(ctx, s.rdb, []string{key}, sec, nsec).Text()
	if err != nil {
		return nil, wrap(op, err)
	}
	return []byte(v), nil
}

// PendingSignIn returns p if it exists and now is before its ExpiresAt;
// otherwise ErrNotFound. One round trip.
func (s *Store) PendingSignIn(ctx context.Context, id string, now time.Time) (*storage.PendingSignIn, error) {
	const op = "pending sign-in"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	b, err := s.rdb.Get(ctx, s.pendingKey(id)).Bytes()
	if err != nil {
		return nil, wrap(op, err)
	}
	p, err := decodePendingSignIn(id, b)
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	if !live(p.ExpiresAt, now) {
		return nil, notFound(op)
	}
	return p, nil
}

// TakePendingSignIn deletes the live p and returns it: one script on its
// key (one round trip), so of concurrent takes exactly one gets it. One
// expired at now is left as it is, until its key's TTL.
func (s *Store) TakePendingSignIn(ctx context.Context, id string, now time.Time) (*storage.PendingSignIn, error) {
	const op = "take pending sign-in"
	v, err := s.takeLiveValue(ctx, op, s.pendingKey(id), now)
	if err != nil {
		return nil, err
	}
	p, err := decodePendingSignIn(id, v)
	if err != nil {
		// Taken, but unreadable: the sign-in cannot be completed.
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	return p, nil
}
