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

// addToIndexLua adds session ARGV[2], whose key expires at the Unix
// millisecond ARGV[1], to the user index KEYS[1]. A member's score only ever
// grows, and the index expires with its latest member. Members whose keys
// have expired by the server's clock are dropped on the way, so the index of
// a user who signs in often does not grow without bound.
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

// CreateSession inserts sess; ErrConflict if the id exists. It takes two
// round trips: the index entry first, then the session (SET NX), so a
// session is never stored unindexed. A refused duplicate may leave its id in
// the index of sess.UserID; readers check the owner, so that entry is inert.
func (s *Store) CreateSession(ctx context.Context, sess *storage.Session) error {
	op := "create session"
	val, err := encodeSession(sess)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	exp := s.expireAt(sess.ExpiresAt)
	err = s.addToIndex.Run(ctx, s.rdb, []string{s.indexKey(sess.UserID)}, exp, sess.ID).Err()
	if err != nil {
		return fmt.Errorf("redis: %s: index: %w", op, err)
	}
	err = s.rdb.SetArgs(ctx, s.sessionKey(sess.ID), val, goredis.SetArgs{Mode: "NX", ExpireAt: time.UnixMilli(exp)}).Err()
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

// DeleteSession removes the session and its index entry; deleting an absent
// one is not an error. Two round trips (one if absent): GETDEL, which alone
// decides success, then a ZREM of the index entry. Should the ZREM fail, the
// session is still gone and DeleteSession still succeeds: a stale index
// entry is skipped by readers and dropped when its score passes.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	op := "delete session"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	b, err := s.rdb.GetDel(ctx, s.sessionKey(id)).Bytes()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil
	case err != nil:
		return wrap(op, err)
	}
	if sess, err := decodeSession(id, b); err == nil {
		s.rdb.ZRem(ctx, s.indexKey(sess.UserID), id)
	}
	return nil
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
	slices.SortFunc(list, func(a, b storage.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return list, nil
}

// DeleteUserSessions removes every session of the user that is still in
// Redis, live or expired at any caller's now, and returns how many it
// removed. Three round trips (one if the index is empty): read the whole
// index; a pipeline of one-key scripts that each delete a session only if
// it belongs to the user; then ZREM of the entries whose sessions it
// deleted (best effort, as in DeleteSession). Entries it did not delete stay: one whose session is not written
// yet must keep pointing at it. A session created concurrently may survive;
// one created before the call began does not.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string) (int, error) {
	op := "delete user sessions"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	index := s.indexKey(userID)
	ids, err := s.rdb.ZRange(ctx, index, 0, -1).Result()
	if err != nil {
		return 0, wrap(op, err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	cmds := make([]*goredis.Cmd, len(ids))
	pipe := s.rdb.Pipeline()
	for i, id := range ids {
		// EVAL, not EVALSHA: in a pipeline a missing script cannot fall back.
		cmds[i] = s.deleteIf.Eval(ctx, pipe, []string{s.sessionKey(id)}, "u", userID)
	}
	_, _ = pipe.Exec(ctx)
	var deleted []any
	var errs []error
	for i, cmd := range cmds {
		n, err := cmd.Int()
		switch {
		case err != nil:
			errs = append(errs, err)
		case n > 0:
			deleted = append(deleted, ids[i])
		}
	}
	if len(deleted) > 0 {
		// As in DeleteSession, a failed ZREM leaves only inert entries.
		s.rdb.ZRem(ctx, index, deleted...)
	}
	if len(errs) > 0 {
		// Some sessions may be left: the caller must not report the user
		// signed out everywhere.
		return len(deleted), wrap(op, errors.Join(errs...))
	}
	return len(deleted), nil
}
