package provider

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/egress"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// Client assertions (private_key_jwt: RFC 7523 §3, RFC 7521 §4.2, OpenID
// Connect Core §9) are verified by Gatehouse itself, at the token,
// revocation and introspection endpoints (checkClientAuthMethod).
const (
	// clientAssertionType is the only client_assertion_type accepted.
	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionSkew is the clock skew allowed on exp, nbf and iat.
	assertionSkew = 60 * time.Second
	// assertionMaxLife is how far ahead of now an assertion's exp may be:
	// its jti is remembered until then, so the bound caps the store.
	assertionMaxLife = 10 * time.Minute
	// maxJTILen bounds the jti the store remembers.
	maxJTILen = 256
	// privateKeyJWT is the token_endpoint_auth_method of clients that
	// authenticate with client assertions.
	privateKeyJWT = "private_key_jwt"
)

// assertionClaims are the claims of a client assertion.
type assertionClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
}

// parseClientAssertion parses a client assertion without verifying it and
// returns it with its claimed client id (sub). Only compact JWS signed with
// one of AssertionSigningAlgs parses.
func parseClientAssertion(raw string) (*jwt.JSONWebToken, assertionClaims, *oidc.Error) {
	var cl assertionClaims
	tok, err := jwt.ParseSigned(raw, clientpolicy.AssertionSigningAlgs())
	if err != nil || len(tok.Headers) != 1 {
		return nil, cl, oidc.ErrInvalidClient().WithDescription("the client assertion is not a JWT signed with RS256, ES256, EdDSA or PS256")
	}
	if err := tok.UnsafeClaimsWithoutVerification(&cl); err != nil {
		return nil, cl, oidc.ErrInvalidClient().WithDescription("the client assertion's claims cannot be parsed")
	}
	if cl.Subject == "" {
		return nil, cl, oidc.ErrInvalidClient().WithDescription("the client assertion has no sub")
	}
	return tok, cl, nil
}

// verifyClientAssertion checks a parsed client assertion of client c: its
// signature against the client's keys (jwks or jwks_uri), iss = sub =
// client id, an audience naming this server (the issuer or one of the
// endpoints that authenticate clients), exp in the future but no more than
// assertionMaxLife ahead, nbf and iat not in the future (assertionSkew
// allowed each time), and a jti never used by the client before. The jti
// is recorded last, once everything else holds.
func (p *Provider) verifyClientAssertion(ctx context.Context, c *client, tok *jwt.JSONWebToken) *oidc.Error {
	bad := func(format string, args ...any) *oidc.Error {
		return oidc.ErrInvalidClient().WithDescription(format, args...)
	}
	hdr := tok.Headers[0]
	candidates, err := p.clientKeys(ctx, c, hdr.KeyID, jose.SignatureAlgorithm(hdr.Algorithm))
	if err != nil {
		p.log.WarnContext(ctx, "client assertion: client keys", "client", c.c.ID, "err", err)
		return bad("the client's keys are not available")
	}
	var cl assertionClaims
	verified := false
	for _, k := range candidates {
		if tok.Claims(k.Key, &cl) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return bad("the client assertion's signature does not verify with any of the client's keys")
	}
	if cl.Issuer != c.c.ID || cl.Subject != c.c.ID {
		return bad("the client assertion's iss and sub must both be the client_id")
	}
	// RFC 9126 §2: at the pushed authorization request endpoint, its URL
	// or the issuer.
	aud := []string{p.cfg.Issuer, p.cfg.Issuer + tokenPath, p.cfg.Issuer + revokePath, p.cfg.Issuer + introspectPath, p.cfg.Issuer + parPath}
	if !slices.ContainsFunc(cl.Audience, func(a string) bool { return slices.Contains(aud, a) }) {
		return bad("the client assertion's aud must name this server's token endpoint or issuer")
	}
	// FAPI 2.0: the issuer alone is the audience of a fapi2 client's
	// assertions, whichever endpoint it is sent to, and they are signed
	// with one of its algorithms.
	if c.c.Profile == clientpolicy.ProfileFAPI2 && !slices.Contains(clientpolicy.FAPI2Algorithms(), hdr.Algorithm) {
		return bad("the client assertion must be signed with PS256, ES256 or EdDSA (FAPI 2.0), not %s", hdr.Algorithm)
	}
	if c.c.Profile == clientpolicy.ProfileFAPI2 && (len(cl.Audience) != 1 || cl.Audience[0] != p.cfg.Issuer) {
		return bad("the client assertion's aud must be the issuer, %s, alone (FAPI 2.0)", p.cfg.Issuer)
	}
	now := p.cfg.Now()
	if cl.Expiry == nil {
		return bad("the client assertion has no exp")
	}
	exp := cl.Expiry.Time()
	if !now.Before(exp.Add(assertionSkew)) {
		return bad("the client assertion has expired")
	}
	if exp.After(now.Add(assertionMaxLife + assertionSkew)) {
		return bad("the client assertion's exp is more than %s ahead", assertionMaxLife)
	}
	if cl.NotBefore != nil && cl.NotBefore.Time().After(now.Add(assertionSkew)) {
		return bad("the client assertion is not valid yet")
	}
	if cl.IssuedAt != nil && cl.IssuedAt.Time().After(now.Add(assertionSkew)) {
		return bad("the client assertion was issued in the future")
	}
	if cl.ID == "" || len(cl.ID) > maxJTILen {
		return bad("the client assertion needs a jti of at most %d characters", maxJTILen)
	}
	err = p.assertions.UseAssertionID(ctx, c.c.ID, cl.ID, exp.Add(assertionSkew), now)
	if errors.Is(err, storage.ErrConflict) {
		p.log.WarnContext(ctx, "client assertion replayed", "client", c.c.ID)
		return bad("the client assertion has already been used")
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(fmt.Errorf("record assertion id: %w", err))
	}
	return nil
}

// clientKeys returns the client's public keys that may have signed an
// assertion with key id kid (any key when kid is "") and algorithm alg:
// from its inline jwks, or from its jwks_uri (cached; fetched again once
// when kid is unknown).
func (p *Provider) clientKeys(ctx context.Context, c *client, kid string, alg jose.SignatureAlgorithm) ([]jose.JSONWebKey, error) {
	var set *jose.JSONWebKeySet
	switch {
	case len(c.c.JWKS) > 0:
		set = new(jose.JSONWebKeySet)
		if err := json.Unmarshal(c.c.JWKS, set); err != nil {
			return nil, fmt.Errorf("inline jwks: %w", err)
		}
	case c.c.JWKSURI != "":
		var err error
		if set, err = p.jwks.get(ctx, c.c.JWKSURI, kid, publicOnlyEgress(c.c)); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("the client has neither jwks nor jwks_uri")
	}
	return matchingKeys(set, kid, alg), nil
}

// matchingKeys returns the public signature keys of set with key id kid
// (every key when kid is "") whose alg, if given, is alg. Private and
// symmetric keys are never returned, nor RSA keys under
// clientpolicy.MinRSAKeyBits (inline sets are checked at registration; a
// set fetched from a jwks_uri is checked here).
func matchingKeys(set *jose.JSONWebKeySet, kid string, alg jose.SignatureAlgorithm) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range set.Keys {
		if kid != "" && k.KeyID != kid {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != string(alg) {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch pk := k.Key.(type) {
		case *rsa.PublicKey:
			if pk.N.BitLen() >= clientpolicy.MinRSAKeyBits {
				out = append(out, k)
			}
		case *ecdsa.PublicKey, ed25519.PublicKey:
			out = append(out, k)
		}
	}
	return out
}

// hasKeyID reports whether set holds a key with id kid.
func hasKeyID(set *jose.JSONWebKeySet, kid string) bool {
	return slices.ContainsFunc(set.Keys, func(k jose.JSONWebKey) bool { return k.KeyID == kid })
}

// publicOnlyEgress reports whether Gatehouse may reach the addresses
// client c chose (its jwks_uri, its backchannel_logout_uri) only when they
// are public (package egress): for a client that registered itself. The
// operator's clients (clients.yaml, the admin API) may name any address.
func publicOnlyEgress(c *storage.Client) bool { return c.Source == storage.ClientSourceRegistration }

// Limits of fetching a client's jwks_uri.
const (
	jwksCacheTTL     = 5 * time.Minute
	jwksMinRefetch   = 10 * time.Second
	jwksFetchTimeout = 5 * time.Second
	jwksMaxBytes     = 256 << 10
)

// jwksCache fetches and caches the key sets of clients' jwks_uri. A set
// is kept jwksCacheTTL; an assertion naming a kid the cached set lacks
// fetches the set again, at most once per jwksMinRefetch per URI, so that
// a client's key rotation is seen at once but random kids cannot make
// Gatehouse hammer a URI.
//
// A client that registered itself has its set fetched only from public
// addresses (package egress), and cached apart: a set fetched for an
// operator's client from an internal address is never served to it.
type jwksCache struct {
	client *http.Client
	public *http.Client // connects only to public addresses
	now    func() time.Time

	mu      sync.Mutex
	entries map[string]jwksEntry
}

type jwksEntry struct {
	set     *jose.JSONWebKeySet
	fetched time.Time
}

func newJWKSCache(now func() time.Time) *jwksCache {
	return &jwksCache{
		client:  &http.Client{Timeout: jwksFetchTimeout},
		public:  &http.Client{Timeout: jwksFetchTimeout, Transport: egress.Transport(nil)},
		now:     now,
		entries: map[string]jwksEntry{},
	}
}

// get returns the key set at uri, from the cache while fresh. When kid is
// not "" and the cached set has no such key, the set is fetched again if
// the last fetch is at least jwksMinRefetch old. publicOnly fetches it
// only from a public address.
func (jc *jwksCache) get(ctx context.Context, uri, kid string, publicOnly bool) (*jose.JSONWebKeySet, error) {
	now := jc.now()
	key, client := uri, jc.client
	if publicOnly {
		key, client = "public "+uri, jc.public
	}
	jc.mu.Lock()
	e, ok := jc.entries[key]
	jc.mu.Unlock()
	if ok && now.Sub(e.fetched) < jwksCacheTTL {
		if kid == "" || hasKeyID(e.set, kid) || now.Sub(e.fetched) < jwksMinRefetch {
			return e.set, nil
		}
	}
	set, err := jc.fetch(ctx, client, uri)
	if err != nil {
		return nil, err
	}
	jc.mu.Lock()
	jc.entries[key] = jwksEntry{set: set, fetched: now}
	jc.mu.Unlock()
	return set, nil
}

// fetch GETs the key set at uri with client: https, or http to a loopback
// address.
func (jc *jwksCache) fetch(ctx context.Context, client *http.Client, uri string) (*jose.JSONWebKeySet, error) {
	if !clientpolicy.AllowedJWKSURI(uri) {
		return nil, fmt.Errorf("jwks_uri %q: https required", uri)
	}
	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch jwks_uri: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch jwks_uri: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("fetch jwks_uri: %w", err)
	}
	if len(body) > jwksMaxBytes {
		return nil, fmt.Errorf("fetch jwks_uri: larger than %d bytes", jwksMaxBytes)
	}
	set := new(jose.JSONWebKeySet)
	if err := json.Unmarshal(body, set); err != nil {
		return nil, fmt.Errorf("jwks_uri: %w", err)
	}
	return set, nil
}
