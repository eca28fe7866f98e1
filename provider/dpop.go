package provider

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	"github.com/gatehouse-idp/gatehouse/dpop"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// DPoP (RFC 9449): the token endpoint, userinfo and the pushed
// authorization request endpoint read the DPoP header through checkDPoP;
// the dpop package checks the proof itself. Tokens are bound to the
// proof's key by its thumbprint: cnf.jkt in access tokens (JWT and opaque),
// storage.RefreshGrant.DPoPJKT for the refresh tokens of public clients.
// An authorization code is bound to a key by its request
// (storage.AuthRequest.DPoPJKT: dpop_jkt, or the key of a proof sent with a
// pushed request, RFC 9449 §10) and redeemed only with a proof by that key.
// A proof is accepted once on any instance (its jti in the store until its
// window ends: storage.DPoPProofs). Nonces (DPoP-Nonce, use_dpop_nonce) are
// offered on every answer to a request with a proof, and required when
// Config.DPoPNonceRequired; they need no store (dpop.Nonces, keyed from the
// refresh key every instance shares).

// The error codes of a refused proof (RFC 9449 §5, §7.1).
const (
	errInvalidDPoPProof = "invalid_dpop_proof"
	errUseDPoPNonce     = "use_dpop_nonce"
)

// dpopFailure is why checkDPoP refused a request: code is
// invalid_dpop_proof or use_dpop_nonce; err set means the store failed.
type dpopFailure struct {
	code        string
	description string
	err         error
}

// dpopAlgs is the algs parameter of a DPoP challenge (RFC 9449 §7.1).
var dpopAlgs = strings.Join(dpop.AlgorithmNames(), " ")

// checkDPoP checks the DPoP proof of r, a request to the endpoint at path
// (under the issuer: htu is never built from the Host header) presenting
// accessToken ("" at the token endpoint): nil, nil when r carries no
// proof. It answers a checked proof signed with one of algs (when algs is
// not nil: a FAPI 2.0 client's) whose nonce is fresh (or absent while
// nonces are not required) and whose jti was not used before, recording
// the jti only for a proof that passed everything else. On every request
// with a proof it offers the current nonce in the DPoP-Nonce header of w.
func (p *Provider) checkDPoP(ctx context.Context, w http.ResponseWriter, r *http.Request, path, accessToken string, algs []string) (*dpop.Proof, *dpopFailure) {
	raw, err := dpop.FromHeader(r.Header.Values("DPoP"))
	if errors.Is(err, dpop.ErrNoProof) {
		return nil, nil
	}
	now := p.cfg.Now()
	w.Header().Set("DPoP-Nonce", p.dpopNonces.Nonce(now))
	var de *dpop.Error
	if errors.As(err, &de) {
		return nil, &dpopFailure{code: errInvalidDPoPProof, description: de.Description}
	}
	proof, err := dpop.Check(raw, dpop.Request{Method: r.Method, URL: p.cfg.Issuer + path, AccessToken: accessToken, Now: now})
	if errors.As(err, &de) {
		return nil, &dpopFailure{code: errInvalidDPoPProof, description: de.Description}
	} else if err != nil {
		return nil, &dpopFailure{code: errInvalidDPoPProof, description: "the DPoP proof is invalid"}
	}
	switch {
	case algs != nil && !slices.Contains(algs, proof.Alg):
		return nil, &dpopFailure{code: errInvalidDPoPProof, description: "this client's DPoP proofs must be signed with one of: " + strings.Join(algs, ", ")}
	case proof.Nonce != "" && !p.dpopNonces.Valid(proof.Nonce, now):
		return nil, &dpopFailure{code: errUseDPoPNonce, description: "the DPoP nonce is not current: use the one in the DPoP-Nonce header"}
	case proof.Nonce == "" && p.cfg.DPoPNonceRequired:
		return nil, &dpopFailure{code: errUseDPoPNonce, description: "a DPoP nonce is required: use the one in the DPoP-Nonce header"}
	}
	switch err := p.dpopProofs.UseDPoPProof(ctx, proof.JKT, proof.JTI, proof.Expires, now); {
	case errors.Is(err, storage.ErrConflict):
		return nil, &dpopFailure{code: errInvalidDPoPProof, description: "the DPoP proof was already used"}
	case err != nil:
		return nil, &dpopFailure{err: err}
	}
	return proof, nil
}

// tokenDPoP checks the DPoP proof of a token request by client c: the
// key thumbprint its tokens are to be bound to, "" without a proof. A
// client registered with dpop_bound_access_tokens must send one.
func (p *Provider) tokenDPoP(w http.ResponseWriter, r *http.Request, c *client) (string, *oidc.Error) {
	jkt, e := p.clientDPoP(w, r, c, tokenPath)
	if e == nil && jkt == "" && c.c.DPoPBoundAccessTokens {
		return "", &oidc.Error{ErrorType: errInvalidDPoPProof, Description: "this client must send a DPoP proof with every token request"}
	}
	return jkt, e
}

// clientDPoP checks the DPoP proof of a request by the authenticated
// client c to the endpoint at path (the token endpoint, or the pushed
// authorization request endpoint): the thumbprint of the proof's key, ""
// without a proof. A failed store is a server_error (storeFailure).
func (p *Provider) clientDPoP(w http.ResponseWriter, r *http.Request, c *client, path string) (string, *oidc.Error) {
	var algs []string
	if c.c.Profile == clientpolicy.ProfileFAPI2 {
		algs = clientpolicy.FAPI2Algorithms()
	}
	proof, f := p.checkDPoP(r.Context(), w, r, path, "", algs)
	switch {
	case f != nil && f.err != nil:
		return "", storeFailure(f.err)
	case f != nil && f.code == errUseDPoPNonce:
		return "", &oidc.Error{ErrorType: errUseDPoPNonce, Description: f.description}
	case f != nil:
		return "", &oidc.Error{ErrorType: errInvalidDPoPProof, Description: f.description}
	case proof == nil:
		return "", nil
	}
	return proof.JKT, nil
}

// validJKT reports whether s can be a dpop_jkt authorization request
// parameter (RFC 9449 §10): a base64url SHA-256 JWK thumbprint, 43
// characters of the base64url alphabet, unpadded, that decode to 32 bytes.
func validJKT(s string) bool {
	if len(s) != 43 || strings.Trim(s, base64URLChars) != "" {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// tokenType is the token_type of an access token bound to jkt ("" for
// none): DPoP or Bearer (RFC 9449 §5).
func tokenType(jkt string) string {
	if jkt != "" {
		return "DPoP"
	}
	return oidc.BearerToken
}

// dpopError answers a request to a protected resource (userinfo) with a
// DPoP challenge (RFC 9449 §7.1): 401, or 503 with Retry-After for a
// store failure.
func (p *Provider) dpopError(w http.ResponseWriter, r *http.Request, f *dpopFailure) {
	if f.err != nil {
		p.storeError(w, r, "dpop: record the proof", f.err)
		return
	}
	dpopChallenge(w, f.code, f.description)
}

// dpopChallenge writes a 401 with a DPoP WWW-Authenticate challenge
// carrying the error code and the algorithms accepted.
func dpopChallenge(w http.ResponseWriter, code, description string) {
	w.Header().Set("WWW-Authenticate", `DPoP algs="`+dpopAlgs+`", error="`+code+`", error_description="`+description+`"`)
	httphelper.MarshalJSONWithStatus(w, map[string]string{"error": code, "error_description": description}, http.StatusUnauthorized)
}

// dpopNonceSecret derives the key of DPoP nonces from the refresh key, so
// that every instance sharing one makes and accepts the same nonces.
func dpopNonceSecret(refreshKey []byte) []byte {
	return deriveKey(refreshKey, "gatehouse dpop nonce")
}
