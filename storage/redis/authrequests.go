package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// The auth request scripts take now as ARGV[1] (Unix seconds) and ARGV[2]
// (nanoseconds), and compare it with the request's expiry x, a stamp: a
// request is live while now is strictly before x. Both parts are integers
// well below 2^53, so Lua's doubles compare them exactly.
const liveLua = `
local function live(x, s, n)
	return type(x) == 'table' and (s < x[1] or (s == x[1] and n < x[2]))
end
`

// completeLua records a login on the auth request KEYS[1]: ARGV[3] is a
// JSON object with the fields to set (d, u, si, at, amr). It returns 1 when
// done, 0 if the request is absent or expired, 2 if it was already done.
const completeLua = liveLua + `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local r = cjson.decode(v)
if not live(r.x, tonumber(ARGV[1]), tonumber(ARGV[2])) then return 0 end
if r.d then return 2 end
r.u, r.si, r.at, r.amr = nil, nil, nil, nil
for k, f in pairs(cjson.decode(ARGV[3])) do r[k] = f end
redis.call('SET', KEYS[1], cjson.encode(r), 'KEEPTTL')
return 1
`

// attachCodeLua gives the completed auth request KEYS[1] the code hash
// ARGV[3] and shortens its expiry to ARGV[4] seconds, ARGV[5] nanoseconds
// (its key to the Unix millisecond ARGV[6]) when that is earlier. It returns
// {1, the new value, the key's expiry in Unix milliseconds} when saved, {0}
// if the request is absent, expired or not done, {2} if it has a code.
const attachCodeLua = liveLua + `
local v = redis.call('GET', KEYS[1])
if not v then return {0} end
local r = cjson.decode(v)
local x = r.x
if not live(x, tonumber(ARGV[1]), tonumber(ARGV[2])) then return {0} end
if r.c then return {2} end
if not r.d then return {0} end
r.c = ARGV[3]
local cs, cn = tonumber(ARGV[4]), tonumber(ARGV[5])
if cs < x[1] or (cs == x[1] and cn < x[2]) then r.x = {cs, cn} end
v = cjson.encode(r)
redis.call('SET', KEYS[1], v, 'KEEPTTL')
redis.call('PEXPIREAT', KEYS[1], ARGV[6], 'LT')
return {1, v, redis.call('PEXPIRETIME', KEYS[1])}
`

// CreateAuthRequest inserts r; ErrConflict if the id exists, or if r has a
// code hash that another request holds. One round trip: SET NX of the
// request, pipelined with SET NX of its code key when r already has a code
// hash (a single sign-on answer). Nobody can delete a request that is
// only now created, so the code key needs none of SaveCode's checks; if
// either key was taken, the one this call wrote is removed again.
func (s *Store) CreateAuthRequest(ctx context.Context, r *storage.AuthRequest) error {
	op := "create auth request " + r.ID
	val, err := encodeAuthRequest(r)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	exp := time.UnixMilli(s.expireAt(r.ExpiresAt))
	if r.CodeHash == "" {
		err = s.rdb.SetArgs(ctx, s.authKey(r.ID), val, goredis.SetArgs{Mode: "NX", ExpireAt: exp}).Err()
		switch {
		case errors.Is(err, goredis.Nil):
			return conflict(op, "id exists")
		case err != nil:
			return wrap(op, err)
		}
		return nil
	}
	pipe := s.rdb.Pipeline()
	req := pipe.SetArgs(ctx, s.authKey(r.ID), val, goredis.SetArgs{Mode: "NX", ExpireAt: exp})
	code := pipe.SetArgs(ctx, s.codeKey(r.CodeHash), val, goredis.SetArgs{Mode: "NX", ExpireAt: exp})
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return wrap(op, err)
	}
	reqErr, codeErr := req.Err(), code.Err()
	switch {
	case reqErr == nil && codeErr == nil:
		return nil
	case reqErr != nil && !errors.Is(reqErr, goredis.Nil):
		return wrap(op, reqErr)
	case codeErr != nil && !errors.Is(codeErr, goredis.Nil):
		return wrap(op, codeErr)
	}
	// One of the two keys was taken: undo the other (best effort; a key
	// left behind expires with the code and opens nothing on its own).
	if reqErr == nil {
		s.rdb.Del(ctx, s.authKey(r.ID))
		return conflict(op, "code hash held by another request")
	}
	if codeErr == nil {
		s.rdb.Del(ctx, s.codeKey(r.CodeHash))
	}
	return conflict(op, "id exists")
}

// storeCode writes the code key for the request id (SET NX, expiring at the
// Unix millisecond exp), then checks that the request still exists: if a
// concurrent DeleteAuthRequest removed it before the code key was written,
// it could not have removed the code key, so storeCode does and answers
// ErrNotFound.
func (s *Store) storeCode(ctx context.Context, op, id, codeHash string, val any, exp int64) error {
	code := s.codeKey(codeHash)
	err := s.rdb.SetArgs(ctx, code, val, goredis.SetArgs{Mode: "NX", ExpireAt: time.UnixMilli(exp)}).Err()
	switch {
	case errors.Is(err, goredis.Nil):
		return conflict(op, "code hash held by another request")
	case err != nil:
		return wrap(op, err)
	}
	n, err := s.rdb.Exists(ctx, s.authKey(id)).Result()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		s.rdb.Del(ctx, code)
		return notFound(op + ": deleted while its code was saved")
	}
	return nil
}

// AuthRequest returns the request if it exists and has not expired at now;
// otherwise ErrNotFound. One round trip.
func (s *Store) AuthRequest(ctx context.Context, id string, now time.Time) (*storage.AuthRequest, error) {
	op := "auth request " + id
	ctx, cancel := s.bound(ctx)
	defer cancel()
	b, err := s.rdb.Get(ctx, s.authKey(id)).Bytes()
	if err != nil {
		return nil, wrap(op, err)
	}
	r, err := decodeAuthRequest(b)
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	if !live(r.ExpiresAt, now) {
		return nil, notFound(op)
	}
	return r, nil
}

// CompleteAuthRequest records the login on a live, not yet completed request
// and marks it done, in one script on the request's key (one round trip),
// keeping its expiry. ErrNotFound if absent or expired at now, ErrConflict
// if it was already completed.
func (s *Store) CompleteAuthRequest(ctx context.Context, id string, login storage.Login, now time.Time) error {
	op := "complete auth request " + id
	l, err := encodeLogin(&login)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ns, nn := nowArgs(now)
	res, err := s.complete.Run(ctx, s.rdb, []string{s.authKey(id)}, ns, nn, l).Int()
	if err != nil {
		return wrap(op, err)
	}
	switch res {
	case 1:
		return nil
	case 2:
		return conflict(op, "already completed")
	default:
		return notFound(op)
	}
}

// SaveCode attaches the hash of an authorization code to a completed request
// and shortens its life to codeExpiresAt (it never lengthens it).
// ErrNotFound if the request is absent, expired at now or not done, or was
// deleted meanwhile; ErrConflict if it already has a code, or another
// request holds codeHash.
//
// Three round trips: a script on the request's key checks and rewrites it;
// then the code key is written with a copy of the request, expiring at the
// same millisecond (SET NX); then the request's key is checked to still
// exist. If the process dies after the first, the request keeps a code hash
// without a code key: the code is never redeemable (it fails closed).
func (s *Store) SaveCode(ctx context.Context, id, codeHash string, codeExpiresAt, now time.Time) error {
	op := "save code for auth request " + id
	var e encoder
	codeExp := e.time(codeExpiresAt)
	switch {
	case codeHash == "":
		return fmt.Errorf("redis: %s: empty code hash", op)
	case e.err != nil:
		return fmt.Errorf("redis: %s: code expiry: %w", op, e.err)
	case codeExp == nil:
		return fmt.Errorf("redis: %s: zero code expiry", op)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ns, nn := nowArgs(now)
	res, err := s.attachCode.Run(ctx, s.rdb, []string{s.authKey(id)},
		ns, nn, codeHash, codeExp[0], codeExp[1], s.expireAt(codeExpiresAt)).Slice()
	if err != nil {
		return wrap(op, err)
	}
	status, _ := res[0].(int64)
	switch status {
	case 1:
	case 2:
		return conflict(op, "already has a code")
	default:
		return notFound(op)
	}
	val, ok1 := res[1].(string)
	exp, ok2 := res[2].(int64)
	switch {
	case !ok1 || !ok2:
		return fmt.Errorf("redis: %s: unexpected script reply %v", op, res)
	case exp <= 0:
		// The key expired at once: Redis's clock is far ahead of ours.
		return notFound(op + ": expired by the server's clock")
	}
	return s.storeCode(ctx, op, id, codeHash, val, exp)
}

// AuthRequestByCode returns the live request holding that code hash, or
// ErrNotFound (a redeemed code too). It does not consume the code. One
// round trip.
func (s *Store) AuthRequestByCode(ctx context.Context, codeHash string, now time.Time) (*storage.AuthRequest, error) {
	op := "auth request by code"
	if codeHash == "" {
		return nil, notFound(op)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	b, err := s.rdb.Get(ctx, s.codeKey(codeHash)).Bytes()
	if err != nil {
		return nil, wrap(op, err)
	}
	r, err := decodeAuthRequest(b)
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	if r.CodeHash != codeHash || !live(r.ExpiresAt, now) || codeRedeemed(b) {
		return nil, notFound(op)
	}
	return r, nil
}

// The claim scripts work on a code key alone (KEYS[1]), in the request
// copy it holds: k is the claim holding the code, ku the end of its lease
// (a stamp), rd marks the code redeemed. ARGV[1] and ARGV[2] are now.

// claimCodeLua claims the code for ARGV[3] until the stamp ARGV[4], ARGV[5]
// and returns {1, the new value}; {0} if the code is absent or expired,
// {2} while another claim's lease runs, {3} if it was redeemed.
const claimCodeLua = liveLua + `
local v = redis.call('GET', KEYS[1])
if not v then return {0} end
local r = cjson.decode(v)
local s, n = tonumber(ARGV[1]), tonumber(ARGV[2])
if not live(r.x, s, n) then return {0} end
if r.rd then return {3} end
if r.k and r.k ~= ARGV[3] and live(r.ku, s, n) then return {2} end
r.k = ARGV[3]
r.ku = {tonumber(ARGV[4]), tonumber(ARGV[5])}
v = cjson.encode(r)
redis.call('SET', KEYS[1], v, 'KEEPTTL')
return {1, v}
`

// redeemCodeLua marks the code claimed by ARGV[1] redeemed. It returns
// {1, request id} when it did, {2, request id} when that claim had
// redeemed it already, {0} otherwise.
const redeemCodeLua = `
local v = redis.call('GET', KEYS[1])
if not v then return {0} end
local r = cjson.decode(v)
if r.k ~= ARGV[1] then return {0} end
if r.rd then return {2, r.id} end
r.rd = true
redis.call('SET', KEYS[1], cjson.encode(r), 'KEEPTTL')
return {1, r.id}
`

// releaseCodeLua clears the claim ARGV[1] of an unredeemed code.
const releaseCodeLua = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local r = cjson.decode(v)
if r.k ~= ARGV[1] or r.rd then return 0 end
r.k, r.ku = nil, nil
redis.call('SET', KEYS[1], cjson.encode(r), 'KEEPTTL')
return 1
`

// ClaimCode reserves the live, unredeemed request holding codeHash for
// claim until now+lease: one script on the code key (one round trip), so
// of concurrent claims one wins and the others see its lease (ErrConflict).
func (s *Store) ClaimCode(ctx context.Context, codeHash, claim string, now time.Time, lease time.Duration) (*storage.AuthRequest, error) {
	op := "claim code"
	if codeHash == "" || claim == "" {
		return nil, notFound(op)
	}
	var e encoder
	until := e.time(now.Add(lease))
	if e.err != nil || until == nil {
		return nil, fmt.Errorf("redis: %s: lease: %v", op, e.err)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	ns, nn := nowArgs(now)
	res, err := s.claimCode.Run(ctx, s.rdb, []string{s.codeKey(codeHash)}, ns, nn, claim, until[0], until[1]).Slice()
	if err != nil {
		return nil, wrap(op, err)
	}
	status, _ := res[0].(int64)
	switch status {
	case 1:
	case 2:
		return nil, conflict(op, "another redemption holds it")
	case 3:
		return nil, fmt.Errorf("redis: %s: %w", op, storage.ErrRedeemed)
	default:
		return nil, notFound(op)
	}
	val, ok := res[1].(string)
	if !ok {
		return nil, fmt.Errorf("redis: %s: unexpected script reply %v", op, res)
	}
	r, err := decodeAuthRequest([]byte(val))
	if err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op, err)
	}
	if r.CodeHash != codeHash {
		return nil, notFound(op)
	}
	return r, nil
}

// RedeemCode marks the code claimed by claim redeemed (a script on the code
// key, which then stays as a marker until the code's expiry), then removes
// the request's key: two round trips. If that key was already gone on the
// first redemption, the request was deleted meanwhile, and the code is
// refused (ErrNotFound); a repeated redemption by the same claim succeeds.
func (s *Store) RedeemCode(ctx context.Context, codeHash, claim string, now time.Time) error {
	op := "redeem code"
	if codeHash == "" || claim == "" {
		return notFound(op)
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.redeemCode.Run(ctx, s.rdb, []string{s.codeKey(codeHash)}, claim).Slice()
	if err != nil {
		return wrap(op, err)
	}
	status, _ := res[0].(int64)
	if status != 1 && status != 2 {
		return notFound(op)
	}
	id, ok := res[1].(string)
	if !ok {
		return fmt.Errorf("redis: %s: unexpected script reply %v", op, res)
	}
	n, err := s.rdb.Del(ctx, s.authKey(id)).Result()
	switch {
	case err != nil:
		return wrap(op, err)
	case n == 0 && status == 1:
		return notFound(op + ": request deleted")
	}
	return nil
}

// ReleaseCode clears the claim of a code claim holds and has not redeemed:
// one script on the code key.
func (s *Store) ReleaseCode(ctx context.Context, codeHash, claim string) error {
	if codeHash == "" || claim == "" {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.releaseCode.Run(ctx, s.rdb, []string{s.codeKey(codeHash)}, claim).Err(); err != nil && !errors.Is(err, goredis.Nil) {
		return wrap("release code", err)
	}
	return nil
}

// DeleteAuthRequest removes the request and its code; absent is not an
// error. One round trip (GETDEL), and a second one to delete the code key
// when the request had a code. Should that second step fail, the error is
// returned, but the code is dead anyway: RedeemCode refuses a code whose
// request is gone.
func (s *Store) DeleteAuthRequest(ctx context.Context, id string) error {
	op := "delete auth request " + id
	ctx, cancel := s.bound(ctx)
	defer cancel()
	b, err := s.rdb.GetDel(ctx, s.authKey(id)).Bytes()
	switch {
	case errors.Is(err, goredis.Nil):
		return nil
	case err != nil:
		return wrap(op, err)
	}
	r, err := decodeAuthRequest(b)
	if err != nil {
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	if r.CodeHash == "" {
		return nil
	}
	// Only this request's code: the hash might be held by another request.
	err = s.takeIf.Run(ctx, s.rdb, []string{s.codeKey(r.CodeHash)}, "id", id).Err()
	if err != nil && !errors.Is(err, goredis.Nil) {
		return wrap(op+": code", err)
	}
	return nil
}
