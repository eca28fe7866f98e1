package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// addToIndexLua adds session ARGV[2], whose deadline (see sessionDeadline)
// is the Unix millisecond ARGV[1], to the user index KEYS[1]. A member's
// score only ever grows, and the index expires with its latest member.
// Members whose deadlines have passed by the server's clock (their keys are
// gone too) are dropped on the way, so the index of a user who signs in
// often does not grow without bound.
const addToIndexLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. string.format('%d', now))
redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[2])
local exp = tonumber(ARGV[1])
if redis.call('PEXPIRETIME', KEYS[1]) < exp then
	redis.call('PEXPIREAT', KEYS[1], ARGV[1])
end
return 1
`

// updateSessionLua overwrites the fields ls, ip, ua, cl and x of the session
// KEYS[1] with those of the JSON object ARGV[3] (a field the object lacks is
// removed), if the session is live at now (ARGV[1] Unix seconds, ARGV[2]
// nanoseconds). The new expiry x is capped at the stored absolute deadline
// ax, or at the stored x when there is none; the key then expires at x
// rounded up to the millisecond, but not before the Unix millisecond
// ARGV[4]. It returns 1 when updated, 0 if the session is absent or
// expired.
const updateSessionLua = liveLua + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local s = cjson.decode(v)
if not live(s.x, tonumber(ARGV[1]), tonumber(ARGV[2])) then return 0 end
local p = cjson.decode(ARGV[3])
local cap, x = s.ax or s.x, p.x
if type(x) == 'table' and (cap[1] < x[1] or (cap[1] == x[1] and cap[2] < x[2])) then x = cap end
s.ls, s.ip, s.ua, s.cl, s.x = p.ls, p.ip, p.ua, p.cl, x
local ms = tonumber(ARGV[4])
if type(x) == 'table' then
	local xm = x[1] * 1000 + math.ceil(x[2] / 1000000)
	if xm > ms then ms = xm end
end
redis.call('SET', KEYS[1], cjson.encode(s), 'PXAT', string.format('%d', ms))
return 1
`

// authenticateSessionLua overwrites the fields at and amr of the session
// KEYS[1] with those of the JSON object ARGV[3] (a field the object lacks
// is removed), if the session is live at now (ARGV[1] Unix seconds,
// ARGV[2] nanoseconds), keeping its key's expiry. It returns 1 when
// updated, 0 if the session is absent or expired.
const authenticateSessionLua = liveLua + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local s = cjson.decode(v)
if not live(s.x, tonumber(ARGV[1]), tonumber(ARGV[2])) then return 0 end
local p = cjson.decode(ARGV[3])
s.at, s.amr = p.at, p.amr
redis.call('SET', KEYS[1], cjson.encode(s), 'KEEPTTL')
return 1
`

// sessionDeadline is the instant after which a session can never be live,
// since UpdateSession never moves its ExpiresAt past it: its
// AbsoluteExpiresAt, or its ExpiresAt when that is zero (or, against the
// contract, later).
func sessionDeadline(sess *storage.Session) time.Time {
	if sess.AbsoluteExpiresAt.After(sess.ExpiresAt) {
		return sess.AbsoluteExpiresAt
	}
	return sess.ExpiresAt
}

// CreateSession inserts sess; ErrConflict if the id exists. It takes two
// round trips: the index entry first (scored by the session's deadline),
// then the session (SET NX, expiring at its ExpiresAt), so a session is
// never stored unindexed. A refused duplicate may leave its id in the index
// of sess.UserID; readers check the owner, so that entry is inert. The
// second round trip also adds the session to the active set (ZADD NX, so
// a refused duplicate leaves the first session's entry as it was).
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	op := "create session"
	val, err := encodeSession(sess)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	score := s.expireAt(sessionDeadline(sess))
	err = s.addToIndex.Run(ctx, s.rdb, []string{s.indexKey(sess.UserID)}, score, sess.ID).Err()
	if err != nil {
		return fmt.Errorf("redis: %s: index: %w", op, err)
	}
	exp := s.expireAt(sess.ExpiresAt)
	pipe := s.rdb.Pipeline()
	set := pipe.SetArgs(ctx, s.sessionKey(sess.ID), val, goredis.SetArgs{Mode: "NX", ExpireAt: time.UnixMilli(exp)})
	s.addActive(ctx, pipe, sess.ID, sess.ExpiresAt, sessionDeadline(sess))
	// Only the SET decides the outcome; the active set is best effort.
	_, _ = pipe.Exec(ctx)
	err = set.Err()
	switch {
	case errors.Is(err, goredis.Nil):
		return conflict(op, "id exists")
	case err != nil:
		return wrap(op, err)
	}
	return nil
}

// Session returns the session if it exists and now is before its
// ExpiresAt; otherwise ErrNotFound. One round trip.
func (s *Store) Session(ctx context.Context, id string, now time.Time) (*storage.Session, error) {
	op := "session"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	b, err := s.rdb.Get(ctx, s.sessionKey(id)).Bytes()
	if err != nil {
		return nil, wrap(op, err)
	}
	sess, err := decodeSession(id, b)
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	if !live(sess.ExpiresAt, now) {
		return nil, notFound(op)
	}
	return sess, nil
}

// UpdateSession overwrites LastSeen, IP, UserAgent, Clients and ExpiresAt
// of the session sess.ID if it is live at now; ErrNotFound if it is gone or
// expired at now. One round trip: a script on the session key alone reads
// the stored session, checks it is live, caps the new ExpiresAt at the
// stored AbsoluteExpiresAt (at the stored ExpiresAt for a session created
// without one, which can then only shrink), and writes it back with its
// key expiring at the new ExpiresAt. Every other field keeps its stored
// value, whatever sess holds, and the index is not touched: its score is
// the session's deadline, which the update never passes. A deleted session
// is never recreated.
//
// The same round trip moves the session's entry in the active set to the
// new ExpiresAt (capped at sess.AbsoluteExpiresAt, as the script caps it at
// the stored one) with ZADD XX, which never adds an entry: a session
// deleted meanwhile stays uncounted. Two cases take a second round trip:
// a refused update removes the entry (the session is gone or expired, so
// never live again), and a session stored before the active set existed,
// which has no entry, gets one at its first update.
func (s *Store) UpdateSession(ctx context.Context, sess *storage.Session, now time.Time) error {
	op := "update session"
	patch, err := encodeSessionUpdate(sess)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	sec, nsec := nowArgs(now)
	floor := s.clock().Add(minKeep).UnixMilli()
	keys, args := []string{s.sessionKey(sess.ID)}, []any{sec, nsec, patch, floor}
	exp := sess.ExpiresAt
	if !sess.AbsoluteExpiresAt.IsZero() && sess.AbsoluteExpiresAt.Before(exp) {
		exp = sess.AbsoluteExpiresAt
	}
	// The script runs by its SHA in a pipeline, where go-redis cannot fall
	// back to sending it; on NOSCRIPT the pipeline is sent again with the
	// script itself (ZADD XX twice is harmless).
	var update *goredis.Cmd
	var indexed *goredis.FloatCmd
	for _, sha := range []bool{true, false} {
		pipe := s.rdb.Pipeline()
		if sha {
			update = s.updateSession.EvalSha(ctx, pipe, keys, args...)
		} else {
			update = s.updateSession.Eval(ctx, pipe, keys, args...)
		}
		indexed = pipe.ZScore(ctx, s.activeKey(), sess.ID)
		pipe.ZAddXX(ctx, s.activeKey(), goredis.Z{Score: activeScore(exp), Member: sess.ID})
		_, _ = pipe.Exec(ctx)
		if !goredis.HasErrorPrefix(update.Err(), "NOSCRIPT") {
			break
		}
	}
	n, err := update.Int()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		// Gone or expired at now, so never live again: the ZADD XX must
		// not have revived its entry. Best effort.
		s.rdb.ZRem(ctx, s.activeKey(), sess.ID)
		return notFound(op)
	}
	if errors.Is(indexed.Err(), goredis.Nil) {
		// Best effort, as every write to the active set.
		pipe := s.rdb.Pipeline()
		s.addActive(ctx, pipe, sess.ID, exp, sessionDeadline(sess))
		_, _ = pipe.Exec(ctx)
	}
	return nil
}

// AuthenticateSession sets AuthTime and AMR of the session id if it is
// live at now; ErrNotFound if it is gone or expired at now. One round
// trip: a script on the session key alone checks that it is live and
// rewrites it, keeping its key's expiry. Neither the index nor the active
// set changes, since the session's expiry does not; a deleted session is
// never recreated.
func (s *Store) AuthenticateSession(ctx context.Context, id string, authTime time.Time, amr []string, now time.Time) error {
	const op = "authenticate session"
	patch, err := encodeSessionAuth(authTime, amr)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	sec, nsec := nowArgs(now)
	n, err := s.authenticateSession.Run(ctx, s.rdb, []string{s.sessionKey(id)}, sec, nsec, patch).Int()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return notFound(op)
	}
	return nil
}

// DeleteSession removes the session and its index entry, and returns what
// the session held; (nil, nil) if there was none. Two round trips (one if
// absent): GETDEL, which alone decides success (of concurrent deletes
// exactly one gets the value), then a ZREM of the index entry and one of
// the active set's entry. Should the ZREMs fail, the session is still gone
// and DeleteSession still succeeds: a stale index entry is skipped by
// readers and dropped when its score passes, as is a stale active entry.
func (s *Store) DeleteSession(ctx context.Context, id string) (*storage.Session, error) {
	op := "delete session"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	b, err := s.rdb.GetDel(ctx, s.sessionKey(id)).Bytes()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil, nil
	case err != nil:
		return nil, wrap(op, err)
	}
	sess, err := decodeSession(id, b)
	if err != nil {
		// Deleted, but the caller cannot tell whom to notify.
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	pipe := s.rdb.Pipeline()
	pipe.ZRem(ctx, s.indexKey(sess.UserID), id)
	pipe.ZRem(ctx, s.activeKey(), id)
	_, _ = pipe.Exec(ctx)
	return sess, nil
}

// UserSessions returns the user's sessions that are live at now, ordered by
// CreatedAt then ID, through the user's index. Two round trips (one if the
// index is empty): ZRANGE BYSCORE from now, then a pipeline of GETs (MGET
// would need every key in one Cluster slot). Index entries whose session is
// gone or belongs to someone else are skipped but not removed: the session
// may be just about to be written (CreateSession indexes first).
func (s *Store) UserSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	op := "user sessions"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// A live session's score is at least its ExpiresAt in milliseconds,
	// which is after now, so strictly above now truncated to milliseconds.
	ids, err := s.rdb.ZRangeArgs(ctx, goredis.ZRangeArgs{
		Key:     s.indexKey(userID),
		Start:   "(" + strconv.FormatInt(now.UnixMilli(), 10),
		Stop:    "+inf",
		ByScore: true,
	}).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.StringCmd, len(ids))
	pipe := s.rdb.Pipeline()
	for i, id := range ids {
		cmds[i] = pipe.Get(ctx, s.sessionKey(id))
	}
	// Exec reports the first failed command; a missing key (goredis.Nil) is
	// no failure here, so each command is checked instead.
	_, _ = pipe.Exec(ctx)
	list := make([]storage.Session, 0, len(ids))
	for i, cmd := range cmds {
		b, err := cmd.Bytes()
		switch {
		case errors.Is(err, goredis.Nil):
			continue
		case err != nil:
			return nil, wrap(op, err)
		}
		sess, err := decodeSession(ids[i], b)
		if err != nil {
			return nil, fmt.Errorf("redis: %s: %w", op, err)
		}
		if sess.UserID == userID && live(sess.ExpiresAt, now) {
			list = append(list, *sess)
		}
	}
	sortSessions(list)
	return list, nil
}

// DeleteUserSessions removes every session of the user that is still in
// Redis, live or expired at any caller's now, and returns the sessions it
// removed, ordered by CreatedAt then ID. Three round trips (one if the
// index is empty): read the whole index; a pipeline of one-key scripts that
// each delete and return a session only if it belongs to the user; then
// ZREM of the entries whose sessions it deleted, from the index and the
// active set (best effort, as in DeleteSession). Entries it did not delete stay: one whose session is not
// written yet must keep pointing at it. A session created concurrently may
// survive; one created before the call began does not. On an error the
// sessions it did remove are returned with it.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) ([]storage.Session, error) {
	op := "delete user sessions"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	index := s.indexKey(userID)
	ids, err := s.rdb.ZRange(ctx, index, 0, -1).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make([]*goredis.Cmd, len(ids))
	pipe := s.rdb.Pipeline()
	for i, id := range ids {
		// EVAL, not EVALSHA: in a pipeline a missing script cannot fall back.
		cmds[i] = s.takeIf.Eval(ctx, pipe, []string{s.sessionKey(id)}, "u", userID)
	}
	_, _ = pipe.Exec(ctx)
	var (
		deleted []any
		list    []storage.Session
		errs    []error
	)
	for i, cmd := range cmds {
		v, err := cmd.Text()
		switch {
		case errors.Is(err, goredis.Nil):
			continue
		case err != nil:
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, ids[i])
		sess, err := decodeSession(ids[i], []byte(v))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		list = append(list, *sess)
	}
	if len(deleted) > 0 {
		// As in DeleteSession, a failed ZREM leaves only inert entries.
		pipe := s.rdb.Pipeline()
		pipe.ZRem(ctx, index, deleted...)
		pipe.ZRem(ctx, s.activeKey(), deleted...)
		_, _ = pipe.Exec(ctx)
	}
	sortSessions(list)
	if len(errs) > 0 {
		// Some sessions may be left: the caller must not report the user
		// signed out everywhere.
		return list, wrap(op, errors.Join(errs...))
	}
	return list, nil
}

// sortSessions orders sessions by CreatedAt, then ID.
func sortSessions(list []storage.Session) {
	slices.SortFunc(list, func(a, b storage.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
}

// ActiveSessions returns how many sessions are live at now, from the
// active set: one round trip, a pipeline of ZREMRANGEBYSCORE, which drops
// the entries of sessions expired both at now and by the real clock (so a
// caller with a synthetic now never removes what another's now counts),
// and ZCOUNT of the entries scored after now.
//
// The count is exact but for races and crashes: a session deleted while an
// update of it is in flight can keep its entry until its ExpiresAt, as can
// one whose delete lost its ZREM; and a session stored before the active
// set existed is counted from its first update on.
func (s *Store) ActiveSessions(ctx context.Context, now time.Time) (int64, error) {
	op := "active sessions"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// Live means now < ExpiresAt, and a score is ExpiresAt rounded up to
	// the microsecond: an entry scored at or below now in whole
	// microseconds is over, one above it is live.
	nowUS := now.UnixMicro()
	pruneUS := min(nowUS, s.clock().UnixMicro())
	pipe := s.rdb.Pipeline()
	pipe.ZRemRangeByScore(ctx, s.activeKey(), "-inf", strconv.FormatInt(pruneUS, 10))
	count := pipe.ZCount(ctx, s.activeKey(), "("+strconv.FormatInt(nowUS, 10), "+inf")
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, wrap(op, err)
	}
	return count.Val(), nil
}

// addActive queues on pipe the writes that add session id, live until
// expiresAt and never past deadline, to the active set: ZADD NX (an entry
// already there keeps its score) scored by activeScore(expiresAt), and the
// set's expiry moved to the deadline if that is later
// (PEXPIREAT NX, then GT: for GT alone a key without expiry never expires).
func (s *Store) addActive(ctx context.Context, pipe goredis.Pipeliner, id string, expiresAt, deadline time.Time) {
	key := s.activeKey()
	pipe.ZAddNX(ctx, key, goredis.Z{Score: activeScore(expiresAt), Member: id})
	keep := s.expireAt(deadline)
	pipe.Do(ctx, "pexpireat", key, keep, "NX")
	pipe.Do(ctx, "pexpireat", key, keep, "GT")
}

// activeScore is the score in the active set of a session that expires
// at t: t in Unix microseconds, rounded up. A float64 holds that exactly
// until the year 2255 (and to 32 µs until 9999), so the count is exact to
// the microsecond, as precise as the stores' times.
func activeScore(t time.Time) float64 {
	us := t.UnixMicro()
	if t.Nanosecond()%int(time.Microsecond) != 0 {
		us++
	}
	return float64(us)
}
