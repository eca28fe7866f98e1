package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Device sign-ins (storage.DeviceAuthorizations). The record lives at
// dc:<device code hash> (deviceJSON) and its user code names it at
// du:<user code> (the hash); both keys expire at the record's KeepUntil.
// Every change is one script on the dc key; reading by user code is a GET
// of du, then of dc, whose user code must match.

// deviceJSON is a device sign-in as stored: the scripts use x (the
// expiry), lp (the last poll), iv (the interval, nanoseconds), st (the
// status), rb (the redeeming claim) and u, si, at, amr (the login).
type deviceJSON struct {
	UserCode   string   `json:"uc,omitempty"`
	ClientID   string   `json:"cl,omitempty"`
	Scopes     []string `json:"sc,omitempty"`
	ACRValues  []string `json:"acr,omitempty"`
	CreatedAt  stamp    `json:"ca,omitempty"`
	ExpiresAt  stamp    `json:"x,omitempty"`
	KeepUntil  stamp    `json:"ku,omitempty"`
	Interval   int64    `json:"iv,omitempty"`
	LastPoll   stamp    `json:"lp,omitempty"`
	Status     string   `json:"st,omitempty"`
	UserID     string   `json:"u,omitempty"`
	SessionID  string   `json:"si,omitempty"`
	AuthTime   stamp    `json:"at,omitempty"`
	AMR        []string `json:"amr,omitempty"`
	RedeemedBy string   `json:"rb,omitempty"`
}

// maxInterval keeps an interval's nanoseconds below 10^14, which cjson
// writes back exactly.
const maxInterval = 24 * time.Hour

func encodeDevice(d *storage.DeviceAuthorization) ([]byte, error) {
	if d.Interval < 0 || d.Interval > maxInterval {
		return nil, fmt.Errorf("interval %v is outside 0 to %v", d.Interval, maxInterval)
	}
	var e encoder
	v := deviceJSON{
		UserCode: d.UserCode, ClientID: d.ClientID, Scopes: d.Scopes, ACRValues: d.ACRValues,
		CreatedAt: e.time(d.CreatedAt), ExpiresAt: e.time(d.ExpiresAt), KeepUntil: e.time(d.KeepUntil),
		Interval: int64(d.Interval), LastPoll: e.time(d.LastPoll), Status: d.Status,
		UserID: d.UserID, SessionID: d.SessionID, AuthTime: e.time(d.AuthTime), AMR: d.AMR, RedeemedBy: d.RedeemedBy,
	}
	if e.err != nil {
		return nil, e.err
	}
	return json.Marshal(v)
}

func decodeDevice(hash string, b []byte) (*storage.DeviceAuthorization, error) {
	var v deviceJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode device authorization: %w", err)
	}
	return &storage.DeviceAuthorization{
		DeviceCodeHash: hash, UserCode: v.UserCode, ClientID: v.ClientID, Scopes: v.Scopes, ACRValues: v.ACRValues,
		CreatedAt: decodeTime(v.CreatedAt), ExpiresAt: decodeTime(v.ExpiresAt), KeepUntil: decodeTime(v.KeepUntil),
		Interval: time.Duration(v.Interval), LastPoll: decodeTime(v.LastPoll), Status: v.Status,
		UserID: v.UserID, SessionID: v.SessionID, AuthTime: decodeTime(v.AuthTime), AMR: v.AMR, RedeemedBy: v.RedeemedBy,
	}, nil
}

// The device scripts take now as ARGV[1] (Unix seconds) and ARGV[2]
// (nanoseconds), as the auth request scripts do.

// decideDeviceLua records a decision on the pending, live record KEYS[1]:
// ARGV[3] is a JSON object with the fields to set (st, and u, si, at, amr
// for an approval). It returns 1 when done, 0 if the record is absent or
// expired, 2 if it was decided already.
const decideDeviceLua = liveLua + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local r = cjson.decode(v)
if not live(r.x, tonumber(ARGV[1]), tonumber(ARGV[2])) then return 0 end
if r.st ~= 'pending' then return 2 end
for k, f in pairs(cjson.decode(ARGV[3])) do r[k] = f end
redis.call('SET', KEYS[1], cjson.encode(r), 'KEEPTTL')
return 1
`

// pollDeviceLua records a poll of KEYS[1] at now: when the last poll was
// less than the interval ago, the interval grows by ARGV[3] nanoseconds.
// It returns {1, the new value, 1 if slow else 0}, or {0} if the record is
// absent.
const pollDeviceLua = `
local v = redis.call('GET', KEYS[1])
if not v then return {0} end
local r = cjson.decode(v)
local s, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local slow = 0
local iv = r.iv or 0
if type(r.lp) == 'table' and (s - r.lp[1]) * 1000000000 + (n - r.lp[2]) < iv then
	r.iv = iv + tonumber(ARGV[3])
	slow = 1
end
r.lp = {s, n}
v = cjson.encode(r)
redis.call('SET', KEYS[1], v, 'KEEPTTL')
return {1, v, slow}
`

// redeemDeviceLua marks the approved, live record KEYS[1] redeemed by the
// claim ARGV[3]. It returns 1 when done (or done before by that claim), 0
// if the record is absent, not approved or expired, 3 if another claim
// redeemed it.
const redeemDeviceLua = liveLua + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local r = cjson.decode(v)
if r.st == 'redeemed' then
	if r.rb == ARGV[3] then return 1 end
	return 3
end
if r.st ~= 'approved' or not live(r.x, tonumber(ARGV[1]), tonumber(ARGV[2])) then return 0 end
r.st, r.rb = 'redeemed', ARGV[3]
redis.call('SET', KEYS[1], cjson.encode(r), 'KEEPTTL')
return 1
`

// CreateDeviceAuthorization stores d: SET NX of its record, then SET NX of
// its user code (two round trips); if the user code is taken, the record
// is removed again. ErrConflict when either key exists.
func (s *Store) CreateDeviceAuthorization(ctx context.Context, d *storage.DeviceAuthorization) error {
	const op = "create device authorization"
	val, err := encodeDevice(d)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	if d.DeviceCodeHash == "" || d.UserCode == "" {
		return fmt.Errorf("redis: %s: no device code hash or user code", op)
	}
	if err := s.setNew(ctx, op, s.deviceKey(d.DeviceCodeHash), val, d.KeepUntil); err != nil {
		return err
	}
	if err := s.setNew(ctx, op+": user code", s.userCodeKey(d.UserCode), []byte(d.DeviceCodeHash), d.KeepUntil); err != nil {
		ctx, cancel := s.bound(context.WithoutCancel(ctx))
		defer cancel()
		if derr := s.rdb.Del(ctx, s.deviceKey(d.DeviceCodeHash)).Err(); derr != nil {
			err = errors.Join(err, wrap(op+": remove the record again", derr))
		}
		return err
	}
	return nil
}

// DeviceAuthorizationByUserCode returns the live record the user code
// names: two round trips (the user code's key, then the record's).
func (s *Store) DeviceAuthorizationByUserCode(ctx context.Context, userCode string, now time.Time) (*storage.DeviceAuthorization, error) {
	const op = "device authorization by user code"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	hash, err := s.rdb.Get(ctx, s.userCodeKey(userCode)).Result()
	if err != nil {
		return nil, wrap(op, err)
	}
	b, err := s.rdb.Get(ctx, s.deviceKey(hash)).Bytes()
	if err != nil {
		return nil, wrap(op, err)
	}
	d, err := decodeDevice(hash, b)
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	if d.UserCode != userCode || !live(d.ExpiresAt, now) {
		return nil, notFound(op)
	}
	return d, nil
}

// DecideDeviceAuthorization records the decision: one script on the
// record's key (decideDeviceLua).
func (s *Store) DecideDeviceAuthorization(ctx context.Context, deviceCodeHash string, dec storage.DeviceDecision, now time.Time) error {
	const op = "decide device authorization"
	set := map[string]any{"st": storage.DeviceDenied}
	if dec.Approved {
		var e encoder
		set = map[string]any{"st": storage.DeviceApproved}
		if dec.UserID != "" {
			set["u"] = dec.UserID
		}
		if dec.SessionID != "" {
			set["si"] = dec.SessionID
		}
		if at := e.time(dec.AuthTime); at != nil {
			set["at"] = at
		}
		if len(dec.AMR) > 0 {
			set["amr"] = dec.AMR
		}
		if e.err != nil {
			return fmt.Errorf("redis: %s: %w", op, e.err)
		}
	}
	fields, err := json.Marshal(set)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ns, nn := nowArgs(now)
	res, err := s.decideDevice.Run(ctx, s.rdb, []string{s.deviceKey(deviceCodeHash)}, ns, nn, fields).Int()
	if err != nil {
		return wrap(op, err)
	}
	switch res {
	case 1:
		return nil
	case 2:
		return conflict(op, "decided already")
	default:
		return notFound(op)
	}
}

// PollDeviceAuthorization records a poll: one script on the record's key
// (pollDeviceLua).
func (s *Store) PollDeviceAuthorization(ctx context.Context, deviceCodeHash string, now time.Time, slowDown time.Duration) (*storage.DeviceAuthorization, bool, error) {
	const op = "poll device authorization"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ns, nn := nowArgs(now)
	res, err := s.pollDevice.Run(ctx, s.rdb, []string{s.deviceKey(deviceCodeHash)}, ns, nn, int64(slowDown)).Slice()
	if err != nil {
		return nil, false, wrap(op, err)
	}
	if status, _ := res[0].(int64); status != 1 || len(res) != 3 {
		return nil, false, notFound(op)
	}
	val, ok := res[1].(string)
	if !ok {
		return nil, false, fmt.Errorf("redis: %s: unexpected script reply %v", op, res)
	}
	d, err := decodeDevice(deviceCodeHash, []byte(val))
	if err != nil {
		return nil, false, fmt.Errorf("redis: %s: %w", op, err)
	}
	slow, _ := res[2].(int64)
	return d, slow == 1, nil
}

// RedeemDeviceAuthorization marks the approval redeemed by claim: one
// script on the record's key (redeemDeviceLua).
func (s *Store) RedeemDeviceAuthorization(ctx context.Context, deviceCodeHash, claim string, now time.Time) error {
	const op = "redeem device authorization"
	if claim == "" {
		return notFound(op)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ns, nn := nowArgs(now)
	res, err := s.redeemDevice.Run(ctx, s.rdb, []string{s.deviceKey(deviceCodeHash)}, ns, nn, claim).Int()
	if err != nil {
		return wrap(op, err)
	}
	switch res {
	case 1:
		return nil
	case 3:
		return fmt.Errorf("redis: %s: %w", op, storage.ErrRedeemed)
	default:
		return notFound(op)
	}
}
