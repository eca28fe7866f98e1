package provider

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/keys"
)

// Access tokens are Gatehouse's own, not op's: op's JWT access tokens are
// typed "JWT" (RFC 9068 asks for "at+jwt") and carry no scope. op is told
// every client uses bearer tokens, so it asks its Crypto to encrypt
// "<token id>:<subject>"; the token id Gatehouse hands op is the token's
// claims themselves (pendingPrefix + base64url JSON), and tokenCrypto turns
// them into the real token — a signed at+jwt, or, for clients registered
// with access_token_format: opaque, a sealed token only Gatehouse reads.
// Codes go through the same Crypto and are sealed as before.
const (
	pendingPrefix = "at."
	opaquePrefix  = "gho_"
	atJWTType     = "at+jwt"
)

// accessClaims are an access token's claims (RFC 9068 §2.2).
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope"`
	JWTID     string   `json:"jti"`
	IssuedAt  int64    `json:"iat"`
	Expiry    int64    `json:"exp"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	Family    string   `json:"fam,omitempty"`
	GrantType string   `json:"gty,omitempty"`
}

func (c *accessClaims) scopes() []string { return strings.Fields(c.Scope) }

// pendingToken is what travels through op between CreateAccessToken and
// tokenCrypto.Encrypt.
type pendingToken struct {
	Claims accessClaims `json:"c"`
	Format string       `json:"f"` // "jwt" or "opaque"
	Alg    string       `json:"a"` // signing algorithm for jwt
}

// newAccessTokenID builds the claims of the access token a request gets
// and returns them as op's token id, with the token's expiry.
func (p *Provider) newAccessTokenID(ctx context.Context, req op.TokenRequest, clientID string) (string, time.Time, error) {
	c, err := p.clients.get(ctx, clientID)
	if err != nil {
		return "", time.Time{}, internal(fmt.Errorf("load client: %w", err))
	}
	pt, exp, err := p.pendingAccessToken(ctx, req, c)
	if err != nil {
		return "", time.Time{}, err
	}
	b, err := json.Marshal(pt)
	if err != nil {
		return "", time.Time{}, err
	}
	return pendingPrefix + base64.RawURLEncoding.EncodeToString(b), exp, nil
}

// pendingAccessToken builds the access token request req gets for client
// c, not signed or sealed yet (mintAccessToken does that), and its expiry.
func (p *Provider) pendingAccessToken(ctx context.Context, req op.TokenRequest, c *client) (pendingToken, time.Time, error) {
	jti, err := randomID(p.cfg.Random)
	if err != nil {
		return pendingToken{}, time.Time{}, err
	}
	now := p.cfg.Now()
	exp := now.Add(p.cfg.AccessTokenTTL)
	pt := pendingToken{
		Claims: accessClaims{
			Issuer: p.cfg.Issuer, Subject: req.GetSubject(), Audience: req.GetAudience(), ClientID: c.c.ID,
			Scope: strings.Join(req.GetScopes(), " "), JWTID: jti, IssuedAt: now.Unix(), Expiry: exp.Unix(),
			Family: familyOf(req),
		},
		Format: "jwt",
		Alg:    signingAlg(ctx, p.cfg.SigningAlg),
	}
	if r, ok := req.(interface{ GetAuthTime() time.Time }); ok && !r.GetAuthTime().IsZero() {
		pt.Claims.AuthTime = r.GetAuthTime().Unix()
	}
	if _, ok := req.(serviceRequest); ok {
		pt.Claims.GrantType = "client_credentials"
	}
	if c.c.AccessTokenFormat == "opaque" {
		pt.Format = "opaque"
	}
	return pt, exp, nil
}

// tokenCrypto is op's Crypto: it mints access tokens from pending token
// ids and passes everything else (codes) to the code crypto.
type tokenCrypto struct {
	codes op.Crypto
	p     *Provider
}

func (c tokenCrypto) Encrypt(s string) (string, error) {
	rest, ok := strings.CutPrefix(s, pendingPrefix)
	if !ok {
		return c.codes.Encrypt(s)
	}
	id, _, _ := strings.Cut(rest, ":")
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return "", fmt.Errorf("pending access token: %w", err)
	}
	var pt pendingToken
	if err := json.Unmarshal(b, &pt); err != nil {
		return "", fmt.Errorf("pending access token: %w", err)
	}
	return c.p.mintAccessToken(pt)
}

func (c tokenCrypto) Decrypt(s string) (string, error) { return c.codes.Decrypt(s) }

// mintAccessToken signs or seals the token.
func (p *Provider) mintAccessToken(pt pendingToken) (string, error) {
	payload, err := json.Marshal(pt.Claims)
	if err != nil {
		return "", err
	}
	if pt.Format == "opaque" {
		sealed, err := p.accessSealer.Seal(payload, []byte(opaquePrefix))
		if err != nil {
			return "", err
		}
		return opaquePrefix + base64.RawURLEncoding.EncodeToString(sealed), nil
	}
	return p.signJWS(pt.Alg, atJWTType, payload)
}

// signJWS signs payload as a compact JWS with the active key of alg,
// typed typ, with the key's kid.
func (p *Provider) signJWS(alg string, typ jose.ContentType, payload []byte) (string, error) {
	k, err := p.keys.Signer(alg)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{
		Algorithm: k.Algorithm(),
		Key:       jose.JSONWebKey{Key: k.Key(), KeyID: k.ID()},
	}, (&jose.SignerOptions{}).WithType(typ))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
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
