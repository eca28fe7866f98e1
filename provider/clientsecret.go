package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
)

// clientSecretPrefix names the hash scheme of stored client secrets.
const clientSecretPrefix = "sha256:"

// HashClientSecret returns the stored form of a client secret:
// "sha256:" followed by the hex SHA-256 of the secret. Client secrets are
// long random strings (Gatehouse generates 256-bit ones), so a fast hash is
// safe and keeps client authentication cheap; user passwords use argon2id.
func HashClientSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return clientSecretPrefix + hex.EncodeToString(sum[:])
}

// ValidClientSecretHash reports whether h has the form HashClientSecret
// produces, so that clients.yaml can carry a precomputed client_secret_hash.
func ValidClientSecretHash(h string) bool {
	rest, ok := strings.CutPrefix(h, clientSecretPrefix)
	if !ok || len(rest) != sha256.Size*2 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil && strings.ToLower(rest) == rest
}

// VerifyClientSecret reports whether secret matches the stored hash, in time
// independent of where they differ.
func VerifyClientSecret(hash, secret string) bool {
	if hash == "" {
		return false
	}
	got := HashClientSecret(secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}

// keyedSecretPrefix names the stored form of client secrets: an HMAC under
// a server key of the secret's SHA-256, so a copy of the database alone
// does not let anyone test guesses of a secret.
const keyedSecretPrefix = "hmac-sha256:"

// KeyClientSecretHash turns the "sha256:" hash clients.yaml carries (or
// that HashClientSecret makes) into the keyed form Gatehouse stores:
// "hmac-sha256:" + hex HMAC-SHA256(key, SHA-256(secret)). The result is
// deterministic, so a sync sees an unchanged secret as unchanged.
func KeyClientSecretHash(key []byte, sha256Hash string) (string, error) {
	if len(key) < 32 {
		return "", errors.New("client secret key: need at least 32 bytes")
	}
	if !ValidClientSecretHash(sha256Hash) {
		return "", errors.New("not a sha256: client secret hash")
	}
	raw, _ := hex.DecodeString(strings.TrimPrefix(sha256Hash, clientSecretPrefix))
	m := hmac.New(sha256.New, key)
	m.Write(raw)
	return keyedSecretPrefix + hex.EncodeToString(m.Sum(nil)), nil
}

// clientSecretMatches checks a presented secret against the stored hash,
// keyed ("hmac-sha256:", under Config.ClientSecretKey) or plain
// ("sha256:"), in time independent of where they differ. An empty hash
// (a public client) matches nothing.
func (p *Provider) clientSecretMatches(stored, secret string) bool {
	if !strings.HasPrefix(stored, keyedSecretPrefix) {
		return VerifyClientSecret(stored, secret)
	}
	if len(p.cfg.ClientSecretKey) == 0 {
		return false
	}
	want, err := KeyClientSecretHash(p.cfg.ClientSecretKey, HashClientSecret(secret))
	return err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(stored)) == 1
}
