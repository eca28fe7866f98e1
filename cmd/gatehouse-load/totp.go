package main

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// One-time codes as Gatehouse checks them: RFC 6238 with HMAC-SHA1, 6
// digits and 30-second steps.
const totpPeriod = 30

// totpStep returns the step at t (RFC 6238's T).
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// totpStepStart returns when step begins.
func totpStepStart(step int64) time.Time { return time.Unix(step*totpPeriod, 0) }

// totpCode returns the 6-digit code of key for step: HMAC-SHA1 of the step
// as 8 big-endian bytes, RFC 4226 §5.3's dynamic truncation, the last six
// decimal digits.
func totpCode(key []byte, step int64) string {
	mac := hmac.New(sha1.New, key)
	mac.Write(binary.BigEndian.AppendUint64(nil, uint64(step)))
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	n := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fff_ffff
	return fmt.Sprintf("%06d", n%1_000_000)
}

// decodeTOTPSecret decodes a secret as the set-up page shows it: base32,
// in groups separated by spaces, without padding.
func decodeTOTPSecret(s string) ([]byte, error) {
	s = strings.TrimRight(strings.ToUpper(strings.ReplaceAll(s, " ", "")), "=")
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("one-time-code secret %q is not base32", s)
	}
	return key, nil
}
