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
	"golang.org/x/crypto/bcrypt"
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

// VerifyPassword reports whether password matches the stored hash: an
// argon2id PHC string, or a bcrypt hash ($2a$, $2b$, $2y$) such as
// another provider's users are imported with (CheckPasswordHash). A
// malformed hash is an error, never a match.
//
// bcrypt reads only the first 72 bytes of a password; a longer password
// never matches a bcrypt hash (as x/crypto/bcrypt refuses to make a hash
// of one, ErrPasswordTooLong), so that the bytes after the 72nd are never
// ignored. The hash is still computed first, so the answer takes the
// hash's time whatever the password's length.
func VerifyPassword(phc, password string) (bool, error) {
	if len(password) > MaxPasswordBytes {
		return false, nil
	}
	if isBcrypt(phc) {
		if err := checkBcrypt(phc); err != nil {
			return false, err
		}
		err := bcrypt.CompareHashAndPassword([]byte(phc), []byte(password))
		switch {
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("%w: %w", errBadHash, err)
		}
		return len(password) <= maxBcryptPassword, nil
	}
	p, salt, key, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// NeedsRehash reports whether a hash that just matched should be replaced
// by one made with p: a bcrypt hash always, an argon2id hash whose memory,
// iterations, salt or key length is less than p's. A malformed hash (which
// matches nothing) does not.
func NeedsRehash(phc string, p Argon2Params) bool {
	if isBcrypt(phc) {
		return checkBcrypt(phc) == nil
	}
	got, salt, key, err := parsePHC(phc)
	if err != nil {
		return false
	}
	return got.MemoryKiB < p.MemoryKiB || got.Iterations < p.Iterations ||
		len(salt) < p.SaltLen || len(key) < int(p.KeyLen)
}

// CheckPasswordHash reports whether VerifyPassword can check passwords
// against phc, by its form alone (no hash is computed): an argon2id PHC
// string with costs within parsePHC's bounds, or a bcrypt hash ($2a$,
// $2b$ or $2y$) of cost 4 to MaxBcryptCost. The error says what is wrong
// with it without quoting it, but for the name of an unknown algorithm.
func CheckPasswordHash(phc string) error {
	if isBcrypt(phc) {
		return checkBcrypt(phc)
	}
	if strings.HasPrefix(phc, "$argon2id$") {
		_, _, _, err := parsePHC(phc)
		return err
	}
	alg, _, ok := strings.Cut(strings.TrimPrefix(phc, "$"), "$")
	if !strings.HasPrefix(phc, "$") || !ok || alg == "" {
		return fmt.Errorf("%w: not a hash in PHC or bcrypt form (plain text, or hex of an unsalted digest?): "+
			"Gatehouse verifies argon2id ($argon2id$…) and bcrypt ($2a$, $2b$, $2y$)", errBadHash)
	}
	alg = cutAtRune(alg, 32)
	what := map[string]string{"1": " (MD5-crypt)", "5": " (SHA-256-crypt)", "6": " (SHA-512-crypt)", "7": " (scrypt)",
		"2": " (the first bcrypt)", "2x": " (bcrypt of crypt_blowfish's sign bug)", "apr1": " (Apache MD5)",
		"md5": " (MD5)", "y": " (yescrypt)", "gy": " (gost-yescrypt)"}[alg]
	return fmt.Errorf("%w: unknown algorithm %q%s: Gatehouse verifies argon2id and bcrypt ($2a$, $2b$, $2y$)", errBadHash, alg, what)
}

// UnmatchableHash returns a hash no password matches (but by a 2^-256
// chance), with the default parameters: the password hash of a user who
// has none yet, such as one imported without a password. Checking a
// password against it costs what a real hash costs.
func UnmatchableHash(random io.Reader) (string, error) {
	return unmatchableHash(DefaultArgon2Params, random)
}

var (
	errBadHash = errors.New("malformed password hash")
	errBadPHC  = fmt.Errorf("%w: argon2id", errBadHash)
)

// MaxBcryptCost is the highest bcrypt cost VerifyPassword checks: each step
// doubles the work, and at 16 one check takes seconds of a core (it holds
// one of the few hash slots all the while). bcrypt allows up to 31.
const MaxBcryptCost = 16

// maxBcryptPassword is how many bytes of a password bcrypt reads.
const maxBcryptPassword = 72

// isBcrypt reports whether h claims to be a bcrypt hash of a version
// Gatehouse verifies.
func isBcrypt(h string) bool {
	return strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")
}

// bcryptAlphabet is bcrypt's own base64 alphabet.
const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// checkBcrypt checks the form of a bcrypt hash: "$2b$", two digits of cost
// (4 to MaxBcryptCost), "$", then 22 characters of salt and 31 of hash in
// bcrypt's alphabet, 60 in all.
func checkBcrypt(h string) error {
	if len(h) != 60 || h[6] != '$' || h[4] < '0' || h[4] > '9' || h[5] < '0' || h[5] > '9' {
		return fmt.Errorf("%w: bcrypt: want $2b$, a two-digit cost, $ and 53 characters (60 in all)", errBadHash)
	}
	for i := 7; i < len(h); i++ {
		if strings.IndexByte(bcryptAlphabet, h[i]) < 0 {
			return fmt.Errorf("%w: bcrypt: character %d is not of bcrypt's base64 alphabet", errBadHash, i+1)
		}
	}
	cost := int(h[4]-'0')*10 + int(h[5]-'0')
	switch {
	case cost < bcrypt.MinCost || cost > bcrypt.MaxCost:
		return fmt.Errorf("%w: bcrypt: cost %d, want %d to %d", errBadHash, cost, bcrypt.MinCost, bcrypt.MaxCost)
	case cost > MaxBcryptCost:
		return fmt.Errorf("%w: bcrypt: cost %d is above %d, the most Gatehouse checks (one sign-in would take minutes of a core)", errBadHash, cost, MaxBcryptCost)
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return fmt.Errorf("%w: bcrypt: %w", errBadHash, err)
	}
	return nil
}

// maxArgon2MemoryKiB caps what a stored hash may ask for (64 MiB): with
// MaxConcurrentHashes checks at once, a corrupted row cannot exhaust memory.
const maxArgon2MemoryKiB = 64 * 1024

// parsePHC reads "$argon2id$v=19$m=…,t=…,p=…$salt$key". Costs are bounded
// so that a corrupted row cannot make one login allocate gigabytes. Its
// errors wrap errBadPHC and say which part is wrong.
func parsePHC(phc string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: want $argon2id$v=19$m=…,t=…,p=…$salt$hash", errBadPHC)
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: version: want v=%d", errBadPHC, argon2.Version)
	}
	// Scan, then print back: anything but the canonical form is refused.
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Iterations, &p.Parallelism); err != nil ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", p.MemoryKiB, p.Iterations, p.Parallelism) {
		return p, nil, nil, fmt.Errorf("%w: parameters: want m=…,t=…,p=… in that order", errBadPHC)
	}
	if p.MemoryKiB < 8 || p.MemoryKiB > maxArgon2MemoryKiB || p.Iterations < 1 || p.Iterations > 64 || p.Parallelism < 1 {
		return p, nil, nil, fmt.Errorf("%w: parameters out of bounds: m 8 to %d KiB, t 1 to 64, p at least 1", errBadPHC, maxArgon2MemoryKiB)
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, fmt.Errorf("%w: salt: want 8 to 64 bytes in unpadded base64", errBadPHC)
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, fmt.Errorf("%w: hash: want 16 to 128 bytes in unpadded base64", errBadPHC)
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
