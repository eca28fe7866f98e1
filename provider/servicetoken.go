package provider

import (
	"context"
	"errors"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/storage"
)

// ServiceToken returns the client id and scopes of a live
// client_credentials access token issued by this provider (at+jwt or
// opaque, verified as userinfo and introspection verify them), for APIs
// of Gatehouse's own such as the admin API. Its scopes are those of the
// token that the client is still registered for: a scope taken from the
// client in clients.yaml stops working within the client cache's 5
// seconds, not when the token expires. A token Gatehouse did not issue, an expired one, one issued to
// a user (authorization code or refresh), or one whose client is gone or
// disabled yields "" and no error; err is only ever the store's. So does a
// DPoP-bound token: the admin API takes bearer tokens only, and a bound
// token presented as a bearer token is refused (RFC 9449 §7.2).
func (p *Provider) ServiceToken(ctx context.Context, token string) (clientID string, scopes []string, err error) {
	claims, err := p.parseAccessToken(token)
	if err != nil || claims.GrantType != string(oidc.GrantTypeClientCredentials) || claims.Subject != claims.ClientID || claims.boundTo() != "" {
		return "", nil, nil
	}
	c, err := p.clients.get(ctx, claims.ClientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "", nil, nil
	case err != nil:
		return "", nil, err
	case !c.hasGrant(string(oidc.GrantTypeClientCredentials)):
		return "", nil, nil
	}
	scopes = slices.DeleteFunc(claims.scopes(), func(s string) bool { return !c.IsScopeAllowed(s) })
	if len(scopes) == 0 {
		return "", nil, nil
	}
	return c.c.ID, scopes, nil
}
