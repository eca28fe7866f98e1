package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// A login-attempt counter is a hash at throttleKey(key) with the fields n
// (the count), ls and ln (the latest attempt, Unix seconds and nanoseconds)
// and xs and xn (when the counter expires, likewise). Liveness is decided
// by xs and xn against the caller's now, as for every record (see
// "Expiry" in the package doc); the key's TTL only reclaims memory.
//
// A reservation is one script per key, in the order given, because the keys
// may live on different Cluster slots: when a later key refuses, the keys
// already counted are given back (releaseLua) before the call returns.

// reserveLua counts one attempt on the counter KEYS[1] at now (ARGV[1]
// Unix seconds, ARGV[2] nanoseconds) if its limit allows one: fewer than
// ARGV[6] attempts counted, or the latest at least the delay ago, which is
// ARGV[7] ns doubled for each attempt past ARGV[6], at most ARGV[8] ns. A
// counter that has expired at now counts from 0. Counting sets the count
// and now as the latest attempt, ARGV[3], ARGV[4] as the expiry, and makes
// the key expire at the Unix millisecond ARGV[5]. It returns, as strings,
// {1, count, ls, ln, xs, xn} with the state before (empty strings for
// none), or {0, ws, wn}: refused until that instant, nothing written.
const reserveLua = `
local h = redis.call('HMGET', KEYS[1], 'n', 'ls', 'ln', 'xs', 'xn')
local s, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local xs, xn = tonumber(h[4]), tonumber(h[5])
local count, ls, ln = 0, nil, nil
if xs and xn and (s < xs or (s == xs and n < xn)) then
	count, ls, ln = tonumber(h[1]) or 0, tonumber(h[2]), tonumber(h[3])
else
	h = {false, false, false, false, false}
end
local free = tonumber(ARGV[6])
if count >= free and ls and ln then
	local d, dmax = tonumber(ARGV[7]), tonumber(ARGV[8])
	if d <= 0 then d = dmax end
	local i = free
	while i < count and d < dmax do
		d = d * 2
		i = i + 1
	end
	if d > dmax then d = dmax end
	local t = ln + d
	local ws, wn = ls + math.floor(t / 1000000000), t % 1000000000
	if s < ws or (s == ws and n < wn) then
		return {'0', tostring(ws), tostring(wn)}
	end
end
redis.call('HSET', KEYS[1], 'n', count + 1, 'ls', ARGV[1], 'ln', ARGV[2], 'xs', ARGV[3], 'xn', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return {'1', tostring(count + 1), h[2] or '', h[3] or '', h[4] or '', h[5] or ''}
`

// releaseLua gives back one attempt counted on KEYS[1] with count ARGV[1]
// at ARGV[2] s, ARGV[3] ns. When the counter still holds exactly that
// attempt as its latest, it returns to the state before it: count - 1,
// latest ARGV[4], ARGV[5], expiry ARGV[6], ARGV[7], key expiry at the Unix
// millisecond ARGV[8] (empty ARGV[4]: there was none, and the key goes).
// Otherwise only the count goes down. A count that would reach 0 deletes
// the key; an absent key stays absent.
const releaseLua = `
local h = redis.call('HMGET', KEYS[1], 'n', 'ls', 'ln')
local count = tonumber(h[1])
if not count then return 0 end
if count <= 1 then
	redis.call('DEL', KEYS[1])
	return 1
end
if count == tonumber(ARGV[1]) and h[2] == ARGV[2] and h[3] == ARGV[3] then
	if ARGV[4] == '' then
		redis.call('DEL', KEYS[1])
		return 1
	end
	redis.call('HSET', KEYS[1], 'n', count - 1, 'ls', ARGV[4], 'ln', ARGV[5], 'xs', ARGV[6], 'xn', ARGV[7])
	redis.call('PEXPIREAT', KEYS[1], ARGV[8])
	return 1
end
redis.call('HINCRBY', KEYS[1], 'n', -1)
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

// ReserveLoginAttempt runs reserveLua on each key in the order given, one
// round trip each, stopping at the first that refuses; then, in one more
// round trip, it gives the keys already counted back (releaseLua) and reads
// the keys not reached, so that the wait is the longest of all the keys'.
func (s *Store) ReserveLoginAttempt(ctx context.Context, limits []storage.ThrottleLimit, now time.Time, window time.Duration) (*storage.LoginAttempt, time.Duration, error) {
	op := "reserve login attempt"
	if len(limits) == 0 {
		return &storage.LoginAttempt{At: now}, 0, nil
	}
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = l.Key
	}
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(keys) {
		return nil, 0, fmt.Errorf("redis: %s: %w", op, storage.ErrDuplicateKey)
	}
	var e encoder
	n, x := e.time(now), e.time(now.Add(window))
	if e.err != nil {
		return nil, 0, fmt.Errorf("redis: %s: %w", op, e.err)
	}
	if n == nil || x == nil {
		return nil, 0, fmt.Errorf("redis: %s: zero time", op)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	exp := s.expireAt(now.Add(window))
	a := &storage.LoginAttempt{At: now}
	for i, l := range limits {
		res, err := s.reserve.Run(ctx, s.rdb, []string{s.throttleKey(l.Key)},
			n[0], n[1], x[0], x[1], exp, l.Free, int64(l.Delay), int64(l.MaxDelay)).StringSlice()
		if err != nil {
			s.giveBack(ctx, a)
			return nil, 0, wrap(op, err)
		}
		if len(res) == 3 && res[0] == "0" {
			until, err := parseStamp(res[1], res[2])
			if err != nil {
				s.giveBack(ctx, a)
				return nil, 0, fmt.Errorf("redis: %s: %w", op, err)
			}
			wait, err := s.refuse(ctx, a, limits[i+1:], now)
			if err != nil {
				return nil, 0, wrap(op, err)
			}
			return nil, max(until.Sub(now), wait, time.Nanosecond), nil
		}
		k, err := decodeReserved(l.Key, res)
		if err != nil {
			a.Keys = append(a.Keys, storage.ReservedKey{Key: l.Key, Count: -1}) // counted, state unknown
			s.giveBack(ctx, a)
			return nil, 0, fmt.Errorf("redis: %s: %w", op, err)
		}
		a.Keys = append(a.Keys, k)
	}
	return a, 0, nil
}

// refuse ends a refused reservation: in one pipeline it gives back the keys
// a counted and reads the keys of rest, whose longest wait it returns.
func (s *Store) refuse(ctx context.Context, a *storage.LoginAttempt, rest []storage.ThrottleLimit, now time.Time) (time.Duration, error) {
	pipe := s.rdb.Pipeline()
	releases := s.queueRelease(ctx, pipe, a, nil)
	reads := make([]*goredis.SliceCmd, len(rest))
	for i, l := range rest {
		reads[i] = pipe.HMGet(ctx, s.throttleKey(l.Key), "n", "ls", "ln", "xs", "xn")
	}
	if len(releases)+len(reads) == 0 {
		return 0, nil
	}
	_, _ = pipe.Exec(ctx)
	var errs []error
	for _, cmd := range releases {
		errs = append(errs, cmd.Err())
	}
	var wait time.Duration
	for i, cmd := range reads {
		vals, err := cmd.Result()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		f, err := decodeFailures(vals, now)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		wait = max(wait, rest[i].Wait(f, now))
	}
	return wait, errors.Join(errs...)
}

// giveBack releases what a counted before a failed reservation returns,
// best effort: the reservation's own error is what the caller reports.
func (s *Store) giveBack(ctx context.Context, a *storage.LoginAttempt) {
	if len(a.Keys) == 0 {
		return
	}
	pipe := s.rdb.Pipeline()
	s.queueRelease(ctx, pipe, a, nil)
	_, _ = pipe.Exec(ctx)
}

// decodeReserved reads reserveLua's answer {1, count, ls, ln, xs, xn}.
func decodeReserved(key string, res []string) (storage.ReservedKey, error) {
	if len(res) != 6 || res[0] != "1" {
		return storage.ReservedKey{}, fmt.Errorf("unexpected reserve answer %q", res)
	}
	count, err := strconv.Atoi(res[1])
	if err != nil {
		return storage.ReservedKey{}, fmt.Errorf("decode count: %w", err)
	}
	k := storage.ReservedKey{Key: key, Count: count}
	if res[2] != "" {
		if k.PrevLast, err = parseStamp(res[2], res[3]); err != nil {
			return storage.ReservedKey{}, err
		}
		if k.PrevExpires, err = parseStamp(res[4], res[5]); err != nil {
			return storage.ReservedKey{}, err
		}
	}
	return k, nil
}

// parseStamp reads Unix seconds and nanoseconds.
func parseStamp(sec, nsec string) (time.Time, error) {
	s, err1 := strconv.ParseInt(sec, 10, 64)
	n, err2 := strconv.ParseInt(nsec, 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return time.Time{}, fmt.Errorf("decode time: %w", err)
	}
	return time.Unix(s, n).UTC(), nil
}

// queueRelease queues releaseLua for each key of a not in forget, and a
// DEL of each key in forget, on pipe.
func (s *Store) queueRelease(ctx context.Context, pipe goredis.Pipeliner, a *storage.LoginAttempt, forget []string) []goredis.Cmder {
	var cmds []goredis.Cmder
	if a != nil {
		for _, k := range a.Keys {
			if slices.Contains(forget, k.Key) {
				continue
			}
			args := []any{k.Count, a.At.Unix(), a.At.Nanosecond(), "", "", "", "", 0}
			if !k.PrevLast.IsZero() {
				args[3], args[4] = k.PrevLast.Unix(), k.PrevLast.Nanosecond()
				args[5], args[6] = k.PrevExpires.Unix(), k.PrevExpires.Nanosecond()
				args[7] = s.expireAt(k.PrevExpires)
			}
			// EVAL, not EVALSHA: in a pipeline a missing script cannot fall back.
			cmds = append(cmds, s.release.Eval(ctx, pipe, []string{s.throttleKey(k.Key)}, args...))
		}
	}
	for _, k := range forget {
		cmds = append(cmds, pipe.Del(ctx, s.throttleKey(k)))
	}
	return cmds
}

// ReleaseLoginAttempt gives a's attempt back (releaseLua on each key) and
// deletes the keys in forget, in one round trip: a pipeline of one command
// per key (a DEL of several keys would need them in one Cluster slot).
func (s *Store) ReleaseLoginAttempt(ctx context.Context, a *storage.LoginAttempt, forget []string) error {
	op := "release login attempt"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	pipe := s.rdb.Pipeline()
	cmds := s.queueRelease(ctx, pipe, a, forget)
	if len(cmds) == 0 {
		return nil
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
