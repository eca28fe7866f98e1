package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// Nonces makes and checks server nonces (RFC 9449 §8) without a store:
// a nonce is the number of a time period and a MAC over it under a
// server secret, so every instance sharing the secret makes the same
// nonce in a period and accepts the nonces of that period and the one
// before. A nonce therefore rotates every Period and lives between one
// and two Periods.
type Nonces struct {
	key    []byte
	period time.Duration
}

// NoncePeriod is the default rotation period of nonces.
const NoncePeriod = 5 * time.Minute

const nonceMACLen = 16

// NewNonces returns nonces keyed with secret (at least 32 bytes, the same
// on every instance), rotating every period (NoncePeriod if zero).
func NewNonces(secret []byte, period time.Duration) (*Nonces, error) {
	if len(secret) < 32 {
		return nil, errors.New("dpop: the nonce secret must be at least 32 bytes")
	}
	if period <= 0 {
		period = NoncePeriod
	}
	return &Nonces{key: secret, period: period}, nil
}

// Nonce is the nonce to offer at now (the DPoP-Nonce header).
func (n *Nonces) Nonce(now time.Time) string {
	return n.make(n.index(now))
}

// Valid reports whether nonce is the nonce of now's period or of the one
// before.
func (n *Nonces) Valid(nonce string, now time.Time) bool {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 8+nonceMACLen {
		return false
	}
	i := binary.BigEndian.Uint64(b[:8])
	cur := n.index(now)
	if i != cur && i+1 != cur {
		return false
	}
	return hmac.Equal(b[8:], n.mac(i))
}

func (n *Nonces) index(now time.Time) uint64 {
	return uint64(now.UnixNano() / int64(n.period))
}

func (n *Nonces) make(i uint64) string {
	b := binary.BigEndian.AppendUint64(make([]byte, 0, 8+nonceMACLen), i)
	return base64.RawURLEncoding.EncodeToString(append(b, n.mac(i)...))
}

func (n *Nonces) mac(i uint64) []byte {
	m := hmac.New(sha256.New, n.key)
	m.Write([]byte("gatehouse dpop nonce"))
	m.Write(binary.BigEndian.AppendUint64(nil, i))
	return m.Sum(nil)[:nonceMACLen]
}
