package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
)

// VerifyClientSecret reports whether secret matches the stored hash, in time
// independent of where they differ.
func VerifyClientSecret(hash, secret string) bool {
	if hash == "" {
		return false
	}
	got := clientpolicy.HashSecret(secret)
	return subtle.ConstantTimeCompare([]byte(got), []byte(hash)) == 1
}

// keyedSecretPrefix names the stored form of client secrets: an HMAC under
// a server key of the secret's SHA-256, so a copy of the database alone
// does not let anyone test guesses of a secret.
const keyedSecretPrefix = "hmac-sha256:"

// KeyClientSecretHash turns the "sha256:" hash clients.yaml carries (or
// that clientpolicy.HashSecret makes) into the keyed form Gatehouse stores:
// "hmac-sha256:" + hex HMAC-SHA256(key, SHA-256(secret)). The result is
// deterministic, so a sync sees an unchanged secret as unchanged.
func KeyClientSecretHash(key []byte, sha256Hash string) (string, error) {
	if len(key) < 32 {
		return "", errors.New("client secret key: need at least 32 bytes")
	}
	if !clientpolicy.ValidSecretHash(sha256Hash) {
		return "", errors.New("not a sha256: client secret hash")
	}
	_, digest, _ := strings.Cut(sha256Hash, ":")
	raw, _ := hex.DecodeString(digest)
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
	want, err := KeyClientSecretHash(p.cfg.ClientSecretKey, clientpolicy.HashSecret(secret))
	return err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(stored)) == 1
}
