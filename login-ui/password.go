package loginui

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Argon2Params are the argon2id cost parameters. The zero value is not
// usable; DefaultArgon2Params follows OWASP's password storage cheat sheet
// (m=19 MiB, t=2, p=1).
type Argon2Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	SaltLen     int
	KeyLen      uint32
}

// DefaultArgon2Params are the parameters new hashes are made with.
var DefaultArgon2Params = Argon2Params{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// MinPasswordLength is the fewest characters a new password may have: NIST
// SP 800-63B's for a password that may be the only factor.
const MinPasswordLength = 15

// MaxPasswordBytes bounds the work a single password can cause; longer
// input is refused before hashing.
const MaxPasswordBytes = 1024

// ErrPasswordTooLong is returned for passwords over MaxPasswordBytes.
var ErrPasswordTooLong = fmt.Errorf("password longer than %d bytes", MaxPasswordBytes)

// HashPassword returns the argon2id PHC string of password with a fresh
// random salt read from random.
func HashPassword(password string, p Argon2Params, random io.Reader) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", ErrPasswordTooLong
	}
	salt := make([]byte, p.SaltLen)
	if _, err := io.ReadFull(random, salt); err != nil {
		return "", fmt.Errorf("read salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	return formatPHC(p, salt, key), nil
}

// unmatchableHash returns a PHC string with the parameters p whose salt
// and key are random: checking a password against it costs what checking
// against a real hash with p costs, and matches no password (but by a
// 2^-256 chance). Making it runs no argon2id, so it allocates none of
// p's memory.
func unmatchableHash(p Argon2Params, random io.Reader) (string, error) {
	b := make([]byte, p.SaltLen+int(p.KeyLen))
	if _, err := io.ReadFull(random, b); err != nil {
		return "", fmt.Errorf("read salt and key: %w", err)
	}
	return formatPHC(p, b[:p.SaltLen], b[p.SaltLen:]), nil
}

// formatPHC returns the argon2id PHC string of a key made with p and salt.
func formatPHC(p Argon2Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether password matches the PHC string. A
// malformed hash is an error, never a match.
func VerifyPassword(phc, password string) (bool, error) {
	if len(password) > MaxPasswordBytes {
		return false, nil
	}
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

var errBadPHC = errors.New("malformed argon2id hash")

// maxArgon2MemoryKiB caps what a stored hash may ask for (64 MiB): with
// MaxConcurrentHashes checks at once, a corrupted row cannot exhaust memory.
const maxArgon2MemoryKiB = 64 * 1024

// parsePHC reads "$argon2id$v=19$m=…,t=…,p=…$salt$key". Costs are bounded
// so that a corrupted row cannot make one login allocate gigabytes.
func parsePHC(phc string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadPHC
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, errBadPHC
	}
	// Scan, then print back: anything but the canonical form is refused.
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Iterations, p.Parallelism) {
		return p, nil, nil, errBadPHC
	}
	if p.MemoryKiB < 8 || p.MemoryKiB > maxArgon2MemoryKiB || p.Iterations < 1 || p.Iterations > 64 || p.Parallelism < 1 {
		return p, nil, nil, errBadPHC
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, errBadPHC
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, errBadPHC
	}
	return p, salt, key, nil
}

// MaxUsernameBytes bounds a canonical username (CanonicalUsername); a
// valid one (ValidUsername) is at most 128.
const MaxUsernameBytes = 256

// maxUsernameInput is how much of a typed username CanonicalUsername reads,
// after trimming: a longer one can never be an account's.
const maxUsernameInput = 1024

// CanonicalUsername is the one form a username is stored and looked up in,
// and the key of its throttle counter: surrounding space trimmed,
// compatibility forms replaced by what they stand for (NFKC: fullwidth
// "ａｌｉｃｅ" and mathematical "𝐚𝐥𝐢𝐜𝐞" are "alice") and case folded (Unicode full
// case folding: "ALICE", "Alice@Example.COM", the Kelvin sign and the long
// s fold to their ASCII letters), so that every variant that can reach an
// account reaches the same one and shares its counter. Letters of other
// scripts that only look like ASCII (Cyrillic а) stay themselves: no
// account can have them (ValidUsername is ASCII), so they reach none.
// Invalid UTF-8 becomes U+FFFD. The result is valid UTF-8 of at most
// MaxUsernameBytes and its own canonical form; a valid username is
// unchanged.
func CanonicalUsername(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > maxUsernameInput {
		s = cutAtRune(s, maxUsernameInput)
	}
	// Folding can undo a normalization and trimming can expose a mark that
	// composes differently, so the steps repeat until nothing changes
	// (once, or twice, for any text the fuzz target has found).
	for range 4 {
		c := norm.NFKC.String(strings.ToValidUTF8(s, "\uFFFD"))
		c = strings.TrimSpace(norm.NFKC.String(cases.Fold().String(c)))
		c = cutAtRune(c, MaxUsernameBytes)
		if c == s {
			break
		}
		s = c
	}
	return s
}

// cutAtRune returns the longest prefix of s of at most n bytes that does
// not split a rune.
func cutAtRune(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ValidUsername reports whether a canonical username may be created.
func ValidUsername(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', strings.ContainsRune("._-@+", r):
		default:
			return false
		}
	}
	return true
}
