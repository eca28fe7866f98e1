package provider

import (
	"net/http"
	"slices"
	"strings"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// clientCredentialsGrant answers a client_credentials grant (RFC 6749
// §4.4) by the authenticated client c, which acts for itself: it is the
// token's subject and audience. Nothing is stored; the event is recorded.
// With jkt (a DPoP key's thumbprint) the access token is bound to that key.
func (p *Provider) clientCredentialsGrant(w http.ResponseWriter, r *http.Request, c *client, jkt string) {
	if c.public() {
		p.tokenError(w, r, oidc.ErrInvalidClient().WithDescription("a public client cannot use the client_credentials grant"))
		return
	}
	if !c.hasGrant(string(oidc.GrantTypeClientCredentials)) {
		p.tokenError(w, r, oidc.ErrUnauthorizedClient().WithDescription("the client is not registered for the client_credentials grant"))
		return
	}

	// The requested scopes the client is registered for (its clients.yaml
	// scope), and no others: OpenID scopes mean nothing without a user.
	// No scope asks for all of them.
	requested := strings.Fields(r.PostForm.Get("scope"))
	granted := slices.DeleteFunc(slices.Clone(requested), func(sc string) bool { return !c.IsScopeAllowed(sc) })
	if len(requested) == 0 {
		granted = slices.Clone(c.c.Scopes)
	} else if len(granted) == 0 {
		p.tokenError(w, r, oidc.ErrInvalidScope().WithDescription("none of the requested scopes is registered for this client"))
		return
	}
	granted = slices.Compact(granted)

	access, exp, err := p.accessToken(c, accessGrant{
		subject: c.c.ID, audience: []string{c.c.ID}, scopes: granted,
		grantType: string(oidc.GrantTypeClientCredentials), jkt: jkt,
	})
	if err != nil {
		p.serverError(w, r, "token: access token", err)
		return
	}
	p.record(r.Context(), tokenIssued(c.c.ID, "", "", string(oidc.GrantTypeClientCredentials)))
	httphelper.MarshalJSON(w, &oidc.AccessTokenResponse{
		AccessToken: access,
		TokenType:   tokenType(jkt),
		ExpiresIn:   expiresIn(exp, p.cfg.Now()),
		Scope:       granted,
	})
}
