package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/audit"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// A client with allowed_groups (clients.yaml, storage.Client.AllowedGroups)
// admits only members of one of them. The check runs wherever a signed-in
// user is about to get a code or a refreshed token for the client: single
// sign-on at authorize, the callback after every kind of sign-in
// (password, second factor, passkey), the consent page's allow, and the
// refresh_token grant. The user's groups are read only for such a client.

// allowedStore is what the allowed_groups check asks of the store.
type allowedStore interface {
	UserGroups(ctx context.Context, userID string) ([]string, error)
	UserByID(ctx context.Context, id string) (*storage.User, error)
	DeleteAuthRequest(ctx context.Context, id string) error
}

// ReasonNotInAllowedGroups is the reason= of an EventAccessDenied: the user
// is in none of the client's allowed_groups.
const ReasonNotInAllowedGroups = "not_in_allowed_groups"

// allowedUser reports whether the user may use c: always for a client
// that names no allowed_groups, without asking the store (groups nil);
// otherwise when one of the user's groups, which it returns, is among
// them. A store error is returned as it is, never as a refusal.
func (p *Provider) allowedUser(ctx context.Context, c *client, userID string) (groups []string, ok bool, err error) {
	if len(c.c.AllowedGroups) == 0 {
		return nil, true, nil
	}
	groups, err = p.allowed.UserGroups(ctx, userID)
	if err != nil {
		return nil, false, err
	}
	if groups == nil {
		groups = []string{} // read, and a member of none
	}
	ok = slices.ContainsFunc(groups, func(g string) bool { return slices.Contains(c.c.AllowedGroups, g) })
	return groups, ok, nil
}

// tokenGroups is what a grant asks before it issues tokens to user
// userID for client c and scopes: whether c admits the user
// (allowedUser), and the groups claim: the groups read for that check
// when there was one, else read only when the groups scope is granted
// (nil without it). A store error is returned as it is.
func (p *Provider) tokenGroups(ctx context.Context, c *client, userID string, scopes []string) (groups []string, allowed bool, err error) {
	memberOf, allowed, err := p.allowedUser(ctx, c, userID)
	switch {
	case err != nil || !allowed:
		return nil, allowed, err
	case !slices.Contains(scopes, ScopeGroups):
		return nil, true, nil
	case memberOf != nil:
		return memberOf, true, nil
	}
	groups, err = p.userGroups(ctx, userID, scopes)
	return groups, true, err
}

// accessDenied is the error response of a refused user.
func accessDenied() *oidc.Error {
	return oidc.ErrAccessDenied().WithDescription("the user may not use this application")
}

// refuseSignIn answers ar, the authorization request of the signed-in
// user userID (their session sessionID), whom its client c does not admit
// (allowedUser). The request is deleted when it was stored, so nothing
// can complete it later; the refusal is audited (EventAccessDenied); under
// prompt=none the client gets access_denied at once; otherwise the browser
// gets a page saying the account may not use the application, whose
// button takes it back with access_denied (state and iss, in the
// request's response mode). The session stays: the user is signed in to
// Gatehouse, only not to this application. user, when the caller has it,
// names the account on the page; otherwise it is read, and a failed read
// only leaves the name out.
func (p *Provider) refuseSignIn(w http.ResponseWriter, r *http.Request, c *client, ar *storage.AuthRequest, userID, sessionID string, user *storage.User, stored bool) {
	ctx := r.Context()
	if stored {
		if err := p.allowed.DeleteAuthRequest(ctx, ar.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			p.unavailable(w, r, "refuse sign-in: delete request", err)
			return
		}
	}
	p.record(ctx, storage.AuditEvent{Kind: EventAccessDenied, Actor: audit.ActorUser, UserID: userID, ClientID: c.c.ID,
		SessionID: sessionID, IP: p.ui.ClientIP(r), Detail: "reason=" + ReasonNotInAllowedGroups})

	mode := oidc.ResponseMode(ar.ResponseMode)
	if slices.Contains(ar.Prompt, oidc.PromptNone) {
		p.authorizeError(w, r, ar.RedirectURI, mode, ar.State, accessDenied())
		return
	}
	e := accessDenied()
	resp := errorResponse{Error: string(e.ErrorType), Description: e.Description, State: ar.State, Issuer: p.cfg.Issuer}
	page := loginui.AccessDenied{ClientName: c.c.Name, RedirectURI: ar.RedirectURI, FormPost: mode == oidc.ResponseModeFormPost}
	if user == nil {
		if u, err := p.allowed.UserByID(ctx, userID); err == nil {
			user = u
		} else {
			p.log.WarnContext(ctx, "refuse sign-in: load user for the page", "err", err)
		}
	}
	if user != nil {
		page.Username = user.Username
	}
	if page.FormPost {
		page.Params = url.Values{}
		if err := p.op.Encoder().Encode(resp, page.Params); err != nil {
			p.unavailable(w, r, "refuse sign-in: encode the response", err)
			return
		}
	} else {
		back, err := op.AuthResponseURL(ar.RedirectURI, oidc.ResponseTypeCode, oidc.ResponseModeQuery, resp, p.op.Encoder())
		if err != nil {
			p.unavailable(w, r, "refuse sign-in: build the link back", err)
			return
		}
		page.BackURL = back
	}
	p.ui.RenderAccessDenied(ctx, w, page)
}
