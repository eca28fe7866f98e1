// Package mfatest computes one-time codes for tests the way an
// authenticator app does, from RFC 6238 and RFC 4226 directly (HMAC-SHA1
// of the time step, dynamic truncation): an oracle independent of the
// library Gatehouse checks codes with.
package mfatest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"time"
)

// Code returns the 6-digit code of the base32 secret at t (30-second
// steps), or an error when the secret is not base32.
func Code(secret string, t time.Time) (string, error) {
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return "", fmt.Errorf("mfatest: secret: %w", err)
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(t.Unix()/30))
	m := hmac.New(sha1.New, key)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", n%1_000_000), nil
}
