package provider

import (
	"context"
	"errors"
	"net/http"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// revocationStore is what revocation and introspection ask of the store
// (besides revoking a family, revokeFamily, and the live checks).
type revocationStore interface {
	RefreshGrant(ctx context.Context, tokenHash string, now time.Time) (*storage.RefreshGrant, error)
	RefreshGrantByHash(ctx context.Context, tokenHash string) (*storage.RefreshGrant, error)
}

const (
	revokePath     = "/revoke"
	introspectPath = "/oauth/introspect"
)

// authenticatedPost parses a client-authenticated POST (revocation,
// introspection) and returns the client, or writes the error.
func (p *Provider) authenticatedPost(w http.ResponseWriter, r *http.Request) (*client, bool) {
	w.Header().Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBytes)
	if r.Method != http.MethodPost || r.ParseForm() != nil || len(r.URL.RawQuery) > 0 {
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("send a form-encoded POST body"))
		return nil, false
	}
	if len(r.PostForm["token"]) != 1 {
		p.tokenError(w, r, oidc.ErrInvalidRequest().WithDescription("send exactly one token"))
		return nil, false
	}
	c, e := p.checkClientAuthMethod(r)
	if e != nil {
		if _, _, basic := r.BasicAuth(); basic {
			w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse"`)
		}
		p.tokenError(w, r, e)
		return nil, false
	}
	return c, true
}

// tokenFamily finds the family and owner of one of our tokens: a refresh
// token (by its MAC, then the store) or a JWT access token (by its
// signature). ok is false for anything else: garbage, expired access
// tokens, other issuers' tokens.
func (p *Provider) tokenFamily(ctx context.Context, token string) (family, clientID string, ok bool, err error) {
	if hash, herr := p.refreshTokenHash(token); herr == nil {
		g, err := p.revocations.RefreshGrantByHash(ctx, hash)
		if errors.Is(err, storage.ErrNotFound) {
			return "", "", false, nil
		}
		if err != nil {
			return "", "", false, err
		}
		return g.FamilyID, g.ClientID, true, nil
	}
	claims, verr := p.parseAccessToken(token)
	if verr != nil {
		return "", "", false, nil
	}
	return claims.Family, claims.ClientID, true, nil
}

// revoke is the revocation endpoint (RFC 7009). Revoking any token of a
// family — a refresh token or an access token — revokes the family: every
// refresh token and access token of that grant stops working. Unknown
// tokens, and tokens of other clients (which are left alone), answer 200
// as well; a store failure answers 503, never 200.
func (p *Provider) revoke(w http.ResponseWriter, r *http.Request) {
	c, ok := p.authenticatedPost(w, r)
	if !ok {
		return
	}
	ctx, clientID := r.Context(), c.c.ID
	family, owner, found, err := p.tokenFamily(ctx, r.PostForm.Get("token"))
	if err == nil && found && owner == clientID && family != "" {
		err = p.revokeFamily(ctx, family)
		if err == nil {
			p.record(ctx, clientEvent(EventFamilyRevoked, clientID, "", family, "revocation"))
		}
	}
	if err != nil {
		p.storeError(w, r, "revoke", err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// introspection is RFC 7662's answer.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Expiry    int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	Audience  []string `json:"aud,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	JWTID     string   `json:"jti,omitempty"`
	Username  string   `json:"username,omitempty"`
	// ACR and AMR say how the token's user signed in, as in its ID token.
	ACR string   `json:"acr,omitempty"`
	AMR []string `json:"amr,omitempty"`
	// Cnf is a DPoP-bound token's key thumbprint (RFC 9449 §6.2).
	Cnf *confirmation `json:"cnf,omitempty"`
}

// introspect is the introspection endpoint (RFC 7662). Only confidential
// clients may call it, and each sees only tokens issued to itself: every
// other token — foreign, revoked, expired, garbage — answers exactly
// {"active":false}, saying nothing of why. A store failure answers 503.
func (p *Provider) introspect(w http.ResponseWriter, r *http.Request) {
	c, ok := p.authenticatedPost(w, r)
	if !ok {
		return
	}
	ctx, clientID := r.Context(), c.c.ID
	if c.public() {
		p.tokenError(w, r, oidc.ErrInvalidClient().WithDescription("introspection is for confidential clients"))
		return
	}
	resp, err := p.introspectToken(ctx, r.PostForm.Get("token"), clientID)
	if err != nil {
		p.storeError(w, r, "introspect", err)
		return
	}
	httphelper.MarshalJSON(w, resp)
}

var inactive = introspection{}

// boundRefresh is the cnf of a refresh token bound to jkt, nil if unbound.
func boundRefresh(jkt string) *confirmation {
	if jkt == "" {
		return nil
	}
	return &confirmation{JKT: jkt}
}

func (p *Provider) introspectToken(ctx context.Context, token, clientID string) (introspection, error) {
	now := p.cfg.Now()
	if hash, err := p.refreshTokenHash(token); err == nil {
		g, err := p.revocations.RefreshGrant(ctx, hash, now)
		if errors.Is(err, storage.ErrNotFound) {
			return inactive, nil
		}
		if err != nil {
			return inactive, err
		}
		if g.ClientID != clientID {
			return inactive, nil
		}
		u, err := p.activeUser(ctx, g.UserID)
		if err != nil || u == nil {
			return inactive, err
		}
		return introspection{
			Active: true, Scope: joinScopes(g.Scopes), ClientID: g.ClientID, Subject: g.UserID,
			Expiry: g.ExpiresAt.Unix(), IssuedAt: g.CreatedAt.Unix(), Issuer: p.cfg.Issuer,
			TokenType: "refresh_token", Username: u.Username, ACR: acrFor(g.AMR), AMR: g.AMR,
			Cnf: boundRefresh(g.DPoPJKT),
		}, nil
	}
	claims, err := p.parseAccessToken(token)
	if err != nil || claims.ClientID != clientID || len(claims.scopes()) == 0 {
		return inactive, nil
	}
	if fam := claims.Family; fam != "" {
		revoked, err := p.familyRevoked(ctx, fam)
		if err != nil || revoked {
			return inactive, err
		}
	}
	resp := introspection{
		Active: true, Scope: claims.Scope, ClientID: claims.ClientID, Subject: claims.Subject,
		Expiry: claims.Expiry, IssuedAt: claims.IssuedAt,
		Issuer: claims.Issuer, Audience: claims.Audience, TokenType: tokenType(claims.boundTo()), JWTID: claims.JWTID,
		ACR: claims.ACR, AMR: claims.AMR, Cnf: claims.Cnf,
	}
	if claims.GrantType == string(oidc.GrantTypeClientCredentials) {
		return resp, nil // the client's own token: no user to check
	}
	u, err := p.activeUser(ctx, claims.Subject)
	if err != nil || u == nil {
		return inactive, err
	}
	resp.Username = u.Username
	return resp, nil
}
