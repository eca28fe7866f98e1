package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-idp/gatehouse/audit"
	loginui "github.com/gatehouse-idp/gatehouse/login-ui"
	"github.com/gatehouse-idp/gatehouse/storage"
)

// consentStore is what the consent flow asks of the store.
type consentStore interface {
	Consent(ctx context.Context, userID, clientID string) (*storage.Consent, error)
	SaveConsent(ctx context.Context, c *storage.Consent) error
	DeleteAuthRequest(ctx context.Context, id string) error
}

const consentPath = "/consent"

func consentURL(id string) string { return consentPath + "?id=" + url.QueryEscape(id) }

// needsConsent reports whether the user must be asked before the client
// gets scopes: always under prompt=consent, never for a first-party client
// (skip_consent), otherwise unless the user's remembered consent covers
// every scope. A native app's remembered consent is never reused: any app
// on the device can claim its redirect URI, so nothing proves the request
// comes from the app the user approved (RFC 8252 §8.6).
func (p *Provider) needsConsent(ctx context.Context, c *client, userID string, scopes, prompt []string) (bool, error) {
	if slices.Contains(prompt, oidc.PromptConsent) {
		return true, nil
	}
	if c.c.SkipConsent {
		return false, nil
	}
	if c.c.ApplicationType == "native" {
		return true, nil
	}
	got, err := p.consents.Consent(ctx, userID, c.c.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	for _, s := range scopes {
		if !slices.Contains(got.Scopes, s) {
			return true, nil
		}
	}
	return false, nil
}

// consentPage shows the consent page of a completed auth request.
func (p *Provider) consentPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	ar, ok := p.completedRequest(w, r, id)
	if !ok {
		return
	}
	c, _, user, ok := p.consentParties(w, r, ar)
	if !ok {
		return
	}
	p.ui.RenderConsent(w, r, loginui.ConsentPage{
		ID: ar.ID, ClientName: c.c.Name, Username: user.Username, Scopes: ar.Scopes, Action: consentPath,
	})
}

// consent takes the user's answer. Allow records the consent and issues
// the code (unless the client no longer admits the user: refuseSignIn);
// deny sends access_denied back to the client. Either way the
// request is finished: its code is single-use, and a denied request is
// deleted.
func (p *Provider) consent(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenBytes)
	if err := r.ParseForm(); err != nil {
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Bad request", "The form could not be read.", "")
		return
	}
	id := r.PostForm.Get("id")
	if !p.ui.ValidFormToken(r, "consent", id, r.PostForm.Get("csrf_token")) {
		p.ui.RenderError(r.Context(), w, http.StatusForbidden, "Form expired",
			"This form is no longer valid. Go back to the application and start again.", "")
		return
	}
	ar, ok := p.completedRequest(w, r, id)
	if !ok {
		return
	}
	c, session, user, ok := p.consentParties(w, r, ar)
	if !ok {
		return
	}
	ctx := r.Context()
	switch r.PostForm.Get("decision") {
	case "allow":
		// The user's groups may have changed since the callback.
		if _, ok, err := p.allowedUser(ctx, c, user.ID); err != nil {
			p.unavailable(w, r, "consent: groups lookup", err)
			return
		} else if !ok {
			p.refuseSignIn(w, r, c, ar, user.ID, ar.SessionID, user, true)
			return
		}
		now := p.cfg.Now()
		if err := p.consents.SaveConsent(ctx, &storage.Consent{
			UserID: user.ID, ClientID: c.c.ID, Scopes: ar.Scopes, CreatedAt: now, UpdatedAt: now,
		}); err != nil {
			p.unavailable(w, r, "consent: save", err)
			return
		}
		p.record(ctx, storage.AuditEvent{Kind: loginui.EventConsentGranted, Actor: audit.ActorUser, UserID: user.ID,
			ClientID: c.c.ID, SessionID: ar.SessionID, IP: p.ui.ClientIP(r), Detail: joinScopes(ar.Scopes)})
		// Allowed, the app joins the session (its logout notices, the
		// account page) before it gets its code.
		switch err := p.ui.RecordUse(ctx, r, session, c.c.ID); {
		case errors.Is(err, loginui.ErrNoSession):
			p.ui.RenderError(ctx, w, http.StatusForbidden, "You are signed out",
				"Your session ended before you answered. Go back to the application and start again.", "")
			return
		case err != nil:
			p.unavailable(w, r, "consent: session update", err)
			return
		}
		p.respondCode(w, r, ar)
	case "deny":
		if err := p.consents.DeleteAuthRequest(ctx, ar.ID); err != nil {
			p.unavailable(w, r, "consent: delete request", err)
			return
		}
		p.authorizeError(w, r, ar.RedirectURI, oidc.ResponseMode(ar.ResponseMode), ar.State,
			oidc.ErrAccessDenied().WithDescription("the user denied the request"))
	default:
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Bad request", "The form did not say whether to allow access.", "")
	}
}

// consentParties loads the client, the browser's session and the
// signed-in user of a consent.
func (p *Provider) consentParties(w http.ResponseWriter, r *http.Request, ar *storage.AuthRequest) (*client, *storage.Session, *storage.User, bool) {
	c, err := p.clients.get(r.Context(), ar.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		p.ui.RenderError(r.Context(), w, http.StatusBadRequest, "Unknown application",
			"The application that sent you here is no longer registered.", "invalid_client")
		return nil, nil, nil, false
	}
	if err != nil {
		p.unavailable(w, r, "consent: load client", err)
		return nil, nil, nil, false
	}
	session, user, err := p.ui.CurrentSession(r.Context(), r)
	if errors.Is(err, loginui.ErrNoSession) || (err == nil && user.ID != ar.UserID) {
		p.ui.RenderError(r.Context(), w, http.StatusForbidden, "Sign-in started elsewhere",
			"You are no longer signed in as the user of this request. Go back to the application and start again.", "")
		return nil, nil, nil, false
	}
	if err != nil {
		p.unavailable(w, r, "consent: session", err)
		return nil, nil, nil, false
	}
	return c, session, user, true
}

// joinLater is the login UI's JoinLater (loginui.Config): whether the
// client of ar must not join the session of the user signing in for it,
// because the user must still allow it (needsConsent) or may not use it
// at all (allowedUser; the callback refuses them).
func (p *Provider) joinLater(ctx context.Context, ar *storage.AuthRequest, userID string) (bool, error) {
	c, err := p.clients.get(ctx, ar.ClientID)
	if errors.Is(err, storage.ErrNotFound) {
		return true, nil // gone: it joins nothing; the callback says so
	}
	if err != nil {
		return false, err
	}
	if _, ok, err := p.allowedUser(ctx, c, userID); err != nil || !ok {
		return true, err
	}
	return p.needsConsent(ctx, c, userID, ar.Scopes, ar.Prompt)
}
