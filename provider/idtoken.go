package provider

import (
	"cmp"
	"encoding/json"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// idTokenInput is what an ID token says (OIDC Core §2): who signed in, for
// which client, when and how, and the claims the granted scopes ask for.
// The code and refresh grants fill it from the request or grant they just
// checked, and the user they read with it.
type idTokenInput struct {
	user      *storage.User
	audience  []string
	scopes    []string
	authTime  time.Time
	amr       []string
	nonce     string   // of the authorization request; none on a refresh
	sessionID string   // the sid claim (OpenID Back-Channel Logout §2.1)
	groups    []string // the groups claim, for the groups scope (userGroups)
}

// idToken signs the ID token of a token response for client c: the
// protocol claims (op's oidc.NewIDTokenClaims), the user's claims for the
// granted scopes, at_hash of the access token issued with it, c_hash of
// the code it answers (empty for a refresh), signed with c's algorithm
// (signingAlgFor).
func (p *Provider) idToken(in idTokenInput, c *client, accessToken, code string) (string, error) {
	alg := p.signingAlgFor(c)
	now := p.cfg.Now()
	claims := oidc.NewIDTokenClaims(p.cfg.Issuer, in.user.ID, in.audience, now.Add(c.IDTokenLifetime()),
		in.authTime, in.nonce, acrFor(in.amr), in.amr, c.c.ID, 0)
	claims.IssuedAt = oidc.FromTime(now)
	if len(in.scopes) > 0 {
		info := new(oidc.UserInfo)
		setUserClaims(info, in.user, in.scopes, in.groups)
		if in.sessionID != "" {
			info.AppendClaims("sid", in.sessionID)
		}
		claims.SetUserInfo(info)
	}
	var err error
	if accessToken != "" {
		if claims.AccessTokenHash, err = oidc.ClaimHash(accessToken, jose.SignatureAlgorithm(alg)); err != nil {
			return "", err
		}
	}
	if code != "" {
		if claims.CodeHash, err = oidc.ClaimHash(code, jose.SignatureAlgorithm(alg)); err != nil {
			return "", err
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return p.signJWS(alg, "JWT", payload)
}

// signingAlgFor is the JWS algorithm of the tokens issued to c: its
// registered id_token_signed_response_alg, else Config.SigningAlg. A client
// whose algorithm has no active key gets an error from signJWS, never a
// token signed with another algorithm.
func (p *Provider) signingAlgFor(c *client) string {
	return cmp.Or(c.c.IDTokenSignedResponseAlg, p.cfg.SigningAlg)
}
