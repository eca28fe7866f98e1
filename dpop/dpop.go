// Package dpop checks DPoP proofs (RFC 9449): a JWT a client signs with a
// key of its own for each HTTP request, which binds the tokens it gets to
// that key. It parses and checks one proof (Check), computes a key's
// thumbprint (Thumbprint, RFC 7638) and an access token's hash (ATH), and
// makes and checks server nonces (Nonces). It keeps no state and serves no
// HTTP: remembering a proof's jti until its window ends, and the answers,
// are the caller's.
package dpop

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Type is the typ header of every DPoP proof (RFC 9449 §4.2).
const Type = "dpop+jwt"

// Algorithms are the signature algorithms a proof may be signed with:
// asymmetric ones only (RFC 9449 §4.2: never none, never a MAC).
var Algorithms = []jose.SignatureAlgorithm{jose.ES256, jose.PS256, jose.RS256, jose.EdDSA}

// AlgorithmNames are Algorithms as strings, for discovery's
// dpop_signing_alg_values_supported.
func AlgorithmNames() []string {
	out := make([]string, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = string(a)
	}
	return out
}

const (
	// Window is how far a proof's iat may be from the server's clock, in
	// either direction: a proof is accepted only while now is within
	// Window of its iat, so its jti must be remembered until iat+Window.
	Window = 60 * time.Second
	// maxJTILen bounds the jti a server must remember.
	maxJTILen = 256
	// maxProofLen bounds the proof parsed: a key and a few claims.
	maxProofLen = 8 << 10
)

// Request is the HTTP request a proof must be for.
type Request struct {
	// Method is the request's method, compared exactly with htm.
	Method string
	// URL is the endpoint's URL as the server names it (built from its
	// issuer, never from the Host header), compared with htu without
	// query and fragment (RFC 9449 §4.3).
	URL string
	// AccessToken, when not empty, is the access token the request
	// presents: the proof must carry its hash (ath).
	AccessToken string
	// Now is the server's time.
	Now time.Time
}

// Proof is a checked proof.
type Proof struct {
	// JKT is the base64url SHA-256 thumbprint of the proof's public key
	// (RFC 7638): what tokens are bound to (cnf.jkt).
	JKT string
	// JTI is the proof's unique id, to be accepted once until Expires.
	JTI string
	// IssuedAt is the proof's iat; Expires is IssuedAt+Window, after
	// which Check refuses it anyway.
	IssuedAt, Expires time.Time
	// Nonce is the server nonce the proof carries, "" if none: the
	// caller checks it (Nonces.Valid).
	Nonce string
	// Alg is the algorithm the proof is signed with, one of Algorithms.
	Alg string
}

// Error is why a proof was refused; its text is safe to show the client.
type Error struct{ Description string }

func (e *Error) Error() string { return "dpop: " + e.Description }

func bad(format string, args ...any) error {
	return &Error{Description: fmt.Sprintf(format, args...)}
}

// claims are a proof's claims (RFC 9449 §4.2).
type claims struct {
	JTI   string          `json:"jti"`
	HTM   string          `json:"htm"`
	HTU   string          `json:"htu"`
	IAT   json.RawMessage `json:"iat"`
	ATH   *string         `json:"ath"`
	Nonce json.RawMessage `json:"nonce"`
}

// minRSABits is the least size of a proof's RSA key (RFC 7518 §3.3).
const minRSABits = 2048

// Check parses the proof (the DPoP header's value) and checks it for req
// (RFC 9449 §4.3): one compact JWS, typ dpop+jwt, signed with one of
// Algorithms by the public key in its jwk header (a private or symmetric
// key is refused), with a jti, htm equal to req.Method, htu equal to
// req.URL without query and fragment, iat within Window of req.Now, and,
// when req.AccessToken is set, ath its hash. Every refusal is an *Error.
// The nonce and the jti's single use are the caller's to check.
func Check(proof string, req Request) (*Proof, error) {
	if proof == "" || len(proof) > maxProofLen {
		return nil, bad("the DPoP proof is empty or too long")
	}
	jws, err := jose.ParseSignedCompact(proof, Algorithms)
	if err != nil {
		// go-jose refuses other algorithms and a private key in jwk.
		return nil, bad("the DPoP proof is not a JWS signed with ES256, PS256, RS256 or EdDSA by a public key")
	}
	if len(jws.Signatures) != 1 {
		return nil, bad("the DPoP proof must have one signature")
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != Type {
		return nil, bad("the DPoP proof's typ must be %s", Type)
	}
	key := h.JSONWebKey
	if key == nil || !key.Valid() || !key.IsPublic() {
		return nil, bad("the DPoP proof's jwk header must be a public key")
	}
	switch k := key.Key.(type) {
	case []byte:
		return nil, bad("the DPoP proof's jwk header must be a public key")
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, bad("the DPoP proof's RSA key has %d bits: RSA keys must have %d or more (RFC 7518 §3.3)", k.N.BitLen(), minRSABits)
		}
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, bad("the DPoP proof's signature does not verify with its jwk")
	}
	var c claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, bad("the DPoP proof's claims cannot be parsed")
	}
	if c.JTI == "" || len(c.JTI) > maxJTILen {
		return nil, bad("the DPoP proof's jti is missing or longer than %d bytes", maxJTILen)
	}
	if c.HTM != req.Method {
		return nil, bad("the DPoP proof's htm is not %s", req.Method)
	}
	if !sameURL(c.HTU, req.URL) {
		return nil, bad("the DPoP proof's htu is not %s", req.URL)
	}
	// A JSON number (a string of digits is not one).
	iat, err := strconv.ParseFloat(string(c.IAT), 64)
	if err != nil || iat <= 0 || iat > 1e11 {
		return nil, bad("the DPoP proof's iat is missing or not a time")
	}
	issued := time.Unix(int64(iat), 0)
	if d := req.Now.Sub(issued); d > Window || d < -Window {
		return nil, bad("the DPoP proof's iat is not within %s of the server's time", Window)
	}
	if req.AccessToken != "" && (c.ATH == nil || *c.ATH != ATH(req.AccessToken)) {
		return nil, bad("the DPoP proof's ath is not the hash of the access token")
	}
	var nonce string
	if len(c.Nonce) > 0 && string(c.Nonce) != "null" {
		if err := json.Unmarshal(c.Nonce, &nonce); err != nil || nonce == "" {
			return nil, bad("the DPoP proof's nonce must be a string")
		}
	}
	jkt, err := Thumbprint(key)
	if err != nil {
		return nil, bad("the DPoP proof's jwk has no thumbprint")
	}
	return &Proof{JKT: jkt, JTI: c.JTI, IssuedAt: issued, Expires: issued.Add(Window), Nonce: nonce, Alg: h.Algorithm}, nil
}

// Thumbprint is the base64url SHA-256 JWK thumbprint of key (RFC 7638),
// the value of cnf.jkt (RFC 9449 §6.1).
func Thumbprint(key *jose.JSONWebKey) (string, error) {
	b, err := key.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// ATH is the ath claim for an access token: base64url SHA-256 of its
// ASCII (RFC 9449 §4.2).
func ATH(accessToken string) string {
	sum := sha256.Sum256([]byte(accessToken))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// sameURL reports whether the proof's htu names the endpoint want:
// scheme and host compared ignoring case, a default port dropped, the
// path exactly, query and fragment ignored (RFC 9449 §4.3, RFC 3986
// §6.2.2, §6.2.3).
func sameURL(htu, want string) bool {
	u, err := url.Parse(htu)
	if err != nil || u.Opaque != "" || u.User != nil {
		return false
	}
	w, err := url.Parse(want)
	if err != nil {
		return false
	}
	norm := func(u *url.URL) string {
		scheme, host := strings.ToLower(u.Scheme), strings.ToLower(u.Hostname())
		port := u.Port()
		if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
			port = ""
		}
		if port != "" {
			host += ":" + port
		}
		path := u.EscapedPath()
		if path == "" {
			path = "/"
		}
		return scheme + "://" + host + path
	}
	return u.Scheme != "" && u.Host != "" && norm(u) == norm(w)
}

// ErrNoProof: the request carries no DPoP proof.
var ErrNoProof = errors.New("dpop: no proof")

// FromHeader returns the one DPoP header of a request (values: the
// header's values): ErrNoProof when there is none, an *Error when there
// is more than one (RFC 9449 §4.3 item 1).
func FromHeader(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", ErrNoProof
	case 1:
		return values[0], nil
	}
	return "", bad("the request must carry one DPoP header")
}
