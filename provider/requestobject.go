package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// Request objects (RFC 9101): an authorization request as a JWT signed
// by the client, passed by value (the request parameter, at /authorize or
// in a push). Gatehouse verifies them itself; op's ParseRequestObject
// checks neither signature nor lifetime.
const (
	// requestObjectMaxLife bounds exp - nbf, and how long ago nbf may be
	// (FAPI 2.0 Security Profile §5.3.2.1: 60 minutes).
	requestObjectMaxLife = 60 * time.Minute
	// requestObjectJTIPrefix keeps request object ids apart from client
	// assertion ids in the one store of used JWT ids.
	requestObjectJTIPrefix = "request_object:"
)

// requestObjectTypes are the typ headers a request object may carry:
// RFC 9101 §10.8's, or plain JWT. Any other (at+jwt, dpop+jwt,
// logout+jwt …) is a token of another kind.
var requestObjectTypes = []string{"oauth-authz-req+jwt", "JWT", "jwt"}

// requestObjectClaims are the JWT claims of a request object; they are
// not authorization parameters.
type requestObjectClaims struct {
	Issuer    string           `json:"iss"`
	Audience  jwt.Audience     `json:"aud"`
	Expiry    *jwt.NumericDate `json:"exp"`
	NotBefore *jwt.NumericDate `json:"nbf"`
	IssuedAt  *jwt.NumericDate `json:"iat"`
	ID        string           `json:"jti"`
}

// jwtClaimNames are the claims of requestObjectClaims, and sub, which a
// request object has no use for.
var jwtClaimNames = []string{"iss", "aud", "exp", "nbf", "iat", "jti", "sub"}

// requestObjectParams verifies a request object of client c and returns
// the authorization request it holds, as parameters (client_id set to
// c's). It checks, in this order: the client registered a
// request_object_signing_alg and the object is a JWS with exactly that
// algorithm (never none, never HS*); its typ, if any, is a request
// object's; the signature, with the client's keys (jwks or jwks_uri, as
// for client assertions); iss = client_id; aud names the issuer; exp and
// nbf are present, exp in the future, nbf not in the future and at most
// 60 minutes ago, exp at most 60 minutes after nbf (60 s of skew each
// time); a jti, never used before by the client (recorded last, in the
// store of client assertion ids, until exp); client_id, if present, is
// c's; no request or request_uri inside. Failures are
// invalid_request_object; a store failure is storeFailure.
func (p *Provider) requestObjectParams(ctx context.Context, c *client, raw string) (url.Values, *oidc.Error) {
	bad := func(format string, args ...any) *oidc.Error {
		return (&oidc.Error{ErrorType: "invalid_request_object"}).WithDescription(format, args...)
	}
	alg := jose.SignatureAlgorithm(c.c.RequestObjectSigningAlg)
	if alg == "" {
		return nil, bad("this client registered no request_object_signing_alg: Gatehouse takes no request objects from it")
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{alg})
	if err != nil || len(tok.Headers) != 1 {
		return nil, bad("the request object is not a JWT signed with %s, the client's request_object_signing_alg", alg)
	}
	hdr := tok.Headers[0]
	if typ, present := hdr.ExtraHeaders[jose.HeaderType]; present && !slices.Contains(requestObjectTypes, fmt.Sprint(typ)) {
		return nil, bad("the request object's typ must be oauth-authz-req+jwt")
	}
	candidates, err := p.clientKeys(ctx, c, hdr.KeyID, alg)
	if err != nil {
		p.log.WarnContext(ctx, "request object: client keys", "client", c.c.ID, "err", err)
		return nil, bad("the client's keys are not available")
	}
	var (
		cl  requestObjectClaims
		all map[string]any
	)
	verified := false
	for _, k := range candidates {
		if tok.Claims(k.Key, &cl, &all) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return nil, bad("the request object's signature does not verify with any of the client's keys")
	}
	if cl.Issuer != c.c.ID {
		return nil, bad("the request object's iss must be the client_id")
	}
	if !slices.Contains(cl.Audience, p.cfg.Issuer) {
		return nil, bad("the request object's aud must be the issuer, %s", p.cfg.Issuer)
	}
	now := p.cfg.Now()
	if cl.Expiry == nil || cl.NotBefore == nil {
		return nil, bad("the request object needs exp and nbf")
	}
	exp, nbf := cl.Expiry.Time(), cl.NotBefore.Time()
	switch {
	case !now.Before(exp.Add(assertionSkew)):
		return nil, bad("the request object has expired")
	case nbf.After(now.Add(assertionSkew)):
		return nil, bad("the request object is not valid yet (nbf)")
	case now.Sub(nbf) > requestObjectMaxLife+assertionSkew:
		return nil, bad("the request object's nbf is more than %s in the past", requestObjectMaxLife)
	case exp.Sub(nbf) > requestObjectMaxLife:
		return nil, bad("the request object's lifetime (exp - nbf) is more than %s", requestObjectMaxLife)
	}
	if cl.ID == "" || len(cl.ID) > maxJTILen {
		return nil, bad("the request object needs a jti of at most %d characters", maxJTILen)
	}

	params := url.Values{}
	for name, v := range all {
		if slices.Contains(jwtClaimNames, name) {
			continue
		}
		if name == "request" || name == "request_uri" {
			return nil, bad("a request object must not hold %s", name)
		}
		s, err := paramValue(v)
		if err != nil {
			return nil, bad("the request object's %s cannot be read", truncateName(name))
		}
		params.Set(name, s)
	}
	if id, present := all["client_id"]; present && id != c.c.ID {
		return nil, bad("the request object's client_id does not match the client_id of the request")
	}
	params.Set("client_id", c.c.ID)

	err = p.assertions.UseAssertionID(ctx, c.c.ID, requestObjectJTIPrefix+cl.ID, exp.Add(assertionSkew), now)
	if errors.Is(err, storage.ErrConflict) {
		p.log.WarnContext(ctx, "request object replayed", "client", c.c.ID)
		return nil, bad("the request object has already been used")
	}
	if err != nil {
		return nil, storeFailure(fmt.Errorf("record request object id: %w", err))
	}
	return params, nil
}

// paramValue writes a claim of a request object as the parameter it
// stands for: strings as they are, numbers and booleans as JSON writes
// them, objects (claims) and arrays as JSON text.
func paramValue(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(v), nil
	case nil:
		return "", nil
	default:
		b, err := json.Marshal(v)
		return string(b), err
	}
}
