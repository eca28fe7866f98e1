package provider

import (
	"errors"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-idp/gatehouse/clientpolicy"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
)

const endSessionPath = "/end_session"

// endSession is RP-initiated logout (OpenID RP-Initiated Logout 1.0), GET
// and POST. op validates the id_token_hint (expired accepted, forged
// refused), that client_id matches it, and the registered
// post_logout_redirect_uri (state is passed on). A request that cannot be
// tied to the current session — no hint, or a hint for another user —
// never ends it silently: the user gets a page with a sign-out button that
// posts the request back with confirm=yes and a CSRF token. Ending the
// session queues back-channel logout notices for every application signed
// in through it, and the signed-out page loads their front-channel logout
// URLs before sending the browser on.
func (p *Provider) endSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBytes)
	if err := r.ParseForm(); err != nil {
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Invalid sign-out request",
			"The application sent a sign-out request Gatehouse cannot read.", "invalid_request")
		return
	}
	for _, name := range []string{"id_token_hint", "client_id", "post_logout_redirect_uri", "state", "logout_hint", "ui_locales", "confirm", "csrf_token"} {
		if len(r.Form[name]) > 1 || len(r.Form.Get(name)) > maxParamBytes {
			p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Invalid sign-out request",
				"The application sent a sign-out request Gatehouse cannot read.", "invalid_request")
			return
		}
	}
	req, err := op.ParseEndSessionRequest(r, p.op.Decoder())
	if err != nil {
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Invalid sign-out request",
			"The application sent a sign-out request Gatehouse cannot read.", "invalid_request")
		return
	}
	v, err := op.ValidateEndSessionRequest(ctx, req, p.op)
	if err != nil {
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Invalid sign-out request",
			"The application's sign-out request is not valid, so Gatehouse will not send you anywhere.", "invalid_request")
		return
	}
	appName := ""
	if v.ClientID != "" {
		c, err := p.clients.get(ctx, v.ClientID)
		if err == nil {
			appName = c.c.Name
		}
		if req.PostLogoutRedirectURI != "" && (err != nil || !clientpolicy.PostLogoutRedirectAllowed(c.c, req.PostLogoutRedirectURI)) {
			p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Invalid sign-out request",
				"The application's sign-out request is not valid, so Gatehouse will not send you anywhere.", "invalid_request")
			return
		}
	}
	redirect := v.RedirectURI
	if redirect == signedOutPath {
		redirect = ""
	}
	confirmed := r.Method == http.MethodPost && r.PostForm.Get("confirm") == "yes" &&
		p.ui.ValidFormToken(r, "endsession", "", r.PostForm.Get("csrf_token"))
	_, user, err := p.ui.CurrentSession(ctx, r)
	switch {
	case errors.Is(err, loginui.ErrNoSession):
		// Nothing to end: already signed out.
		p.ui.SignedOut(ctx, w, nil, redirect, appName)
		return
	case err != nil:
		p.unavailable(w, r, "end_session: session lookup", err)
		return
	case !confirmed && (v.UserID == "" || v.UserID != user.ID):
		p.ui.ConfirmSignOut(ctx, w, r, endSessionPath, r.Form, appName)
		return
	}
	ended, err := p.ui.EndCurrentSession(ctx, w, r)
	if err != nil {
		p.unavailable(w, r, "end_session: end session", err)
		return
	}
	p.ui.SignedOut(ctx, w, ended, redirect, appName)
}
