package mfa

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// Recovery codes are 16 characters of Crockford's base32 (80 bits), shown
// in four groups of four: "7k2m-q9xd-4hfp-0rwz". The first group is the
// code's ID, stored in the clear to find its row; the whole code is stored
// only as an argon2id hash, and a code works once.
const (
	recoveryAlphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	recoveryLen      = 16
	recoveryGroup    = 4
)

// NewRecoveryCodes draws n codes from random, with distinct IDs.
func NewRecoveryCodes(n int, random io.Reader) ([]string, error) {
	codes := make([]string, 0, n)
	ids := make(map[string]bool, n)
	buf := make([]byte, recoveryLen)
	for len(codes) < n {
		if _, err := io.ReadFull(random, buf); err != nil {
			return nil, fmt.Errorf("mfa: recovery codes: %w", err)
		}
		var b strings.Builder
		for i, c := range buf {
			if i > 0 && i%recoveryGroup == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(recoveryAlphabet[c&31]) // 256 is a multiple of 32: no bias
		}
		code := b.String()
		if id := code[:recoveryGroup]; !ids[id] {
			ids[id] = true
			codes = append(codes, code)
		}
	}
	return codes, nil
}

// ErrNotRecoveryCode is input that cannot be a recovery code.
var ErrNotRecoveryCode = errors.New("mfa: not a recovery code")

// ParseRecoveryCode reads a code as a person types it back: any case, with
// or without dashes and spaces, and o, i, l read as 0, 1, 1 (Crockford's
// rule). It returns the code's ID and its canonical form (as NewRecoveryCodes
// wrote it), which is what is hashed.
func ParseRecoveryCode(input string) (id, code string, err error) {
	if len(input) > 64 {
		return "", "", ErrNotRecoveryCode
	}
	var b strings.Builder
	for _, r := range strings.ToLower(input) {
		switch {
		case r == '-' || r == ' ':
			continue
		case r == 'o':
			r = '0'
		case r == 'i' || r == 'l':
			r = '1'
		}
		if r > 0x7f || !strings.ContainsRune(recoveryAlphabet, r) {
			return "", "", ErrNotRecoveryCode
		}
		if b.Len() > 0 && b.Len()%(recoveryGroup+1) == recoveryGroup {
			b.WriteByte('-')
		}
		b.WriteRune(r)
	}
	code = b.String()
	if len(code) != recoveryLen+recoveryLen/recoveryGroup-1 {
		return "", "", ErrNotRecoveryCode
	}
	return code[:recoveryGroup], code, nil
}
