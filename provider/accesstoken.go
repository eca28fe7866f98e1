package provider

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-idp/gatehouse/keys"
)

// Access tokens are Gatehouse's own (RFC 9068 profile): a JWT typed
// "at+jwt" carrying the granted scope, signed with the client's algorithm,
// or, for clients registered with access_token_format: opaque, a sealed
// token only Gatehouse reads. op's access tokens are typed "JWT" and carry
// no scope, so op makes none.
const (
	opaquePrefix = "gho_"
	atJWTType    = "at+jwt"
)

// accessClaims are an access token's claims (RFC 9068 §2.2).
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	ClientID string   `json:"client_id"`
	Scope    string   `json:"scope"`
	JWTID    string   `json:"jti"`
	IssuedAt int64    `json:"iat"`
	Expiry   int64    `json:"exp"`
	AuthTime int64    `json:"auth_time,omitempty"`
	// ACR and AMR say how the user signed in (RFC 9068 §2.2.1), as in the
	// ID token; a service token has neither.
	ACR       string   `json:"acr,omitempty"`
	AMR       []string `json:"amr,omitempty"`
	Family    string   `json:"fam,omitempty"`
	GrantType string   `json:"gty,omitempty"`
	// Cnf binds the token to a DPoP key (RFC 9449 §6.1); nil: a bearer
	// token.
	Cnf *confirmation `json:"cnf,omitempty"`
}

// confirmation is the cnf claim of a DPoP-bound token (RFC 7800 §3.1,
// RFC 9449 §6.1): the key's RFC 7638 thumbprint.
type confirmation struct {
	JKT string `json:"jkt"`
}

// boundTo is the thumbprint of the DPoP key the token is bound to, ""
// for a bearer token.
func (c *accessClaims) boundTo() string {
	if c.Cnf == nil {
		return ""
	}
	return c.Cnf.JKT
}

func (c *accessClaims) scopes() []string { return strings.Fields(c.Scope) }

// accessGrant is what an access token grants: to whom (subject), for
// which audience and scopes, since when and how the user signed in (zero
// and nil for a service), the token family it belongs to ("" for client_credentials),
// for a service token its grant type, and the thumbprint of the DPoP key
// it is bound to ("" for a bearer token).
type accessGrant struct {
	subject   string
	audience  []string
	scopes    []string
	authTime  time.Time
	amr       []string
	family    string
	grantType string
	jkt       string
}

// accessToken issues client c's access token for g, and its expiry.
func (p *Provider) accessToken(c *client, g accessGrant) (string, time.Time, error) {
	jti, err := randomID(p.cfg.Random)
	if err != nil {
		return "", time.Time{}, err
	}
	now := p.cfg.Now()
	exp := now.Add(p.cfg.AccessTokenTTL)
	claims := accessClaims{
		Issuer: p.cfg.Issuer, Subject: g.subject, Audience: g.audience, ClientID: c.c.ID,
		Scope: strings.Join(g.scopes, " "), JWTID: jti, IssuedAt: now.Unix(), Expiry: exp.Unix(),
		Family: g.family, GrantType: g.grantType,
	}
	if g.jkt != "" {
		claims.Cnf = &confirmation{JKT: g.jkt}
	}
	if !g.authTime.IsZero() {
		claims.AuthTime = g.authTime.Unix()
	}
	claims.ACR, claims.AMR = acrFor(g.amr), g.amr
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", time.Time{}, err
	}
	if c.c.AccessTokenFormat == "opaque" {
		sealed, err := p.accessSealer.Seal(payload, []byte(opaquePrefix))
		if err != nil {
			return "", time.Time{}, err
		}
		return opaquePrefix + base64.RawURLEncoding.EncodeToString(sealed), exp, nil
	}
	token, err := p.signJWS(p.signingAlgFor(c), atJWTType, payload)
	return token, exp, err
}

// signJWS signs payload as a compact JWS with the active key of alg,
// typed typ, with the key's kid. The go-jose signer of each key and type
// is made once (signers): making one costs more than the JSON it adds to,
// and a signer only reads its key, so concurrent requests share it.
func (p *Provider) signJWS(alg string, typ jose.ContentType, payload []byte) (string, error) {
	k, err := p.keys.Signer(alg)
	if err != nil {
		return "", err
	}
	signer, err := p.signers.get(k, typ)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// signerCache keeps a go-jose signer per signing key and JWS type. Keys
// rotate, so it forgets everything once it holds maxSigners (a few keys
// per algorithm live at once, times three types).
type signerCache struct {
	mu sync.Mutex
	m  map[signerKey]jose.Signer
}

type signerKey struct {
	kid string
	alg string
	typ jose.ContentType
}

const maxSigners = 64

func (c *signerCache) get(k *keys.SigningKey, typ jose.ContentType) (jose.Signer, error) {
	key := signerKey{kid: k.ID(), alg: string(k.Algorithm()), typ: typ}
	c.mu.Lock()
	s, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err := jose.NewSigner(jose.SigningKey{
		Algorithm: k.Algorithm(),
		Key:       jose.JSONWebKey{Key: k.Key(), KeyID: k.ID()},
	}, (&jose.SignerOptions{}).WithType(typ))
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxSigners {
		c.m = make(map[signerKey]jose.Signer)
	}
	c.m[key] = s
	c.mu.Unlock()
	return s, nil
}

// errBadAccessToken covers every access token Gatehouse will not honour.
var errBadAccessToken = errors.New("invalid access token")

// parseAccessToken returns the claims of one of Gatehouse's live access
// tokens: an at+jwt whose signature verifies against a published key, or
// an opaque token that opens under the access token sealer; issued by this
// issuer and not expired. Anything else — ID tokens, other JWTs, garbage —
// is errBadAccessToken. Revocation (the family) is the caller's check.
func (p *Provider) parseAccessToken(token string) (*accessClaims, error) {
	var payload []byte
	kid := "" // of a JWT's verified signature
	if rest, ok := strings.CutPrefix(token, opaquePrefix); ok {
		sealed, err := base64.RawURLEncoding.DecodeString(rest)
		if err != nil {
			return nil, errBadAccessToken
		}
		if payload, err = p.accessSealer.Open(sealed, []byte(opaquePrefix)); err != nil {
			return nil, errBadAccessToken
		}
	} else {
		if c, ok := p.verified.get(token, p.keys.PublicKeys(), p.cfg.Now()); ok {
			return c, nil
		}
		jws, err := jose.ParseSigned(token, signingAlgorithms())
		if err != nil || len(jws.Signatures) != 1 {
			return nil, errBadAccessToken
		}
		sig := jws.Signatures[0]
		if typ, _ := sig.Protected.ExtraHeaders[jose.HeaderType].(string); typ != atJWTType {
			return nil, errBadAccessToken // explicit typing (RFC 8725 §3.11)
		}
		var key *jose.JSONWebKey
		for _, k := range p.keys.PublicKeys() {
			if k.KeyID == sig.Protected.KeyID && k.Algorithm == sig.Protected.Algorithm {
				key = &k
				break
			}
		}
		if key == nil {
			return nil, errBadAccessToken
		}
		if payload, err = jws.Verify(key); err != nil {
			return nil, errBadAccessToken
		}
		kid = key.KeyID
	}
	var c accessClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, errBadAccessToken
	}
	if c.Issuer != p.cfg.Issuer || c.JWTID == "" || c.ClientID == "" || !p.cfg.Now().Before(time.Unix(c.Expiry, 0)) {
		return nil, errBadAccessToken
	}
	p.verified.put(token, kid, &c)
	return &c, nil
}

// signingAlgorithms are the algorithms Gatehouse signs with, as go-jose
// names them.
func signingAlgorithms() []jose.SignatureAlgorithm {
	var out []jose.SignatureAlgorithm
	for _, a := range keys.KeptAlgorithms() {
		out = append(out, jose.SignatureAlgorithm(a))
	}
	return out
}

// deriveKey derives a purpose-specific 32-byte key from a server secret.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
