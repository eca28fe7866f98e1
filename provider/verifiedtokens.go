package provider

import (
	"crypto/sha256"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// verifiedTokens remembers the claims of JWT access tokens whose signature
// was verified, so that a token used again (an app calls userinfo or a
// resource server introspects with the same token many times) costs a
// hash instead of an ECDSA or RSA verification. An entry is only ever
// answered while the token is unexpired and the key that signed it is
// still published: revoking a key stops its tokens at once. Revocation of
// the token's family is the caller's check, as for a fresh verification.
type verifiedTokens struct {
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]verifiedToken
	max     int
}

type verifiedToken struct {
	claims *accessClaims
	kid    string
}

func newVerifiedTokens(max int) *verifiedTokens {
	return &verifiedTokens{entries: make(map[[sha256.Size]byte]verifiedToken), max: max}
}

func (v *verifiedTokens) get(token string, published []jose.JSONWebKey, now time.Time) (*accessClaims, bool) {
	if v == nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(token))
	v.mu.RLock()
	e, ok := v.entries[sum]
	v.mu.RUnlock()
	if !ok || !now.Before(time.Unix(e.claims.Expiry, 0)) {
		return nil, false
	}
	for _, k := range published {
		if k.KeyID == e.kid {
			return e.claims, true
		}
	}
	return nil, false
}

// put remembers a token verified with the key kid. When the cache is full
// it starts over: the cost of a full cache is one verification per token
// again, never unbounded memory.
func (v *verifiedTokens) put(token, kid string, c *accessClaims) {
	if v == nil || kid == "" {
		return
	}
	sum := sha256.Sum256([]byte(token))
	v.mu.Lock()
	if len(v.entries) >= v.max {
		clear(v.entries)
	}
	v.entries[sum] = verifiedToken{claims: c, kid: kid}
	v.mu.Unlock()
}
