package provider

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
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
