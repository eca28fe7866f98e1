package redis

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-idp/gatehouse/storage"
)

var _ storage.DPoPProofs = (*Store)(nil)

// useDPoPLua records a DPoP proof's use at KEYS[1] unless a record live
// at now (ARGV[1] Unix seconds, ARGV[2] nanoseconds) is there: it returns
// 0 then, else stores ARGV[3] expiring at ARGV[4] (Unix ms) and returns 1.
const useDPoPLua = liveLua + `
local v = redis.call('GET', KEYS[1])
if v and live(cjson.decode(v).x, tonumber(ARGV[1]), tonumber(ARGV[2])) then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'PXAT', ARGV[4])
return 1
`

// UseDPoPProof records the use of the DPoP proof jti of the key jkt until
// expiresAt: ErrConflict if it was used before and that record is live at
// now. One key a proof, expiring with the proof's window; one script
// decides, so of concurrent uses on any number of instances one succeeds.
func (s *Store) UseDPoPProof(ctx context.Context, jkt, jti string, expiresAt, now time.Time) error {
	const op = "use DPoP proof"
	ctx, cancel := s.bound(ctx)
	defer cancel()
	val := fmt.Sprintf(`{"x":[%d,%d]}`, expiresAt.Unix(), expiresAt.Nanosecond())
	sec, nsec := nowArgs(now)
	n, err := s.useDPoP.Run(ctx, s.rdb, []string{s.dpopKey(jkt, jti)}, sec, nsec, val, s.expireAt(expiresAt)).Int()
	if err != nil {
		return wrap(op, err)
	}
	if n == 0 {
		return conflict(op, "proof already used")
	}
	return nil
}
