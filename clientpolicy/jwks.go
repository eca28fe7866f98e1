package clientpolicy

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// AssertionSigningAlgs are the JWS algorithms a client assertion may be
// signed with (token_endpoint_auth_signing_alg_values_supported). none and
// the HMAC algorithms are never accepted: an assertion is verified only
// against the client's public keys.
func AssertionSigningAlgs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA, jose.PS256}
}

// AllowedJWKSURI reports whether Gatehouse fetches client keys from uri:
// an absolute https URL, or http to a loopback address (127.0.0.0/8, ::1,
// localhost) for tests and development.
func AllowedJWKSURI(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		if h == "localhost" {
			return true
		}
		ip := net.ParseIP(h)
		return ip != nil && ip.IsLoopback()
	}
	return false
}

// MinRSAKeyBits is the least size of a client's RSA key (RFC 7518 §3.3,
// FAPI 2.0 §5.4.1), checked for inline keys at registration and for
// keys fetched from a jwks_uri at each use.
const MinRSAKeyBits = 2048

// ValidateJWKS checks an inline JWK Set (clients.yaml's jwks) as JSON: it
// must parse, hold at least one key, and every key must be a public RSA,
// EC or OKP (Ed25519) signature key, RSA ones of 2048 bits or more.
// Private members (a private key) and symmetric keys are refused.
func ValidateJWKS(raw []byte) error {
	var probe struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	if len(probe.Keys) == 0 {
		return errors.New("jwks: no keys")
	}
	for i, k := range probe.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[private]; ok {
				return fmt.Errorf("jwks: key %d has the private member %q: give public keys only", i, private)
			}
		}
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	for i, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return fmt.Errorf("jwks: key %d is not a valid public key", i)
		}
		switch pk := k.Key.(type) {
		case *rsa.PublicKey:
			// RFC 7518 §3.3 (and FAPI 2.0 §5.4.1): 2048 bits or more.
			if pk.N.BitLen() < MinRSAKeyBits {
				return fmt.Errorf("jwks: key %d: an RSA key of %d bits; RSA keys must have 2048 bits or more (RFC 7518 §3.3)", i, pk.N.BitLen())
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
		default:
			return fmt.Errorf("jwks: key %d: only RSA, EC and Ed25519 public keys are allowed", i)
		}
		if k.Use != "" && k.Use != "sig" {
			return fmt.Errorf("jwks: key %d: use must be sig", i)
		}
		if k.Algorithm != "" && !slices.Contains(AssertionSigningAlgs(), jose.SignatureAlgorithm(k.Algorithm)) {
			return fmt.Errorf("jwks: key %d: alg %s is not one of RS256, ES256, EdDSA, PS256", i, k.Algorithm)
		}
	}
	return nil
}
