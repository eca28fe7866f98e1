package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// A login-failure counter is a hash at throttleKey(key) with the fields n
// (the count), ls and ln (the last failure, Unix seconds and nanoseconds)
// and xs and xn (when the counter expires, likewise). Liveness is decided
// by xs and xn against the caller's now, as for every record (see
// "Expiry" in the package doc); the key's TTL only reclaims memory.

// recordFailureLua adds one failure to the counter KEYS[1] at now (ARGV[1]
// Unix seconds, ARGV[2] nanoseconds), or starts it again at 1 if it has
// expired at now; records now as the last failure and ARGV[3], ARGV[4] as
// its expiry; and makes the key expire at the Unix millisecond ARGV[5].
const recordFailureLua = `
local h = redis.call('HMGET', KEYS[1], 'xs', 'xn')
local xs, xn = tonumber(h[1]), tonumber(h[2])
local s, n = tonumber(ARGV[1]), tonumber(ARGV[2])
if xs and xn and (s < xs or (s == xs and n < xn)) then
	redis.call('HINCRBY', KEYS[1], 'n', 1)
else
	redis.call('HSET', KEYS[1], 'n', 1)
end
redis.call('HSET', KEYS[1], 'ls', ARGV[1], 'ln', ARGV[2], 'xs', ARGV[3], 'xn', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1
`

// LoginFailures returns the state of each key, in order; a key without a
// counter, or whose counter has expired at now, has Count 0 and a zero
// Last. One round trip: a pipeline of one HMGET per key.
func (s *Store) LoginFailures(ctx context.Context, keys []string, now time.Time) ([]storage.LoginFailures, error) {
	op := "login failures"
	out := make([]storage.LoginFailures, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	cmds := make([]*goredis.SliceCmd, len(keys))
	pipe := s.rdb.Pipeline()
	for i, k := range keys {
		cmds[i] = pipe.HMGet(ctx, s.throttleKey(k), "n", "ls", "ln", "xs", "xn")
	}
	_, _ = pipe.Exec(ctx)
	for i, cmd := range cmds {
		vals, err := cmd.Result()
		if err != nil {
			return nil, wrap(op, err)
		}
		f, err := decodeFailures(vals, now)
		if err != nil {
			return nil, fmt.Errorf("redis: %s: key %q: %w", op, keys[i], err)
		}
		out[i] = f
	}
	return out, nil
}

// decodeFailures reads the fields n, ls, ln, xs, xn of a counter (nil when
// absent) as its state at now.
func decodeFailures(vals []any, now time.Time) (storage.LoginFailures, error) {
	var nums [5]int64
	for i, v := range vals {
		str, ok := v.(string)
		if !ok {
			return storage.LoginFailures{}, nil // no counter
		}
		n, err := strconv.ParseInt(str, 10, 64)
		if err != nil {
			return storage.LoginFailures{}, fmt.Errorf("decode counter: %w", err)
		}
		nums[i] = n
	}
	if !live(time.Unix(nums[3], nums[4]), now) {
		return storage.LoginFailures{}, nil
	}
	return storage.LoginFailures{Count: int(nums[0]), Last: time.Unix(nums[1], nums[2]).UTC()}, nil
}

// RecordLoginFailure adds one failure to each key's counter (a key given
// twice gets two), sets its Last to now and its expiry to now+window; a
// counter that has expired at now starts again at 1. Each counter is
// updated by a script on its own key; the scripts of all the keys go in
// one pipeline, so one round trip (per Cluster node). A failure leaves the
// other keys counted.
func (s *Store) RecordLoginFailure(ctx context.Context, keys []string, now time.Time, window time.Duration) error {
	op := "record login failure"
	if len(keys) == 0 {
		return nil
	}
	var e encoder
	n, x := e.time(now), e.time(now.Add(window))
	if e.err != nil {
		return fmt.Errorf("redis: %s: %w", op, e.err)
	}
	if n == nil || x == nil {
		return fmt.Errorf("redis: %s: zero time", op)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	exp := s.expireAt(now.Add(window))
	cmds := make([]*goredis.Cmd, len(keys))
	pipe := s.rdb.Pipeline()
	for i, k := range keys {
		// EVAL, not EVALSHA: in a pipeline a missing script cannot fall back.
		cmds[i] = s.recordFailure.Eval(ctx, pipe, []string{s.throttleKey(k)}, n[0], n[1], x[0], x[1], exp)
	}
	_, _ = pipe.Exec(ctx)
	var errs []error
	for _, cmd := range cmds {
		if err := cmd.Err(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return wrap(op, errors.Join(errs...))
	}
	return nil
}

// ClearLoginFailures deletes the keys' counters; absent keys are not an
// error. One round trip: a pipeline of one DEL per key (a DEL of several
// keys would need them in one Cluster slot).
func (s *Store) ClearLoginFailures(ctx context.Context, keys []string) error {
	op := "clear login failures"
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	pipe := s.rdb.Pipeline()
	for _, k := range keys {
		pipe.Del(ctx, s.throttleKey(k))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap(op, err)
	}
	return nil
}
