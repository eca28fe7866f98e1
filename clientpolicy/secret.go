package clientpolicy

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
)

// secretHashPrefix names the hash scheme of client secrets in clients.yaml.
const secretHashPrefix = "sha256:"

// HashSecret returns the hashed form of a client secret that clients.yaml
// carries as client_secret_hash: "sha256:" followed by the hex SHA-256 of
// the secret. Client secrets are long random strings (Gatehouse generates
// 256-bit ones), so a fast hash is safe and keeps client authentication
// cheap; user passwords use argon2id.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return secretHashPrefix + hex.EncodeToString(sum[:])
}

// ValidSecretHash reports whether h has the form HashSecret produces, so
// that clients.yaml can carry a precomputed client_secret_hash.
func ValidSecretHash(h string) bool {
	rest, ok := strings.CutPrefix(h, secretHashPrefix)
	if !ok || len(rest) != sha256.Size*2 {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil && strings.ToLower(rest) == rest
}

// publishedSecretHashes are the SHA-256 hashes (client_secret_hash form) of
// the client secrets published in Gatehouse's repository, which anyone can
// read: the sample clients.yaml's example-web demo secret
// (example-web-demo-secret-local-testing-only) and the load generator's
// (gatehouse-load-demo-secret-local-testing-only).
func publishedSecretHashes() []string {
	return []string{
		"sha256:bf18685f35f4eac9541e7eedb863831b9781c756514c00163c10031c2a3ae3c5",
		"sha256:e73cec7e7083bf49ae66a1be4be18e24a460e3d6420235580899c0947c2131a9",
	}
}

// IssuerOnLoopback reports whether the issuer URL's host is one of the
// loopback hosts (localhost, 127.0.0.1, [::1]): only browsers and apps on
// the same machine can use such an issuer.
func IssuerOnLoopback(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && IsLoopbackHost(u.Hostname())
}
