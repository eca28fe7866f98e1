package redis

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// takePushedLua deletes the pushed request KEYS[1] and returns it if it is
// live at now (ARGV[1] Unix seconds, ARGV[2] nanoseconds) and its client is
// ARGV[3]; otherwise it returns nil and leaves the request as it is.
const takePushedLua = liveLua + `
local v = redis.call('GET', KEYS[1])
if not v then return false end
local r = cjson.decode(v)
if r.c ~= ARGV[3] then return false end
if not live(r.x, tonumber(ARGV[1]), tonumber(ARGV[2])) then return false end
redis.call('DEL', KEYS[1])
return v
`

// pushedRequestJSON is a stored pushed request, without its id.
type pushedRequestJSON struct {
	ClientID  string `json:"c"`
	Params    string `json:"p"`
	CreatedAt stamp  `json:"ca,omitempty"`
	ExpiresAt stamp  `json:"x,omitempty"`
}

// PushRequest stores r; ErrConflict if the id exists. One round trip: SET
// NX, the key expiring at r.ExpiresAt.
func (s *Store) PushRequest(ctx context.Context, r *storage.PushedRequest) error {
	const op = "push request"
	var e encoder
	v := pushedRequestJSON{ClientID: r.ClientID, Params: r.Params,
		CreatedAt: e.time(r.CreatedAt), ExpiresAt: e.time(r.ExpiresAt)}
	if e.err != nil {
		return fmt.Errorf("redis: %s: %w", op, e.err)
	}
	val, err := json.Marshal(&v)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	return s.setNew(ctx, op, s.pushedKey(r.ID), val, r.ExpiresAt)
}

// TakePushedRequest deletes the live request of clientID with that id and
// returns it: one script on its key (takePushedLua, one round trip), so of
// concurrent takes exactly one gets it. An expired one is left until its
// key's TTL, another client's as it is.
func (s *Store) TakePushedRequest(ctx context.Context, id, clientID string, now time.Time) (*storage.PushedRequest, error) {
	const op = "take pushed request"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	sec, nsec := nowArgs(now)
	b, err := s.takePushed.Run(ctx, s.rdb, []string{s.pushedKey(id)}, sec, nsec, clientID).Text()
	if err != nil {
		return nil, wrap(op, err)
	}
	var v pushedRequestJSON
	if err := json.Unmarshal([]byte(b), &v); err != nil {
		// Taken, but unreadable: the request cannot be used.
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	return &storage.PushedRequest{ID: id, ClientID: v.ClientID, Params: v.Params,
		CreatedAt: decodeTime(v.CreatedAt), ExpiresAt: decodeTime(v.ExpiresAt)}, nil
}
