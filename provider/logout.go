package provider

import (
	"errors"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/op"

	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
)

const endSessionPath = "/end_session"

// endSession is RP-initiated logout (GET and POST). op validates the
// id_token_hint (expired accepted, forged refused) and the registered
// post_logout_redirect_uri. A request that cannot be tied to the current
// session — no hint, or a hint for another user — never ends it silently:
// the user gets a page with a sign-out button instead, and no redirect.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBytes)
	req, err := op.ParseEndSessionRequest(r, p.op.Decoder())
	if err != nil {
		p.ui.RenderError(w, http.StatusBadRequest, "Invalid sign-out request",
			"The application sent a sign-out request Gatehouse cannot read.", "invalid_request")
		return
	}
	v, err := op.ValidateEndSessionRequest(ctx, req, p.op)
	if err != nil {
		p.ui.RenderError(w, http.StatusBadRequest, "Invalid sign-out request",
			"The application's sign-out request is not valid, so Gatehouse will not send you anywhere.", "invalid_request")
		return
	}
	_, user, err := p.ui.CurrentSession(ctx, r)
	switch {
	case errors.Is(err, loginui.ErrNoSession):
		// Nothing to end.
	case err != nil:
		p.unavailable(w, r, "end_session: session lookup", err)
		return
	case v.UserID == "" || v.UserID != user.ID:
		p.ui.ConfirmSignOut(w, r)
		return
	default:
		if err := p.ui.EndSession(ctx, w, r); err != nil {
			p.unavailable(w, r, "end_session: delete session", err)
			return
		}
	}
	if v.RedirectURI == signedOutPath || v.RedirectURI == "" {
		p.ui.SignedOut(w)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, v.RedirectURI, http.StatusFound)
}
